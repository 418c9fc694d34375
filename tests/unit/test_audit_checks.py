"""Each audit check on a data set built to have exactly that flaw (and the clean case)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp.audit import AuditConfig, audit, load_config, run_audit
from svmlp.model import BoxTable, Category, Dataset, ImageTable
from svmlp.model.predictions import Predictions, load_predictions

CATS = [Category(1, "vehicle", role="parent"), Category(2, "plate", role="child")]


def _write_images(root: Path, names: list[str], size: tuple[int, int] = (200, 100)) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
            root / name, quality=90
        )


def _ds(
    tmp: Path,
    boxes: list[tuple[int, int, list[float], int]],
    *,
    n: int = 2,
    split: list[str] | None = None,
    images: bool = True,
    **image_cols: object,
) -> Dataset:
    """Images im0..im{n-1}.jpg (200x100); boxes as (image, category row, xyxy, parent row)."""
    names = [f"im{i}.jpg" for i in range(n)]
    if images:
        _write_images(tmp, names)
    im = ImageTable.build(
        id=list(range(1, n + 1)),
        file_name=names,
        split=split or ["train"] * n,
        width=[200] * n,
        height=[100] * n,
        **image_cols,
    )
    bt = BoxTable.build(
        id=list(range(1, len(boxes) + 1)),
        image=[b[0] for b in boxes],
        category=[b[1] for b in boxes],
        xyxy=np.array([b[2] for b in boxes], dtype=float).reshape(-1, 4),
        parent=[b[3] for b in boxes],
    )
    return Dataset(CATS, im, bt, roots={s: tmp for s in set(split or ["train"])})


def _checks(report: svmlp.audit.AuditReport) -> dict[str, int]:
    return {k: sum(v.values()) for k, v in report.counts().items()}


CAR, PLATE = [10, 10, 110, 80], [50, 60, 80, 70]


def test_clean_scene_has_nothing_worth_a_warning(tmp_path: Path) -> None:
    report = run_audit(_ds(tmp_path, [(0, 0, CAR, -1), (0, 1, PLATE, 0)], n=1))
    assert report.severity_counts()["error"] == 0 and report.severity_counts()["warning"] == 0
    assert report.exit_code("warning") == 0


@pytest.mark.parametrize(
    "boxes,check",
    [
        ([(0, 0, CAR, -1), (0, 1, [150, 60, 180, 70], -1)], "orphan_plate"),
        ([(0, 0, CAR, -1), (0, 1, [95, 60, 125, 70], 0)], "plate_outside_vehicle"),
        (
            [(0, 0, CAR, -1)] + [(0, 1, [20 + 25 * k, 60, 40 + 25 * k, 70], 0) for k in range(3)],
            "too_many_plates",
        ),
        ([(0, 0, [10, 10, 60, 40], -1), (0, 1, [12, 12, 58, 38], 0)], "plate_too_large"),
        ([(0, 0, CAR, -1), (0, 1, PLATE, 0), (0, 1, [50.5, 60.2, 80.3, 70.1], 0)], "duplicate_box"),
        ([(0, 0, [-30, 10, 100, 80], -1)], "box_past_border"),
        ([(0, 0, CAR, -1), (0, 1, [50, 60, 51.5, 61], 0)], "tiny_box"),
        ([(0, 0, CAR, -1), (0, 1, [50, 40, 60, 70], 0)], "plate_aspect"),
        ([(0, 0, [0, 0, 200, 100], -1)], "whole_image_box"),
        ([(0, 0, [5, 5, 195, 95], -1)], "vehicle_without_plate"),
    ],
)
def test_relation_and_geometry_checks(boxes: list, check: str, tmp_path: Path) -> None:
    report = run_audit(_ds(tmp_path, boxes, n=1), config=load_config(overrides={"large_vehicle_side": 50.0}))
    assert check in _checks(report), report.counts()
    found = [i for i in report.issues if i.check == check]
    assert all("\n" not in i.message and "im0.jpg" in report.where(i) for i in found)


def test_files_missing_truncated_and_turned(tmp_path: Path) -> None:
    ds = _ds(tmp_path, [(0, 0, CAR, -1)], n=4)
    (tmp_path / "im1.jpg").unlink()
    data = (tmp_path / "im2.jpg").read_bytes()
    (tmp_path / "im2.jpg").write_bytes(data[: len(data) // 2])
    turned = Image.new("RGB", (200, 100))
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(tmp_path / "im3.jpg", exif=exif)  # shows as 100x200; the labels say 200x100
    report = run_audit(ds)
    by = {(i.check, i.image) for i in report.issues}
    assert ("missing_image", 1) in by and ("undecodable_image", 2) in by and ("size_mismatch", 3) in by
    assert "EXIF orientation 6" in next(i.message for i in report.issues if i.check == "size_mismatch")


def test_identical_and_near_duplicate_images(tmp_path: Path) -> None:
    ds = _ds(tmp_path, [], n=4, split=["train", "val", "train", "train"])
    shutil.copy(tmp_path / "im0.jpg", tmp_path / "im1.jpg")  # the same file in val: leakage
    Image.open(tmp_path / "im0.jpg").resize((180, 90)).save(
        tmp_path / "im2.jpg", quality=70
    )  # re-encoded copy
    checks = {(i.check, i.image, i.other_image) for i in run_audit(ds).issues}
    assert ("identical_images_across_splits", 1, 0) in checks
    assert ("near_duplicates_within_split", 2, 0) in checks
    assert not any(c == "near_duplicates_within_split" and 3 in (a, b) for c, a, b in checks)


def test_class_confusion_on_a_real_data_set(tmp_path: Path) -> None:
    from svmlp.synth import generate_annotations

    ds = generate_annotations(150, seed=3)
    b = ds.boxes
    car = int(np.flatnonzero((b.category == 0) & (np.diff(b.xyxy[:, [0, 2]], axis=1)[:, 0] > 120))[0])
    category = b.category.copy()
    category[car] = 1  # a vehicle labelled plate
    parent = np.where(b.parent == car, -1, b.parent)
    ds = ds.replace(boxes=BoxTable(**{**b.__dict__, "category": category, "parent": parent}))
    report = run_audit(ds, scan=False)
    assert any(i.check == "class_confusion" and i.box == car for i in report.issues)
    assert "image files were not read" in report.notes[0]


def test_lenient_read_reports_what_strict_refuses(tmp_path: Path) -> None:
    doc = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 1, "file_name": "b.jpg", "width": 200, "height": 100},
        ],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 20]},
            {"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 1, 2, 3]},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "plate"}],
    }
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    with pytest.raises(svmlp.AnnotationError):
        svmlp.read(tmp_path / "instances_train.json")
    report = audit(tmp_path / "instances_train.json")
    checks = _checks(report)
    assert checks["duplicate_id"] >= 2 and checks["degenerate_box"] == 1
    assert report.exit_code() == 1


def test_orphan_label_file_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: [vehicle, plate]\n")
    _write_images(tmp_path / "images" / "train", ["a.jpg"])
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "labels" / "train" / "ghost.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    report = audit(tmp_path)
    assert any(i.check == "orphan_label" and "ghost.txt" in i.message for i in report.issues)


def test_predictions_find_missed_misplaced_and_swapped(tmp_path: Path) -> None:
    ds = _ds(tmp_path, [(0, 0, CAR, -1), (0, 1, PLATE, 0), (1, 0, CAR, -1), (1, 1, PLATE, 2)], n=2)
    preds = Predictions(
        image=np.array([0, 0, 0, 1, 1]),
        category=np.array([0, 1, 1, 0, 0]),
        xyxy=np.array([CAR, PLATE, [150, 20, 180, 30], [30, 20, 130, 90], PLATE], dtype=float),
        score=np.array([0.9, 0.9, 0.8, 0.9, 0.85]),
        notes=[],
    )
    found = {(i.check, i.image, i.box) for i in run_audit(ds, predictions=preds).issues}
    assert ("missed_box", 0, -1) in found  # the plate predicted at 150,20 has no label
    assert ("misplaced_box", 1, 2) in found  # the car of image 1 is predicted shifted
    assert ("swapped_class", 1, 3) in found  # its plate is predicted as a vehicle


def test_predictions_bad_input(tmp_path: Path) -> None:
    ds = _ds(tmp_path, [(0, 0, CAR, -1)], n=1, images=False)
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps([{"image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    with pytest.raises(svmlp.UsageError, match=r"category_id 9 is not a category"):
        load_predictions(bad, ds)
    bad.write_text(json.dumps([{"image_id": 99, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    assert "1 prediction(s) name images not in the data set" in load_predictions(bad, ds).notes[0]
    bad.write_text('[{"image_id": "x"}]')
    with pytest.raises(svmlp.UsageError, match=r"p\.json at \$\[0\]"):
        load_predictions(bad, ds)
    bad.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    twice = _ds(tmp_path / "t", [], n=2, split=["train", "val"], images=False)
    twice = twice.replace(images=ImageTable(**{**twice.images.__dict__, "id": np.array([1, 1])}))
    with pytest.raises(svmlp.UsageError, match="ids repeat across this data set's splits"):
        load_predictions(bad, twice)


def test_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text(
        '[thresholds]\nmin_box_size = 8.0\n[severity]\ntiny_box = "error"\n[checks]\nplate_aspect = false\n'
    )
    config = load_config(cfg)
    assert (
        config["min_box_size"] == 8.0
        and config.severity["tiny_box"] == "error"
        and not config.enabled["plate_aspect"]
    )
    report = run_audit(_ds(tmp_path, [(0, 0, CAR, -1), (0, 1, [50, 40, 56, 70], 0)], n=1), config=config)
    assert {i.check: i.severity for i in report.issues}.get("tiny_box") == "error"
    assert "plate_aspect" not in _checks(report)
    for text, match in (
        ("[thresholds]\nmin_box_size = 'big'\n", "expected a float"),
        ("[thresholds]\nmin_boxsize = 1.0\n", "no such threshold"),
        ("[severity]\ntiny_box = 'fatal'\n", "expected one of error, warning, info"),
        ("[oops]\n", "unknown section"),
        ("[thresholds\n", "malformed TOML"),
    ):
        cfg.write_text(text)
        with pytest.raises(svmlp.UsageError, match=match):
            load_config(cfg)
    assert isinstance(AuditConfig()["max_plates"], int)


def test_no_vehicle_class_is_a_note_not_a_crash(tmp_path: Path) -> None:
    cats = [Category(1, "dog"), Category(2, "cat")]
    ds = Dataset(
        cats,
        ImageTable.build(id=[1], file_name=["a.jpg"], split="train", width=[10], height=[10]),
        BoxTable.build(id=[1], image=[0], category=[0], xyxy=[[1, 1, 5, 5]]),
    )
    report = run_audit(ds, scan=False)
    assert any("no vehicle or no plate class" in n for n in report.notes)


def test_a_plate_labelled_vehicle_inside_its_vehicle_is_class_confusion(tmp_path: Path) -> None:
    from svmlp.synth import generate_annotations

    ds = generate_annotations(150, seed=3)
    b = ds.boxes
    plate = int(np.flatnonzero((b.category == 1) & (b.parent >= 0))[0])
    category = b.category.copy()
    category[plate] = 0  # a plate labelled vehicle, still inside the vehicle carrying it
    parent = b.parent.copy()
    parent[plate] = -1
    ds = ds.replace(boxes=BoxTable(**{**b.__dict__, "category": category, "parent": parent}))
    flagged = {i.box: i.message for i in run_audit(ds, scan=False).issues if i.check == "class_confusion"}
    assert plate in flagged
    # the vehicles that carry plates are not flagged, however odd their shape
    carriers = set(ds.boxes.parent[ds.boxes.parent >= 0].tolist())
    assert not carriers & set(flagged)


def test_each_prediction_proposes_a_place_for_one_label(tmp_path: Path) -> None:
    # two cars side by side; the right one is labelled 50 px to the left. Its own prediction
    # overlaps it less (IoU 0.23) than the left car's prediction does (0.45), yet the proposal is
    # its own one, and that prediction is not also reported as a missed box.
    left, right = [10, 10, 90, 90], [90, 10, 170, 90]
    shifted = [40, 10, 120, 90]
    ds = _ds(tmp_path, [(0, 0, left, -1), (0, 0, shifted, -1)], n=1, images=False)
    preds = Predictions(
        image=np.array([0, 0]),
        category=np.array([0, 0]),
        xyxy=np.array([left, right], dtype=float),
        score=np.array([0.9, 0.8]),
        notes=[],
    )
    issues = run_audit(ds, predictions=preds, scan=False).issues
    misplaced = [i for i in issues if i.check == "misplaced_box"]
    assert [(i.box, i.bbox) for i in misplaced] == [(1, tuple(map(float, right)))]
    assert "IoU 0.23" in misplaced[0].message
    assert not any(i.check == "missed_box" for i in issues)
