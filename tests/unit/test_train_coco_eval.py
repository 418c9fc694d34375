"""svmlp.train.coco_eval against the real pycocotools: known answers from labels fed back as predictions."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import svmlp
from svmlp.errors import UsageError
from svmlp.model import Dataset
from svmlp.synth import generate_annotations

pytest.importorskip("pycocotools")

from svmlp.train.coco_eval import (  # noqa: E402
    METRIC_KEYS,
    PER_CLASS_KEYS,
    EvalResult,
    evaluate_predictions,
    predictions_to_coco,
)


@pytest.fixture(scope="module")
def synth() -> Dataset:
    ds = generate_annotations(80, seed=3)
    assert {c.name: c.id for c in ds.categories} == {"vehicle": 1, "plate": 2}
    assert len(ds.splits) > 1 and len(np.unique(ds.images.id)) == len(ds.images)
    return ds


def gt_as_predictions(ds: Dataset, score: float = 1.0) -> list[dict]:
    """Every labelled, non-crowd box as a COCO result."""
    b, im = ds.boxes, ds.images
    out = []
    for r in np.flatnonzero(~b.iscrowd & im.labelled[b.image]).tolist():
        x0, y0, x1, y1 = b.xyxy[r].tolist()
        out.append(
            {
                "image_id": int(im.id[b.image[r]]),
                "category_id": ds.categories[int(b.category[r])].id,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "score": score,
            }
        )
    return out


def renumbered_per_split(ds: Dataset) -> Dataset:
    """The same data set with image ids 1, 2, ... restarting in every split (as Roboflow exports)."""
    ids = np.zeros(len(ds.images), dtype=np.int64)
    for s in ds.splits:
        rows = np.flatnonzero(ds.images.split == s)
        ids[rows] = np.arange(1, len(rows) + 1)
    return ds.replace(images=dataclasses.replace(ds.images, id=ids))


# -- known answers --------------------------------------------------------------------------------


def test_ground_truth_as_predictions_scores_one(synth: Dataset) -> None:
    res = evaluate_predictions(synth, gt_as_predictions(synth))
    assert isinstance(res, EvalResult)
    assert list(res.metrics) == list(METRIC_KEYS)
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.metrics["AP50"] == pytest.approx(1.0)
    assert res.metrics["AP75"] == pytest.approx(1.0)
    assert res.metrics["AR100"] == pytest.approx(1.0)
    assert set(res.per_class) == {"vehicle", "plate"}
    for name in ("vehicle", "plate"):
        assert set(res.per_class[name]) == set(PER_CLASS_KEYS)
        assert res.per_class[name]["AP"] == pytest.approx(1.0)
        assert res.per_class[name]["AP50"] == pytest.approx(1.0)
        cat = synth.category_index(name)
        assert res.per_class[name]["gt"] == int((synth.boxes.category == cat).sum()) > 0
    assert res.images == len(synth.images)
    assert res.predictions == len(synth.boxes)
    assert res.notes == []


def test_far_off_predictions_score_zero(synth: Dataset) -> None:
    preds = gt_as_predictions(synth)
    for p in preds:
        p["bbox"] = [p["bbox"][0] + 5000, p["bbox"][1] + 5000, *p["bbox"][2:]]
    res = evaluate_predictions(synth, preds)
    assert res.metrics["AP"] == 0.0
    assert res.metrics["AP50"] == 0.0
    assert res.metrics["AR100"] == 0.0
    assert res.per_class["vehicle"]["AP"] == 0.0
    assert res.per_class["plate"]["AP"] == 0.0


def test_half_the_plates_missing_halves_plate_ap(synth: Dataset) -> None:
    preds = gt_as_predictions(synth)
    plates = [p for p in preds if p["category_id"] == 2]
    kept = [p for p in preds if p["category_id"] != 2] + plates[::2]
    res = evaluate_predictions(synth, kept)
    vehicle, plate = res.per_class["vehicle"]["AP"], res.per_class["plate"]["AP"]
    assert vehicle == pytest.approx(1.0)
    assert plate < vehicle
    assert plate == pytest.approx(0.5, abs=0.05)  # precision 1 up to recall 0.5, nothing after
    assert res.metrics["AR100"] == pytest.approx(0.75, abs=0.05)


def test_jittered_predictions_score_between(synth: Dataset) -> None:
    rng = np.random.default_rng(0)
    preds = gt_as_predictions(synth)
    for p in preds:
        x, y, w, h = p["bbox"]
        p["bbox"] = [x + rng.normal(0, 0.1 * w), y + rng.normal(0, 0.1 * h), w, h]
        p["score"] = float(rng.uniform())
    res = evaluate_predictions(synth, preds)
    assert 0.0 < res.metrics["AP"] < res.metrics["AP50"] <= 1.0
    assert 0.0 < res.metrics["AP75"] < 1.0


# -- splits and labelled images -------------------------------------------------------------------


def test_repeated_ids_across_splits_need_a_split(synth: Dataset) -> None:
    ds = renumbered_per_split(synth)
    assert len(np.unique(ds.images.id)) < len(ds.images)
    with pytest.raises(UsageError, match="pass split="):
        evaluate_predictions(ds, gt_as_predictions(ds.split("val")))
    res = evaluate_predictions(ds, gt_as_predictions(ds.split("val")), split="val")
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.images == int((ds.images.split == "val").sum())
    # the val predictions, read as test predictions, land on other images
    other = evaluate_predictions(ds, gt_as_predictions(ds.split("val")), split="test")
    assert other.metrics["AP"] < 0.5


def test_unknown_split_lists_the_splits(synth: Dataset) -> None:
    with pytest.raises(UsageError, match="'nope'.*train, val, test"):
        evaluate_predictions(synth, [], split="nope")


def test_unlabelled_images_left_out() -> None:
    ds = generate_annotations(80, seed=5, unlabelled=0.25)
    labelled = ds.images.labelled
    assert 0 < int((~labelled).sum()) < len(labelled)
    preds = gt_as_predictions(ds)
    spurious = [
        {"image_id": int(i), "category_id": 1, "bbox": [5.0, 5.0, 50.0, 50.0], "score": 0.99}
        for i in ds.images.id[~labelled].tolist()
    ]
    res = evaluate_predictions(ds, preds + spurious)
    assert res.metrics["AP"] == pytest.approx(1.0)  # the spurious ones would be false positives
    assert res.images == int(labelled.sum())
    assert res.predictions == len(preds)
    assert any(f"{len(spurious)} prediction(s) on unlabelled images" in n for n in res.notes)


def test_crowd_boxes_are_kept_as_crowd(synth: Dataset) -> None:
    b = synth.boxes
    crowd = np.zeros(len(b), dtype=bool)
    crowd[np.flatnonzero(b.category == synth.category_index("vehicle"))[::3]] = True
    ds = synth.replace(boxes=dataclasses.replace(b, iscrowd=crowd))
    preds = gt_as_predictions(ds)
    # a prediction on a crowd region is neither a hit nor a false positive
    extra = [
        {
            "image_id": int(ds.images.id[b.image[r]]),
            "category_id": 1,
            "bbox": list(_xywh(b.xyxy[r])),
            "score": 0.5,
        }
        for r in np.flatnonzero(crowd).tolist()
    ]
    res = evaluate_predictions(ds, preds + extra)
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.per_class["vehicle"]["gt"] == int(
        (b.category == synth.category_index("vehicle")).sum() - crowd.sum()
    )
    # were they ordinary boxes, leaving them unpredicted would cost recall
    plain = evaluate_predictions(synth, preds)
    assert plain.per_class["vehicle"]["AP"] < 1.0


def _xywh(xyxy: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return x0, y0, x1 - x0, y1 - y0


def test_model_area_used_when_given_else_box_area(synth: Dataset) -> None:
    preds = gt_as_predictions(synth)
    derived = evaluate_predictions(synth, preds)
    assert np.isnan(synth.boxes.area).all()
    assert derived.metrics["APs"] == pytest.approx(1.0)  # plates are small boxes
    assert derived.per_class["plate"]["APs"] == pytest.approx(1.0)
    big = synth.replace(boxes=dataclasses.replace(synth.boxes, area=np.full(len(synth.boxes), 1e6)))
    res = evaluate_predictions(big, preds)
    assert res.metrics["APs"] is None and res.metrics["APm"] is None  # no small/medium ground truth
    assert res.metrics["APl"] == pytest.approx(1.0)
    assert res.per_class["plate"]["APs"] is None


# -- bad and odd predictions ----------------------------------------------------------------------


def test_unknown_category_is_an_error(synth: Dataset) -> None:
    preds = gt_as_predictions(synth)
    preds[3]["category_id"] = 99
    with pytest.raises(UsageError, match=r"category_id 99 .*1=vehicle, 2=plate"):
        evaluate_predictions(synth, preds)


def test_unknown_images_ignored_with_a_note(synth: Dataset) -> None:
    preds = gt_as_predictions(synth)
    stray = [
        {"image_id": 10**6 + k, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9} for k in range(3)
    ]
    res = evaluate_predictions(synth, preds + stray)
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.predictions == len(preds)
    assert any("3 prediction(s) name images not in the data set" in n for n in res.notes)


def test_empty_predictions_score_zero(synth: Dataset) -> None:
    for preds in ([], [{"image_id": 10**6, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 1.0}]):
        res = evaluate_predictions(synth, preds)
        assert res.predictions == 0
        assert res.metrics["AP"] == 0.0 and res.metrics["AP50"] == 0.0 and res.metrics["AR100"] == 0.0
        assert all(v in (0.0, None) for v in res.metrics.values())
        assert res.per_class["plate"]["AP"] == 0.0 and res.per_class["vehicle"]["AP"] == 0.0
        assert any("no predictions" in n for n in res.notes)


def test_file_and_list_give_the_same_numbers(synth: Dataset, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    preds = gt_as_predictions(synth)
    for p in preds:
        p["bbox"] = [v + float(rng.normal(0, 2)) for v in p["bbox"]]
        p["score"] = float(rng.uniform())
    path = tmp_path / "results.json"
    path.write_text(json.dumps(preds))
    from_file = evaluate_predictions(synth, path)
    from_list = evaluate_predictions(synth, preds)
    assert 0.0 < from_file.metrics["AP"] < 1.0
    assert from_file.to_dict() == from_list.to_dict()
    assert evaluate_predictions(synth, str(path)).metrics == from_file.metrics
    # the result is JSON and prints as a table with a row per class
    assert json.loads(json.dumps(from_file.to_dict()))["per_class"]["plate"]["gt"] > 0
    table = from_file.table()
    assert "vehicle" in table and "plate" in table and "AP50" in table
    assert f"{from_file.metrics['AP']:.3f}" in table


def test_bad_predictions_are_usage_errors(synth: Dataset, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"predictions\[0\] has no 'score'"):
        evaluate_predictions(synth, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(UsageError, match="bbox has 3 values"):
        evaluate_predictions(synth, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1}])
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 1, "category_id": 1, "bbox": "x", "score": 1}]')
    with pytest.raises(UsageError, match=r"bad\.json at \$\[0\]\.bbox"):
        evaluate_predictions(synth, bad)
    with pytest.raises(UsageError, match="cannot read"):
        evaluate_predictions(synth, tmp_path / "missing.json")
    with pytest.raises(UsageError, match="segm"):
        evaluate_predictions(synth, [], iou_type="segm")


# -- predictions_to_coco --------------------------------------------------------------------------


def test_predictions_to_coco_converts_and_rounds() -> None:
    boxes = np.array([[10.0, 20.0, 40.5, 60.25], [1.23456, 2.0, 3.0, 4.98765]])
    out = predictions_to_coco(boxes, np.array([0.123456789, 1.0]), np.array([1, 0]), np.array([7, 8]), [5, 9])
    assert out == [
        {"image_id": 7, "category_id": 9, "bbox": [10.0, 20.0, 30.5, 40.25], "score": 0.12346},
        {"image_id": 8, "category_id": 5, "bbox": [1.235, 2.0, 1.765, 2.988], "score": 1.0},
    ]
    assert all(type(v) in (int, float, list) for d in out for v in d.values())
    json.dumps(out)
    # one image id for every box; anything with .ids (a LabelMap) as the category map
    label_map = type("LM", (), {"ids": (3, 4)})()
    one = predictions_to_coco(boxes[:1], [0.5], [1], 42, label_map)
    assert one[0]["image_id"] == 42 and one[0]["category_id"] == 4
    assert predictions_to_coco(np.zeros((0, 4)), [], [], [], [1]) == []
    with pytest.raises(UsageError, match="label 2 has no category id"):
        predictions_to_coco(boxes, [0.5, 0.5], [0, 2], [1, 1], [5, 9])
    with pytest.raises(UsageError, match="2 boxes but 1 scores"):
        predictions_to_coco(boxes, [0.5], [0, 1], [1, 1], [5, 9])


def test_predictions_to_coco_round_trips_through_evaluation(synth: Dataset) -> None:
    b, im = synth.boxes, synth.images
    cat_ids = [c.id for c in synth.categories]
    preds = predictions_to_coco(b.xyxy, np.ones(len(b)), b.category, im.id[b.image], cat_ids)
    back = np.array([p["bbox"] for p in preds])
    np.testing.assert_allclose(back[:, :2], b.xyxy[:, :2], atol=5e-4)
    np.testing.assert_allclose(back[:, :2] + back[:, 2:], b.xyxy[:, 2:], atol=1e-3)
    assert [p["category_id"] for p in preds] == [cat_ids[k] for k in b.category.tolist()]
    assert evaluate_predictions(synth, preds).metrics["AP"] == pytest.approx(1.0)


def test_predictions_to_coco_takes_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    boxes = torch.tensor([[10.0, 20.0, 40.5, 60.25]], requires_grad=True)
    out = predictions_to_coco(boxes, torch.tensor([0.75]), torch.tensor([0]), torch.tensor(3), (2,))
    assert out == [{"image_id": 3, "category_id": 2, "bbox": [10.0, 20.0, 30.5, 40.25], "score": 0.75}]


# -- the optional dependency and the real data set ------------------------------------------------


def test_module_imports_without_pycocotools() -> None:
    code = (
        "import sys; sys.modules['pycocotools'] = None\n"
        "import svmlp.train.coco_eval as m\n"
        "from svmlp.synth import generate_annotations\n"
        "try:\n"
        "    m.evaluate_predictions(generate_annotations(3), [])\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ExtraRequiredError") and "svmlp[train]" in out


def test_real_test_split_ground_truth_scores_one(plates_dir: Path) -> None:
    ds = svmlp.read(plates_dir)
    test = ds.split("test")
    res = evaluate_predictions(ds, gt_as_predictions(test), split="test")
    assert res.images == len(test.images) > 0
    assert res.predictions == len(test.boxes)
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.metrics["AP50"] == pytest.approx(1.0)
    for c in ds.categories:
        assert res.per_class[c.name]["AP"] == pytest.approx(1.0)
        assert res.per_class[c.name]["gt"] == int((test.boxes.category == ds.category_index(c.id)).sum())
