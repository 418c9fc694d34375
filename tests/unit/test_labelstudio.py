"""Label Studio JSON: the shared exports, relations as links, textareas as plate text, rotated
rectangles as corners, JSON-MIN, a round trip through svmlp (with and without the sidecar), and
hostile files."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import FIXTURES, assert_same_dataset

import svmlp
from svmlp.formats import labelstudio
from svmlp.formats._sidecar import SIDECAR_NAME
from svmlp.synth import generate_annotations

LS = FIXTURES / "label-studio"
needs_fixtures = pytest.mark.skipif(not LS.is_dir(), reason="shared fixtures not mounted")


def _rect(rid: str, label: str, x: float, y: float, w: float, h: float, rotation: float = 0) -> dict:
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 200,
        "original_height": 100,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
    }


def _task(results: list[dict], image: str = "/data/upload/3/a.jpg", tid: int = 7) -> dict:
    return {
        "id": tid,
        "data": {"image": image},
        "annotations": [{"id": 1, "result": results}],
        "predictions": [],
    }


def _write(path: Path, tasks: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks))
    return path


def _one_line(path: Path, **kw: object) -> str:
    with pytest.raises(svmlp.SvmlpError) as info:
        svmlp.read(path, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


# -- the shared fixtures ---------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize(
    ("name", "images", "boxes", "classes"),
    [
        ("data.json", 2, 4, ["parasites", "white"]),
        ("data_obb.json", 3, 25, ["Butterfly", "butterfly"]),
        ("data_polygons.json", 1, 1, ["Airplane"]),
    ],
)
def test_shared_exports(name: str, images: int, boxes: int, classes: list[str]) -> None:
    path = LS / name
    assert svmlp.detect(path) == "label-studio"
    ds = svmlp.read(path)
    assert (len(ds), len(ds.boxes), [c.name for c in ds.categories]) == (images, boxes, classes)
    assert ds.splits == ["train"] and ds.images.file_name.tolist()[0] in ("image1", "image2")
    assert (ds.images.width > 0).all()
    b = ds.boxes
    if name == "data_obb.json":  # rotated rectangles: corners, and their enclosing box
        assert b.corners is not None and np.isfinite(b.corners).all(axis=(1, 2)).sum() > 10
        shaped = np.isfinite(b.corners).all(axis=(1, 2))
        c = b.corners[shaped]
        np.testing.assert_allclose(b.xyxy[shaped][:, :2], c.min(axis=1))
        np.testing.assert_allclose(b.xyxy[shaped][:, 2:], c.max(axis=1))
    if name == "data_polygons.json":  # a many-point polygon: its enclosing box and a segmentation
        assert b.segmentation is not None and len(b.segmentation[0][0]) > 8
    if name == "data.json":  # two annotations on one task: the first is read, and said so
        assert any("2 annotations; read the first" in n for n in ds.notes)


@needs_fixtures
def test_fixture_folder_reads_each_file_as_a_split() -> None:
    ds = svmlp.read(LS)
    assert sorted(ds.splits) == ["data", "data_obb", "data_polygons"] and len(ds) == 6


# -- what a task says -----------------------------------------------------------------------------


def test_relations_and_textareas(tmp_path: Path) -> None:
    results = [
        _rect("car1", "car", 10, 10, 50, 60),
        _rect("p1", "licence plate", 20, 50, 10, 10),
        {
            "id": "p1",
            "type": "textarea",
            "from_name": "text",
            "to_name": "image",
            "value": {"text": ["AB 123"]},
        },
        {"from_id": "car1", "to_id": "p1", "type": "relation", "direction": "right"},
        _rect("p2", "plate", 80, 5, 5, 5),
        {"id": "t2", "parentID": "p2", "type": "textarea", "value": {"text": ["ZZ 9"]}},
        {"from_id": "p2", "to_id": "car1", "type": "relation"},  # plate → vehicle: the same link
        _rect("d", "dog", 1, 1, 2, 2),
        {"from_id": "d", "to_id": "car1", "type": "relation"},  # not vehicle–plate: left out, noted
    ]
    ds = svmlp.read(_write(tmp_path / "project.json", [_task(results)]))
    b = ds.boxes
    names = [ds.categories[c].name for c in b.category]
    assert names == ["car", "licence plate", "plate", "dog"]
    assert b.parent.tolist() == [-1, 0, 0, -1]
    assert b.text is not None and b.text.tolist() == ["", "AB 123", "ZZ 9", ""]
    np.testing.assert_allclose(b.xyxy[0], [20, 10, 120, 70])
    assert ds.images.file_name.tolist() == ["a.jpg"] and ds.images.id.tolist() == [7]
    assert any("not between a vehicle and a plate" in n for n in ds.notes)


def test_a_relation_to_a_missing_region_is_a_finding(tmp_path: Path) -> None:
    results = [_rect("car1", "car", 10, 10, 50, 60), {"from_id": "car1", "to_id": "nope", "type": "relation"}]
    path = _write(tmp_path / "x.json", [_task(results)])
    assert "names a region that is not there" in _one_line(path)
    ds = svmlp.read(path, strict=False)
    assert [c for c, _ in ds.read_issues] == ["bad_link"] and len(ds.boxes) == 1


def test_rotation_gives_corners(tmp_path: Path) -> None:
    ds = svmlp.read(_write(tmp_path / "x.json", [_task([_rect("r", "plate", 50, 50, 10, 10, rotation=90)])]))
    corners = ds.boxes.corners[0]
    # 20 × 10 px turned 90° clockwise about its top-left corner (100, 50)
    np.testing.assert_allclose(corners, [[100, 50], [100, 70], [90, 70], [90, 50]], atol=1e-9)
    np.testing.assert_allclose(ds.boxes.xyxy[0], [90, 50, 100, 70], atol=1e-9)


def test_polygon_of_four_points_is_corners(tmp_path: Path) -> None:
    poly = {
        "id": "q",
        "type": "polygonlabels",
        "original_width": 200,
        "original_height": 100,
        "value": {"points": [[10, 10], [20, 12], [20, 20], [10, 18]], "polygonlabels": ["plate"]},
    }
    ds = svmlp.read(_write(tmp_path / "x.json", [_task([poly])]))
    np.testing.assert_allclose(ds.boxes.corners[0], [[20, 10], [40, 12], [40, 20], [20, 18]])
    np.testing.assert_allclose(ds.boxes.xyxy[0], [20, 10, 40, 20])


def test_json_min(tmp_path: Path) -> None:
    rows = [
        {
            "image": "/data/local-files/?d=photos/b.jpg",
            "id": 3,
            "label": [
                {
                    "x": 10,
                    "y": 20,
                    "width": 50,
                    "height": 10,
                    "rotation": 0,
                    "rectanglelabels": ["car"],
                    "original_width": 100,
                    "original_height": 50,
                }
            ],
        }
    ]
    path = _write(tmp_path / "val.json", rows)
    assert svmlp.detect(path) == "label-studio"
    ds = svmlp.read(path)
    assert ds.splits == ["val"] and ds.images.file_name.tolist() == ["photos/b.jpg"]
    np.testing.assert_allclose(ds.boxes.xyxy[0], [10, 10, 60, 15])


def test_images_are_found_beside_the_json(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "a.jpg")
    task = {"id": 1, "data": {"image": "/data/upload/3/a.jpg"}, "annotations": [{"result": []}]}
    ds = svmlp.read(_write(tmp_path / "export.json", [task]))
    assert ds.roots["train"] == tmp_path / "images" and ds.images.width.tolist() == [200]


# -- round trips ------------------------------------------------------------------------------------


def test_round_trip_through_label_studio(tmp_path: Path) -> None:
    src = generate_annotations(30, seed=3)
    svmlp.write(src, tmp_path / "ls", format="label-studio", images="none")
    assert {p.name for p in (tmp_path / "ls").glob("*.json")} == {
        SIDECAR_NAME,
        *(f"{s}.json" for s in src.splits),
    }
    back = svmlp.read(tmp_path / "ls")
    assert_same_dataset(src, back)
    assert back.notes == []


def test_the_import_file_alone_keeps_links_text_and_splits(tmp_path: Path) -> None:
    """Without the sidecar (what Label Studio gives back): links from relations, text from the
    textareas, splits from the file names; boxes to float rounding."""
    src = generate_annotations(20, seed=5)
    out = tmp_path / "ls"
    svmlp.write(src, out, format="label-studio", images="none")
    tasks = json.loads((out / "train.json").read_text())
    kinds = {r["type"] for t in tasks for a in t["annotations"] for r in a["result"]}
    assert kinds == {"rectanglelabels", "textarea", "relation"}
    assert all(t["data"]["image"].startswith("/data/local-files/?d=images/train/") for t in tasks)
    os.remove(out / SIDECAR_NAME)
    back = svmlp.read(out)
    assert back.splits == src.splits
    assert_same_dataset(
        src, back, atol=1e-9, ids=False, category_ids=False, keeps={"text"}, crowd=False, sizes=False
    )


def test_per_region_answers_are_attributes(tmp_path: Path) -> None:
    results = [
        _rect("r1", "car", 10, 10, 50, 50),
        _rect("r2", "plate", 20, 40, 10, 5),
        {
            "id": "r2",
            "type": "choices",
            "from_name": "colour",
            "to_name": "image",
            "value": {"choices": ["yellow"]},
        },
        {"id": "r2", "type": "number", "from_name": "digits", "to_name": "image", "value": {"number": 7}},
        {"id": "r1", "type": "rating", "from_name": "quality", "to_name": "image", "value": {"rating": 4}},
        {
            "id": "t1",
            "type": "choices",
            "from_name": "weather",
            "to_name": "image",
            "value": {"choices": ["rain"]},
        },
        {
            "id": "k1",
            "type": "keypointlabels",
            "from_name": "kp",
            "to_name": "image",
            "value": {"x": 1, "y": 2},
        },
        {"id": "m1", "type": "brushlabels", "from_name": "m", "to_name": "image", "value": {"rle": [1, 2]}},
    ]
    ds = svmlp.read(_write(tmp_path / "export.json", [_task(results)]), probe=False)
    assert ds.boxes.attributes is not None
    assert ds.boxes.attributes.tolist() == [{"quality": 4}, {"colour": "yellow", "digits": 7}]
    assert any(
        "results that are not boxes left out: 1 brushlabels, 1 keypointlabels, 1 whole-image answer(s)" in n
        for n in ds.notes
    )


def test_label_config_and_attributes_written(tmp_path: Path) -> None:
    src = generate_annotations(12, seed=4)
    attrs = np.full(len(src.boxes), None, dtype=object)
    attrs[0] = {"colour": "yellow", "rear": True, "digits": 7}
    attrs[1] = {"colour": "white", "label": "x"}  # a name the config itself uses
    src = src.replace(boxes=svmlp.model.BoxTable(**{**src.boxes.__dict__, "attributes": attrs}))
    svmlp.write(src, tmp_path / "ls", format="label-studio", images="none")
    import xml.etree.ElementTree as ET

    view = ET.parse(tmp_path / "ls" / labelstudio.CONFIG).getroot()
    assert view.tag == "View"
    labels = [x.get("value") for x in view.iterfind("RectangleLabels/Label")]
    assert labels == [c.name for c in src.categories]
    controls = {x.get("name"): x.tag for x in view}
    assert controls["colour"] == "Choices" and controls["digits"] == "Number"
    assert controls["attr_label"] == "Choices" and controls["text"] == "TextArea"
    assert [c.get("value") for c in view.iterfind("Choices[@name='colour']/Choice")] == ["yellow", "white"]
    want = {int(src.boxes.id[r]): attrs[r] for r in (0, 1)}

    def by_id(ds: svmlp.Dataset) -> dict[int, object]:
        assert ds.boxes.attributes is not None
        return {int(i): a for i, a in zip(ds.boxes.id, ds.boxes.attributes) if a}

    assert by_id(svmlp.read(tmp_path / "ls")) == want
    os.remove(tmp_path / "ls" / SIDECAR_NAME)
    bare = svmlp.read(tmp_path / "ls")  # what Label Studio gives back: ids from the region ids
    assert sorted(by_id(bare).values(), key=str) == sorted(
        [{"colour": "yellow", "rear": "true", "digits": 7}, {"colour": "white", "attr_label": "x"}], key=str
    )


def test_audit_findings_go_to_the_annotator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from svmlp.cli import main

    src = generate_annotations(40, seed=2, noise=0.3)
    svmlp.write(src, tmp_path / "coco", format="coco", images="none")
    report = tmp_path / "report.json"
    main(["audit", str(tmp_path / "coco"), "--no-probe", "--json-out", str(report), "-q"])
    found = json.loads(report.read_text())
    boxed = [i for i in found["issues"] if i.get("box_id") is not None]
    assert boxed, "the noisy set gives box findings"
    out = tmp_path / "ls"
    code = main(
        [
            "convert",
            str(tmp_path / "coco"),
            "--no-probe",
            "--to",
            "label-studio",
            "-o",
            str(out),
            "--images",
            "none",
            "--audit",
            str(report),
            "-q",
        ]
    )
    assert code == 0
    tasks = [t for f in out.glob("*.json") if f.name != SIDECAR_NAME for t in json.loads(f.read_text())]
    assert all("audit" in t["data"] for t in tasks)
    notes = [r for t in tasks for a in t["annotations"] for r in a["result"] if r.get("from_name") == "audit"]
    assert len(notes) >= 1 and all(r["type"] == "textarea" and r["id"].startswith("b") for r in notes)
    assert "audit_findings" in (out / labelstudio.CONFIG).read_text()
    # the findings are for the annotator: reading the export back gives the same labels
    assert_same_dataset(svmlp.read(tmp_path / "coco"), svmlp.read(out), sizes=False)
    assert (
        main(
            [
                "convert",
                str(tmp_path / "coco"),
                "--to",
                "yolo",
                "-o",
                str(tmp_path / "y"),
                "--audit",
                str(report),
            ]
        )
        == 2
    )
    assert "--audit applies to --to label-studio, not yolo" in capsys.readouterr().err


# -- hostile files ----------------------------------------------------------------------------------


def test_image_paths_that_climb_out_are_refused(tmp_path: Path) -> None:
    for image in ("../../etc/passwd", "/data/upload/1/../../../etc/passwd", "/data/local-files/?d=../x.jpg"):
        path = _write(tmp_path / "x.json", [_task([], image=image)])
        assert "climbs out" in _one_line(path)


def test_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "train.json"
    os.mkfifo(fifo)
    done: list[str] = []
    worker = threading.Thread(
        target=lambda: done.append(_one_line(tmp_path, format="label-studio")), daemon=True
    )
    worker.start()
    worker.join(10)
    assert done and "train.json" in done[0]


def test_deep_nesting_and_garbage(tmp_path: Path) -> None:
    deep = tmp_path / "deep" / "train.json"
    deep.parent.mkdir()
    deep.write_text('[{"data": {"image": ' + "[" * 100_000 + "]" * 100_000 + "}}]")
    assert "deep" in _one_line(deep, format="label-studio")
    for text in (
        "[{",
        "\xff\xfe",
        '[{"data": {"image": 3}}]',
        '[{"annotations": [{"result": [{"type": "rectanglelabels", "value": {"x": "a"}}]}]}]',
        "{}",
    ):
        bad = tmp_path / "bad.json"
        bad.write_bytes(text.encode("latin-1"))
        message = _one_line(bad, format="label-studio")
        assert message.startswith(str(bad))


def test_a_region_needs_the_image_size(tmp_path: Path) -> None:
    r = _rect("a", "car", 1, 1, 1, 1)
    del r["original_width"], r["original_height"]
    assert "original_width" in _one_line(_write(tmp_path / "x.json", [_task([r])]))


def test_writer_needs_sizes(tmp_path: Path) -> None:
    ds = generate_annotations(3, seed=1)
    ds.images.width[:] = 0
    with pytest.raises(svmlp.ImageError, match="size unknown"):
        svmlp.write(ds, tmp_path / "out", format="label-studio", images="none")


def test_plugin_shape() -> None:
    assert labelstudio.NAME == "label-studio" and labelstudio.ROUND_TRIP.tolerance == 0.0
