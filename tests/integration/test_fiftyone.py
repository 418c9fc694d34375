"""svmlp.fiftyone against the real FiftyOne and its real database (a mongod of this test session).

Round trips are exact (ids, pixels, links, classes, splits, attributes); edits made in FiftyOne come
back; the audit's findings are tags and attributes; predictions are evaluated by FiftyOne itself;
bad input is one clear error. ``svmlp view`` runs as a real process serving the real App.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

import svmlp
from svmlp.errors import AnnotationError, UsageError
from svmlp.model import BoxTable, Dataset
from svmlp.synth import generate_annotations

# the tests of the shared FiftyOne database run in one process after the others (make test): a
# second pytest-xdist worker starting or cleaning the same mongod broke them now and then
pytestmark = [pytest.mark.timeout(300), pytest.mark.fiftyone]


def _name() -> str:
    return f"svmlp-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fo(fiftyone_db):
    made_before = set(fiftyone_db.list_datasets())
    yield fiftyone_db
    for name in set(fiftyone_db.list_datasets()) - made_before:
        if name.startswith("svmlp-test-"):
            fiftyone_db.delete_dataset(name)


def _dirty(n: int = 60) -> Dataset:
    """Synthetic labels with noise, unlabelled images, verified negatives, crowd boxes, VOC flags."""
    ds = generate_annotations(n, seed=3, noise=0.15, unlabelled=0.1, negatives=0.1)
    bx = ds.boxes
    rng = np.random.default_rng(0)
    crowd = bx.iscrowd.copy()
    crowd[rng.choice(len(bx), 3, replace=False)] = True
    difficult = np.where(rng.random(len(bx)) < 0.2, 1, -1).astype(np.int8)
    boxes = BoxTable.build(
        **{
            **{k: getattr(bx, k) for k in ("id", "image", "category", "xyxy", "parent", "text", "corners")},
            "link_score": np.where(bx.parent >= 0, rng.uniform(0.5, 1.0, len(bx)), np.nan),
            "iscrowd": crowd,
            "difficult": difficult,
            "area": np.where(rng.random(len(bx)) < 0.5, 123.5, np.nan),
            # a labelling tool's own attributes (CVAT), names FiftyOne itself uses among them
            "attributes": [
                {"label": "rear", "z_order": 2, "parked": True, "confidence": 0.5} if k % 7 == 0 else None
                for k in range(len(bx))
            ],
        }
    )
    ds = Dataset(ds.categories, ds.images, boxes, roots={s: f"/data/imgs/{s}" for s in ds.splits})
    assert (~ds.images.labelled).any() and (ds.boxes.parent >= 0).any()
    return ds


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert [(c.id, c.name, c.supercategory, c.role) for c in a.categories] == [
        (c.id, c.name, c.supercategory, c.role) for c in b.categories
    ]
    for col in ("id", "file_name", "split", "width", "height", "labelled"):
        np.testing.assert_array_equal(getattr(a.images, col), getattr(b.images, col), err_msg=col)
    for col in ("id", "image", "category", "xyxy", "iscrowd", "parent", "difficult", "truncated", "occluded"):
        np.testing.assert_array_equal(getattr(a.boxes, col), getattr(b.boxes, col), err_msg=col)
    for col in ("link_score", "area"):
        np.testing.assert_array_equal(getattr(a.boxes, col), getattr(b.boxes, col), err_msg=col)
    assert (a.boxes.text is None) == (b.boxes.text is None)
    if a.boxes.text is not None:
        np.testing.assert_array_equal(a.boxes.text, b.boxes.text)
        np.testing.assert_array_equal(a.boxes.corners, b.boxes.corners)
    assert (a.boxes.attributes is None) == (b.boxes.attributes is None)
    if a.boxes.attributes is not None:
        assert a.boxes.attributes.tolist() == b.boxes.attributes.tolist()
    assert {k: str(v) for k, v in a.roots.items()} == {k: str(v) for k, v in b.roots.items()}


def test_round_trip_is_exact_and_written_in_bulk(fo):
    from svmlp.fiftyone import from_fiftyone, to_fiftyone

    ds = _dirty()
    fo_ds = to_fiftyone(ds, name=_name())
    assert fo_ds.info["svmlp"]["bulk_write"] is True  # the fast path agreed with FiftyOne's own layout
    assert len(fo_ds) == len(ds.images)
    assert fo_ds.count("ground_truth.detections") == len(ds.boxes)
    # FiftyOne itself sees the schema: every attribute is declared, so the App can filter on it
    schema = fo_ds.get_field_schema(flat=True)
    for attr in ("svmlp_id", "parent_id", "link_score", "iscrowd", "text", "corners", "difficult"):
        assert f"ground_truth.detections.{attr}" in schema, attr
    # splits are tags; unlabelled images have no label field; verified negatives an empty one
    for split in ds.splits:
        assert len(fo_ds.match_tags(split)) == int((ds.images.split == split).sum())
    assert len(fo_ds.exists("ground_truth", False)) == int((~ds.images.labelled).sum())
    _assert_same(ds, from_fiftyone(fo_ds))


def test_links_are_attributes_that_name_the_vehicle(fo):
    from svmlp.fiftyone import to_fiftyone

    ds = _dirty(20)
    fo_ds = to_fiftyone(ds, name=_name())
    bx = ds.boxes
    child = int(np.flatnonzero(bx.parent >= 0)[0])
    image = int(bx.image[child])
    sample = fo_ds.match({"svmlp_id": int(ds.images.id[image])}).first()
    dets = {d.svmlp_id: d for d in sample.ground_truth.detections}
    plate, car = dets[int(bx.id[child])], dets[int(bx.id[bx.parent[child]])]
    assert plate.parent_id == car.svmlp_id and plate.label == "plate" and car.label == "vehicle"
    assert plate.link_score == pytest.approx(float(bx.link_score[child]), nan_ok=True)
    w, h = ds.images.width[image], ds.images.height[image]
    x0, y0, x1, y1 = bx.xyxy[child]
    np.testing.assert_allclose(plate.bounding_box, [x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h], rtol=1e-12)


def _first_linked(ds: Dataset, fo_ds):
    """The first linked plate's row, its image's row, and that image's FiftyOne sample."""
    child = int(np.flatnonzero(ds.boxes.parent >= 0)[0])
    image = int(ds.boxes.image[child])
    match = {"svmlp_id": int(ds.images.id[image]), "svmlp_split": str(ds.images.split[image])}
    return child, image, fo_ds.match(match).first()


def test_edits_in_fiftyone_come_back(fo):
    from svmlp.fiftyone import from_fiftyone, to_fiftyone

    ds = _dirty(30)
    fo_ds = to_fiftyone(ds, name=_name())
    bx = ds.boxes
    child, image, sample = _first_linked(ds, fo_ds)
    car_id = int(bx.id[bx.parent[child]])
    dets = sample.ground_truth.detections
    # delete the plate's vehicle, move another box, draw a new plate, and mark the sample reviewed
    moved = next(d for d in dets if d.svmlp_id not in (car_id, int(bx.id[child])))
    moved.bounding_box = [0.25, 0.25, 0.5, 0.5]
    sample.ground_truth.detections = [d for d in dets if d.svmlp_id != car_id] + [
        fo.Detection(label="plate", bounding_box=[0.1, 0.2, 0.05, 0.02])
    ]
    sample.tags.append("reviewed")
    sample.save()

    back = from_fiftyone(fo_ds.match_tags("reviewed"))
    assert len(back.images) == 1 and back.images.file_name[0] == ds.images.file_name[image]
    got = {int(i): k for k, i in enumerate(back.boxes.id)}
    assert car_id not in got
    assert back.boxes.parent[got[int(bx.id[child])]] == -1  # its vehicle is gone: link dropped
    assert any("vehicle box is no longer" in n for n in back.notes)
    assert any("new ids given" in n for n in back.notes)
    assert len(back.boxes) == len(dets)  # one deleted, one drawn
    w, h = ds.images.width[image], ds.images.height[image]
    np.testing.assert_allclose(back.boxes.xyxy[got[moved.svmlp_id]], [w / 4, h / 4, 3 * w / 4, 3 * h / 4])
    split_ids = set(bx.id[ds.images.split[bx.image] == ds.images.split[image]].tolist())  # ids are per split
    new = [k for k in range(len(back.boxes)) if back.boxes.id[k] not in split_ids]
    assert len(new) == 1 and back.categories[back.boxes.category[new[0]]].name == "plate"
    # the rest of the data set is untouched
    _assert_same(
        ds.select(np.arange(len(ds.images)) != image), from_fiftyone(fo_ds.match_tags("reviewed", bool=False))
    )


def test_relabelled_vehicle_drops_its_links(fo):
    from svmlp.fiftyone import from_fiftyone, to_fiftyone

    ds = _dirty(20)
    fo_ds = to_fiftyone(ds, name=_name())
    bx = ds.boxes
    child, image, sample = _first_linked(ds, fo_ds)
    for d in sample.ground_truth.detections:
        if d.svmlp_id == int(bx.id[bx.parent[child]]):
            d.label = "road sign"  # a class svmlp does not know yet: a new category, with no role
    sample.save()
    back = from_fiftyone(fo_ds)
    sign = [c for c in back.categories if c.name == "road sign"]
    assert sign and sign[0].id == max(c.id for c in ds.categories) + 1 and sign[0].role is None
    assert any("no longer join a plate to a vehicle" in n for n in back.notes)


def test_audit_findings_are_tags_and_messages(fo, tmp_path):
    from svmlp.audit import run_audit
    from svmlp.audit.report import to_json
    from svmlp.fiftyone import to_fiftyone

    ds = _dirty(60)
    report = run_audit(ds, scan=False)
    counts = report.counts()
    assert "orphan_plate" in counts, counts
    path = tmp_path / "report.json"
    path.write_text(to_json(report))
    for audit in (report, path):
        fo_ds = to_fiftyone(ds, name=_name(), audit=audit)
        orphans = [i for i in report.issues if i.check == "orphan_plate"]
        images = {i.image for i in orphans}
        view = fo_ds.match_tags("orphan_plate")
        assert len(view) == len(images)
        tagged = fo_ds.select_labels(tags="orphan_plate")
        assert tagged.count("ground_truth.detections") == len({i.box for i in orphans})
        det = tagged.first().ground_truth.detections[0]
        assert any(m.startswith("orphan_plate: ") for m in det.audit)
        assert all(any(m.startswith("orphan_plate: ") for m in s.audit) for s in view)


def test_audit_for_another_data_set_is_refused(fo, tmp_path):
    from svmlp.audit import run_audit
    from svmlp.audit.report import to_json
    from svmlp.fiftyone import to_fiftyone

    other = generate_annotations(30, seed=99, noise=0.3)
    other = Dataset(other.categories, other.images.take(np.arange(len(other.images))), other.boxes)
    report = json.loads(to_json(run_audit(other, scan=False)))
    for issue in report["issues"]:
        issue["image_id"] = None if issue["image_id"] is None else issue["image_id"] + 10_000
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    with pytest.raises(UsageError, match=r"r\.json: none of its .* names an image of this data set"):
        to_fiftyone(_dirty(20), name=_name(), audit=path)
    (tmp_path / "bad.json").write_text('{"issues": 3}')
    with pytest.raises(UsageError, match=r"bad\.json: not an svmlp audit report"):
        to_fiftyone(_dirty(20), name=_name(), audit=tmp_path / "bad.json")


def test_predictions_are_evaluated_by_fiftyone(fo, tmp_path):
    from svmlp.fiftyone import to_fiftyone

    ds = generate_annotations(30, seed=5).split("train")  # clean: noisy duplicates would be FN
    keep = ~ds.boxes.iscrowd
    bx = ds.boxes
    # the ground truth fed back as predictions, plus one false positive
    preds = [
        {
            "image_id": int(ds.images.id[bx.image[r]]),
            "category_id": ds.categories[bx.category[r]].id,
            "bbox": [
                bx.xyxy[r, 0],
                bx.xyxy[r, 1],
                bx.xyxy[r, 2] - bx.xyxy[r, 0],
                bx.xyxy[r, 3] - bx.xyxy[r, 1],
            ],
            "score": 0.9,
        }
        for r in np.flatnonzero(keep)
    ]
    first = int(ds.images.id[ds.images.labelled][0])
    preds.append({"image_id": first, "category_id": ds.categories[0].id, "bbox": [1, 1, 3, 3], "score": 0.5})
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([{**p, "bbox": [float(v) for v in p["bbox"]]} for p in preds]))
    fo_ds = to_fiftyone(ds, name=_name(), predictions=path)
    assert fo_ds.count("predictions.detections") == len(preds)
    assert "eval" in fo_ds.list_evaluations()
    assert sum(fo_ds.values("eval_tp")) == int(keep.sum())
    assert sum(fo_ds.values("eval_fp")) == 1
    fn = fo_ds.filter_labels("ground_truth", fo.ViewField("eval") == "fn")
    assert sum(fo_ds.values("eval_fn")) == 0, fn.values("ground_truth.detections")


def test_bad_input_is_one_clear_error(fo):
    from svmlp.fiftyone import from_fiftyone, to_fiftyone

    ds = _dirty(10)
    name = _name()
    to_fiftyone(ds, name=name)
    with pytest.raises(UsageError, match=f"already has a data set named '{name}'"):
        to_fiftyone(ds, name=name)
    assert len(to_fiftyone(ds, name=name, overwrite=True)) == len(ds.images)

    poly = fo.Dataset(_name())
    poly.add_sample(
        fo.Sample(
            filepath="/x/a.jpg", outline=fo.Polylines(polylines=[fo.Polyline(points=[[(0, 0), (1, 1)]])])
        )
    )
    with pytest.raises(UsageError, match=r"field 'outline' .* holds Polylines; svmlp reads boxes"):
        from_fiftyone(poly, label_field="outline")
    with pytest.raises(UsageError, match=r"has no field 'ground_truth' \(it has no Detections field\)"):
        from_fiftyone(poly)

    broken = fo.Dataset(_name())
    broken.add_sample(
        fo.Sample(
            filepath="/x/b.jpg",
            metadata=fo.ImageMetadata(width=10, height=10),
            ground_truth=fo.Detections(detections=[fo.Detection(bounding_box=[0.1, 0.1, 0.2, 0.2])]),
        )
    )
    with pytest.raises(AnnotationError, match=r"FiftyOne sample /x/b\.jpg: detection 0 has no class label"):
        from_fiftyone(broken)
    nosize = fo.Dataset(_name())
    nosize.add_sample(fo.Sample(filepath="/nowhere/c.jpg", ground_truth=fo.Detections()))
    with pytest.raises(
        AnnotationError,
        match=r"FiftyOne sample /nowhere/c\.jpg: no size in its metadata and the image is missing",
    ):
        from_fiftyone(nosize)


def test_a_plain_fiftyone_dataset_reads(fo, sample_dir):
    """A data set FiftyOne imported itself (no svmlp fields): splits from tags, sizes, new ids."""
    from svmlp.fiftyone import from_fiftyone

    fo_ds = fo.Dataset(_name())
    ds = svmlp.read(sample_dir).split("val")
    samples = []
    for i in range(len(ds.images)):
        im = ds.image(i)
        dets = [
            fo.Detection(
                label=b.category,
                bounding_box=[
                    b.xyxy[0] / im.width,
                    b.xyxy[1] / im.height,
                    (b.xyxy[2] - b.xyxy[0]) / im.width,
                    (b.xyxy[3] - b.xyxy[1]) / im.height,
                ],
            )
            for b in ds.boxes_of(i)
        ]
        samples.append(
            fo.Sample(
                filepath=str(ds.image_path(i)), tags=["val"], ground_truth=fo.Detections(detections=dets)
            )
        )
    fo_ds.add_samples(samples, progress=False)
    back = from_fiftyone(fo_ds)
    assert back.splits == ["val"] and len(back.boxes) == len(ds.boxes)
    np.testing.assert_array_equal(back.images.width, ds.images.width)  # from the image headers
    np.testing.assert_allclose(back.boxes.xyxy, ds.boxes.xyxy, atol=1e-9)
    assert sorted(back.images.file_name.tolist()) == sorted(ds.images.file_name.tolist())
    assert {c.name: c.role for c in back.categories} == {"vehicle": "parent", "plate": "child"}


# -- the command line ------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FIFTYONE_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def test_no_fiftyone_installed_is_one_line(tmp_path, sample_dir):
    code = (
        "import sys; sys.modules['fiftyone'] = None\n"
        "from svmlp.cli import main; sys.exit(main(['view', sys.argv[1], '--remote']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(sample_dir)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "svmlp view: error: fiftyone is not installed; this feature needs it: pip install 'svmlp[fiftyone]'"
    )


def test_unreachable_database_is_one_line(fiftyone_db, sample_dir):
    uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1500"
    proc = subprocess.run(
        [sys.executable, "-m", "svmlp", "view", str(sample_dir), "--remote"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(FIFTYONE_DATABASE_URI=uri),
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("svmlp view")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        f"svmlp view: error: cannot reach FiftyOne's database: tried the database at FIFTYONE_DATABASE_URI={uri}"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_view(src: Path, *args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``svmlp view SRC --remote`` as a process; returns it, the App's URL and its output so far."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "svmlp",
            "view",
            str(src),
            "--remote",
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("FiftyOne App: "):
            url = line.split()[2]
            return proc, url, lines
    proc.kill()
    raise AssertionError("svmlp view printed no URL:\n" + "\n".join(lines))


def stop_view(proc: subprocess.Popen[str]) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out


def test_view_serves_the_app_and_stops_on_ctrl_c(fiftyone_db, sample_dir):
    name = _name()
    proc, url, lines = start_view(sample_dir, "--name", name)
    try:
        assert url.startswith("http://127.0.0.1:") and "120 samples, 726 boxes" in lines[-1]
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()
        assert name in fiftyone_db.list_datasets()
    finally:
        code, out = stop_view(proc)
    assert code == 0, out
    assert out.rstrip().endswith("stopped") and "Traceback" not in out
    assert name not in fiftyone_db.list_datasets()  # not kept without --keep
