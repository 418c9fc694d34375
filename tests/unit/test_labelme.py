"""LabelMe JSON: shapes, groups as links, descriptions as plate text, polygons as corners, image
paths (stale, missing, climbing out), split folders, a round trip through svmlp (with and without
the sidecar), and hostile files. LabelMe's format: https://github.com/wkentaro/labelme (its
``LabelFile``: ``version``, ``flags``, ``shapes`` of ``label``, ``points``, ``group_id``,
``description``, ``shape_type``, ``flags``; ``imagePath``, ``imageData``, ``imageHeight``, ``imageWidth``)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_same_dataset

import svmlp
from svmlp.formats import labelme
from svmlp.formats._sidecar import SIDECAR_NAME
from svmlp.synth import generate_annotations


def _shape(
    label: str, points: list[list[float]], kind: str = "rectangle", group: int | None = None, **kw: Any
) -> dict:
    return {"label": label, "points": points, "group_id": group, "shape_type": kind, "flags": {}, **kw}


def _doc(shapes: list[dict], image: str = "a.jpg", **kw: Any) -> dict:
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image,
        "imageData": None,
        "imageHeight": 100,
        "imageWidth": 200,
        **kw,
    }


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _image(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


def _one_line(path: Path, **kw: object) -> str:
    with pytest.raises(svmlp.SvmlpError) as info:
        svmlp.read(path, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


_PLATE = [[20, 50], [40, 52], [40, 60], [20, 58]]


def test_shapes_groups_and_text(tmp_path: Path) -> None:
    shapes = [
        _shape("car", [[10, 10], [90, 70]], group=1),
        _shape("licence plate", _PLATE, "polygon", group=1, description="AB 123"),
        _shape("plate", [[60, 30], [70, 35]], group=1),
        _shape("dog", [[1, 1], [5, 5], [9, 1], [9, 9], [1, 9]], "polygon"),
        _shape("dog", [[1, 1], [4, 4]], "circle"),
    ]
    _write(tmp_path / "a.json", _doc(shapes))
    assert svmlp.detect(tmp_path) == "labelme" and svmlp.detect(tmp_path / "a.json") == "labelme"
    ds = svmlp.read(tmp_path)
    b = ds.boxes
    assert [ds.categories[c].name for c in b.category] == ["car", "licence plate", "plate", "dog"]
    assert b.parent.tolist() == [-1, 0, 0, -1]
    assert b.text is not None and b.text.tolist() == ["", "AB 123", "", ""]
    np.testing.assert_allclose(b.corners[1], _PLATE)
    np.testing.assert_allclose(b.xyxy[1], [20, 50, 40, 60])
    assert b.segmentation is not None and b.segmentation[3] is not None
    assert ds.images.file_name.tolist() == ["a.jpg"] and ds.images.width.tolist() == [200]
    assert any("1 circle shape(s) left out" in n for n in ds.notes)


def test_flags_are_attributes(tmp_path: Path) -> None:
    shapes = [
        _shape("car", [[10, 10], [90, 70]], flags={"parked": True, "blurred": False}),
        _shape("licence plate", [[20, 50], [40, 60]]),
    ]
    _write(tmp_path / "src" / "a.json", _doc(shapes))
    ds = svmlp.read(tmp_path / "src")
    assert ds.boxes.attributes is not None
    assert ds.boxes.attributes.tolist() == [{"parked": True, "blurred": False}, None]
    svmlp.write(ds, tmp_path / "out", format="labelme", images="none")
    written = json.loads(next((tmp_path / "out").rglob("a.json")).read_text())
    assert written["shapes"][0]["flags"] == {"parked": True, "blurred": False}
    os.remove(tmp_path / "out" / SIDECAR_NAME)
    back = svmlp.read(tmp_path / "out")
    assert back.boxes.attributes is not None and back.boxes.attributes[0] == {
        "parked": True,
        "blurred": False,
    }


def test_a_group_that_is_not_one_vehicle_with_plates_is_noted(tmp_path: Path) -> None:
    shapes = [
        _shape("car", [[10, 10], [90, 70]], group=4),
        _shape("truck", [[100, 10], [190, 70]], group=4),
        _shape("plate", [[60, 30], [70, 35]], group=4),
    ]
    ds = svmlp.read(_write(tmp_path / "a.json", _doc(shapes)))
    assert (ds.boxes.parent == -1).all()
    assert any("not one vehicle with its plates" in n for n in ds.notes)


def test_image_paths(tmp_path: Path) -> None:
    _image(tmp_path / "x.jpg", (64, 48))
    _write(tmp_path / "x.json", _doc([], image="C:\\Users\\me\\old\\x_renamed.jpg"))  # stale: the stem wins
    _image(tmp_path / "sub" / "pics" / "y.png", (32, 16))
    _write(tmp_path / "sub" / "y.json", _doc([], image="pics/y.png"))  # relative to the JSON
    _write(tmp_path / "z.json", _doc([_shape("car", [[1, 1], [5, 5]])], image="gone.jpg", imageData="AAAA"))
    ds = svmlp.read(tmp_path)
    assert sorted(ds.images.file_name.tolist()) == ["gone.jpg", "sub/pics/y.png", "x.jpg"]
    sizes = dict(zip(ds.images.file_name.tolist(), ds.images.width.tolist()))
    assert sizes == {"x.jpg": 200, "sub/pics/y.png": 200, "gone.jpg": 200}  # the JSON's frame
    headers = dict(zip(ds.images.file_name.tolist(), ds.images.header_width.tolist()))
    assert headers == {"x.jpg": 64, "sub/pics/y.png": 32, "gone.jpg": 0}


def test_an_image_path_climbing_out_is_not_followed(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", _doc([_shape("car", [[1, 1], [5, 5]])], image="../../etc/passwd"))
    assert "leads outside the data set" in _one_line(tmp_path)
    ds = svmlp.read(path.parent, strict=False)
    assert ds.images.file_name.tolist() == ["a.jpg"] and [c for c, _ in ds.read_issues] == ["bad_path"]
    assert ds.images.header_width.tolist() == [0]
    _image(tmp_path / "a.jpg")  # an image of the JSON's stem beside it: taken, no complaint
    assert svmlp.read(tmp_path).images.header_width.tolist() == [200]


def test_split_folders_and_unlabelled_images(tmp_path: Path) -> None:
    _write(tmp_path / "train" / "a.json", _doc([_shape("car", [[1, 1], [5, 5]])]))
    _image(tmp_path / "train" / "a.jpg")
    _image(tmp_path / "train" / "b.jpg")
    _write(tmp_path / "val" / "c.json", _doc([], image="c.jpg"))
    ds = svmlp.read(tmp_path)
    assert ds.splits == ["train", "val"]
    assert dict(zip(ds.images.file_name.tolist(), ds.images.labelled.tolist())) == {
        "a.jpg": True,
        "b.jpg": False,
        "c.jpg": True,
    }


def test_one_file_is_one_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", _doc([_shape("car", [[1, 1], [5, 5]])]))
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "other.jpg")
    ds = svmlp.read(path)
    assert ds.images.file_name.tolist() == ["a.jpg"] and ds.images.header_width.tolist() == [200]


def test_a_json_that_is_not_labelme_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", _doc([]))
    _write(tmp_path / "meta.json", {"classes": ["car"]})
    assert "meta.json: Object missing required field `shapes`" in _one_line(tmp_path)


# -- round trips ------------------------------------------------------------------------------------


def test_round_trip_through_labelme(tmp_path: Path) -> None:
    src = generate_annotations(30, seed=3, unlabelled=0.1)
    svmlp.write(src, tmp_path / "lm", format="labelme", images="none")
    back = svmlp.read(tmp_path / "lm")
    assert_same_dataset(src, back)
    assert back.notes == []


def test_the_files_alone_keep_links_text_corners_and_splits(tmp_path: Path) -> None:
    """Without the sidecar (what LabelMe gives back): links from group ids, text from
    descriptions, corners from four-point polygons, splits from the folders."""
    src = generate_annotations(20, seed=5)
    out = tmp_path / "lm"
    svmlp.write(src, out, format="labelme", images="none")
    first = json.loads(next((out / "images" / "train").glob("*.json")).read_text())
    assert {s["shape_type"] for s in first["shapes"]} <= {"rectangle", "polygon"}
    os.remove(out / SIDECAR_NAME)
    back = svmlp.read(out)
    assert back.splits == src.splits
    assert_same_dataset(src, back, ids=False, category_ids=False, keeps={"text", "corners"}, sizes=True)


def test_an_edited_file_drops_its_sidecar_record(tmp_path: Path) -> None:
    src = generate_annotations(10, seed=2, negatives=0.0)
    out = tmp_path / "lm"
    svmlp.write(src, out, format="labelme", images="none")
    edited = next(
        p for p in (out / "images" / "train").glob("*.json") if len(json.loads(p.read_text())["shapes"]) > 1
    )
    doc = json.loads(edited.read_text())
    before = len(doc["shapes"])
    doc["shapes"] = doc["shapes"][:1]
    edited.write_text(json.dumps(doc))
    back = svmlp.read(out)
    assert any("1 label file(s) changed since svmlp wrote them" in n for n in back.notes)
    assert len(back.boxes) == len(src.boxes) - before + 1


# -- hostile files ----------------------------------------------------------------------------------


def test_a_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a.json")
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(_one_line(tmp_path, format="labelme")), daemon=True)
    worker.start()
    worker.join(10)
    assert done and "a.json" in done[0]


def test_deep_nesting_and_garbage(tmp_path: Path) -> None:
    deep = tmp_path / "deep" / "a.json"
    deep.parent.mkdir()
    deep.write_text('{"shapes": [], "flags": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "a.json" in _one_line(deep.parent, format="labelme")
    cases = [
        "{",
        "\xff\xfe",
        "[]",
        '{"shapes": [{"label": "car", "points": [[1, 2]], "shape_type": "rectangle"}]}',
        '{"shapes": [{"label": "car", "points": [["a", 2], [3, 4]]}]}',
        '{"shapes": [], "imageWidth": 99999999999999999999}',
    ]
    for k, text in enumerate(cases):
        folder = tmp_path / f"bad{k}"
        folder.mkdir()
        (folder / "a.json").write_bytes(text.encode("latin-1"))
        assert _one_line(folder, format="labelme").startswith(str(folder / "a.json"))


def test_plugin_shape() -> None:
    assert labelme.NAME == "labelme" and labelme.ROUND_TRIP.tolerance == 0.0
