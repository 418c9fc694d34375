"""YOLO as people have it: names files of other tools, oriented and polygon rows, label folders
that are missing, and a data.yaml that ultralytics' dataset check accepts.

Every data set here is built in ``tmp_path`` (small images written by Pillow, label text by hand,
or svmlp.synth and svmlp.write), read with auto-detection, and left as it was.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import svmlp
from svmlp import synth
from svmlp.cli import main
from svmlp.model import BoxTable

W, H = 40, 20


def _image(path: Path, w: int = W, h: int = H) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (90, 120, 150)).save(path)
    return path


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(root: Path, expected_format: str = "yolo") -> svmlp.Dataset:
    """Detected, read, and the source unchanged."""
    before = _digest(root)
    assert svmlp.detect(root) == expected_format
    ds = svmlp.read(root)
    assert _digest(root) == before, "reading changed the source"
    return ds


# -- class-names files of other tools ------------------------------------------------------------


def test_label_studio_export_classes_txt_beside_images_and_labels(tmp_path: Path) -> None:
    """Label Studio's YOLO export: classes.txt, notes.json, images/, labels/ (the JSON is no COCO)."""
    _text(tmp_path / "classes.txt", "car\nlicense plate\n")
    _text(tmp_path / "notes.json", '{"categories": [{"id": 0, "name": "car"}], "info": {}}')
    _image(tmp_path / "images" / "a.jpg")
    _text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n1 0.5 0.75 0.25 0.1\n")
    ds = _read(tmp_path)
    assert [(c.id, c.name, c.role) for c in ds.categories] == [
        (0, "car", "parent"),
        (1, "license plate", "child"),
    ]
    np.testing.assert_allclose(ds.boxes.xyxy, [[10, 5, 30, 15], [15, 14, 25, 16]])
    assert ds.notes == [] and ds.splits == ["train"]


def test_labelimg_classes_txt_in_the_label_folder(tmp_path: Path) -> None:
    """LabelImg saves classes.txt in the folder it saves labels to: a names file, not an orphan label."""
    _text(tmp_path / "labels" / "classes.txt", "vehicle\nplate\n")
    _image(tmp_path / "images" / "a.jpg")
    _text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    ds = _read(tmp_path)
    assert [c.name for c in ds.categories] == ["vehicle", "plate"]
    assert len(ds.boxes) == 1 and ds.notes == []
    assert ds.images.label_file.tolist() == [str(tmp_path / "labels" / "a.txt")]


def test_labelimg_flat_folder_of_images_labels_and_classes_txt(tmp_path: Path) -> None:
    _text(tmp_path / "classes.txt", "car\nplate\n")
    _image(tmp_path / "a.jpg")
    _text(tmp_path / "a.txt", "1 0.5 0.5 0.1 0.1\n")
    _image(tmp_path / "b.jpg")  # no label file: an unlabelled image, as before
    ds = _read(tmp_path)
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg"]
    assert ds.images.labelled.tolist() == [True, False]
    assert ds.images.label_file.tolist() == [str(tmp_path / "a.txt"), ""]
    assert [ds.categories[k].name for k in ds.boxes.category] == ["plate"]


def test_cvat_yolo_1_1_export(tmp_path: Path) -> None:
    """CVAT's "YOLO 1.1": obj.data, obj.names, train.txt naming data/obj_train_data/<image>."""
    _text(
        tmp_path / "obj.data",
        "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n",
    )
    _text(tmp_path / "obj.names", "car\nplate\n")
    _text(tmp_path / "train.txt", "data/obj_train_data/a.jpg\n")
    _image(tmp_path / "obj_train_data" / "a.jpg")
    _text(tmp_path / "obj_train_data" / "a.txt", "0 0.5 0.5 1 1\n")
    ds = _read(tmp_path)
    np.testing.assert_allclose(ds.boxes.xyxy, [[0, 0, W, H]])
    assert any("data/obj.names" in n for n in ds.notes)  # the repaired paths are said


# -- oriented-box and polygon rows keep their points ---------------------------------------------


def _obb_set(root: Path, rows: str) -> Path:
    _text(root / "data.yaml", "train: images/train\nnames: [car, plate]\n")
    _image(root / "images" / "train" / "a.jpg")
    _text(root / "labels" / "train" / "a.txt", rows)
    return root


def test_oriented_row_keeps_its_corners(tmp_path: Path) -> None:
    _obb_set(tmp_path, "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n")
    ds = _read(tmp_path)
    assert ds.boxes.corners is not None and ds.boxes.segmentation is None
    np.testing.assert_allclose(ds.boxes.corners[0], [[10, 10], [20, 5], [30, 10], [20, 15]])
    np.testing.assert_allclose(ds.boxes.xyxy[0], [10, 5, 30, 15])  # the enclosing box


def test_polygon_rows_keep_their_points_as_coco_polygons(tmp_path: Path) -> None:
    """A box row, a triangle, an oriented box and a pentagon in one file: each keeps what it is."""
    rows = (
        "0 0.5 0.5 0.5 0.5\n"
        "0 0 0 1 0 0.5 1\n"
        "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n"
        "1 0.1 0.1 0.2 0.1 0.3 0.2 0.2 0.3 0.1 0.2\n"
    )
    ds = _read(_obb_set(tmp_path, rows))
    b = ds.boxes
    assert len(b) == 4 and b.corners is not None and b.segmentation is not None
    assert np.isnan(b.corners[[0, 1, 3]]).all() and np.isfinite(b.corners[2]).all()
    assert b.segmentation.tolist()[0] is None and b.segmentation.tolist()[2] is None
    np.testing.assert_allclose(b.segmentation[1], [[0, 0, 40, 0, 20, 20]])
    np.testing.assert_allclose(b.segmentation[3], [[4, 2, 8, 2, 12, 4, 8, 6, 4, 4]])
    np.testing.assert_allclose(b.xyxy, [[10, 5, 30, 15], [0, 0, 40, 20], [10, 5, 30, 15], [4, 2, 12, 6]])


def test_oriented_rows_convert_to_coco_and_back_to_yolo_obb(tmp_path: Path) -> None:
    src = _obb_set(tmp_path / "src", "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n")
    before = _digest(src)
    assert main(["convert", str(src), "--to", "coco", "-o", str(tmp_path / "coco")]) == 0
    coco = svmlp.read(tmp_path / "coco")
    np.testing.assert_allclose(coco.boxes.corners[0], [[10, 10], [20, 5], [30, 10], [20, 15]])
    assert main(["convert", str(tmp_path / "coco"), "--to", "yolo-obb", "-o", str(tmp_path / "obb")]) == 0
    assert (
        tmp_path / "obb" / "labels" / "train" / "a.txt"
    ).read_text() == "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n"
    assert svmlp.detect(tmp_path / "obb") == "yolo-obb"
    assert _digest(src) == before


def test_yolo_obb_writes_a_box_without_corners_as_its_four_corners(tmp_path: Path) -> None:
    _obb_set(tmp_path / "src", "0 0.5 0.5 0.5 0.5\n")
    ds = svmlp.read(tmp_path / "src")
    svmlp.write(ds, tmp_path / "obb", format="yolo-obb")
    assert (
        tmp_path / "obb" / "labels" / "train" / "a.txt"
    ).read_text() == "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n"
    back = svmlp.read(tmp_path / "obb")
    assert back.boxes.corners is None  # the sidecar says the box had none
    np.testing.assert_allclose(back.boxes.xyxy, ds.boxes.xyxy)
    same = svmlp.read(tmp_path / "obb", format="yolo")  # the same reader, the same data set
    np.testing.assert_array_equal(same.boxes.xyxy, back.boxes.xyxy)


def test_a_plate_box_apart_from_its_corners_survives_yolo_obb(tmp_path: Path) -> None:
    """The row holds the corners; the sidecar keeps the box, which is not the corners' bounds."""
    ds = synth.generate(tmp_path / "synth", 4, seed=3, size=(160, 120))
    c = ds.boxes.corners
    assert c is not None and np.isfinite(c).all(axis=(1, 2)).any()
    centre = c.mean(axis=1, keepdims=True)
    c = centre + 0.8 * (c - centre)  # a quadrilateral inside the plate's box, not touching it
    ds = ds.replace(boxes=BoxTable(**{**ds.boxes.__dict__, "corners": c}))
    svmlp.write(ds, tmp_path / "obb", format="yolo-obb", images="none")
    back = svmlp.read(tmp_path / "obb")
    np.testing.assert_allclose(back.boxes.xyxy, ds.boxes.xyxy, atol=1e-6, rtol=0)
    np.testing.assert_allclose(back.boxes.corners, c, atol=0, rtol=0)
    assert (back.boxes.parent == ds.boxes.parent).all()


def test_an_edited_oriented_label_is_read_as_it_now_is(tmp_path: Path) -> None:
    _obb_set(tmp_path / "src", "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n")
    svmlp.write(svmlp.read(tmp_path / "src"), tmp_path / "obb", format="yolo-obb")
    _text(tmp_path / "obb" / "labels" / "train" / "a.txt", "1 0 0 0.5 0 0.5 0.5 0 0.5\n")
    back = svmlp.read(tmp_path / "obb")
    assert back.notes == [
        "1 label file(s) changed since svmlp wrote them; their box ids and links were not restored"
    ]
    np.testing.assert_allclose(back.boxes.corners[0], [[0, 0], [20, 0], [20, 10], [0, 10]])


def test_plain_and_foreign_oriented_folders_are_yolo(tmp_path: Path) -> None:
    """Only svmlp's own yolo-obb output (its sidecar says so) is detected as yolo-obb."""
    _obb_set(tmp_path / "foreign", "1 0.25 0.5 0.5 0.25 0.75 0.5 0.5 0.75\n")
    assert svmlp.detect(tmp_path / "foreign") == "yolo"
    assert svmlp.detect(tmp_path / "foreign" / "data.yaml") == "yolo"
    svmlp.write(svmlp.read(tmp_path / "foreign"), tmp_path / "plain", format="yolo", images="none")
    svmlp.write(svmlp.read(tmp_path / "foreign"), tmp_path / "obb", format="yolo-obb", images="none")
    assert svmlp.detect(tmp_path / "plain") == "yolo"
    assert svmlp.detect(tmp_path / "obb") == "yolo-obb"
    assert svmlp.detect(tmp_path / "obb" / "data.yaml") == "yolo-obb"


# -- a label folder that is missing or misnamed is never silent ---------------------------------


def test_images_without_any_label_file_are_said(tmp_path: Path) -> None:
    _text(tmp_path / "data.yaml", "train: images/train\nval: images/val\nnames: [car]\n")
    _image(tmp_path / "images" / "train" / "a.jpg")
    _image(tmp_path / "images" / "val" / "b.jpg")
    _text(tmp_path / "labels" / "val" / "b.txt", "0 0.5 0.5 0.5 0.5\n")
    _text(tmp_path / "label" / "train" / "a.txt", "0 0.5 0.5 0.5 0.5\n")  # misnamed folder
    ds = _read(tmp_path)
    assert len(ds) == 2 and ds.images.labelled.tolist() == [False, True]
    assert len(ds.notes) == 1
    note = ds.notes[0]
    assert note.startswith(f"{tmp_path / 'images' / 'train'}: none of its 1 image(s) has a label file")
    assert str(tmp_path / "labels" / "train" / "a.txt") in note and "unlabelled" in note


def test_unlabelled_images_written_by_svmlp_are_not_a_warning(tmp_path: Path) -> None:
    ds = synth.generate(tmp_path / "synth", 3, seed=1, size=(160, 120), unlabelled=1.0)
    assert not ds.images.labelled.any()
    svmlp.write(ds, tmp_path / "y", format="yolo")
    assert svmlp.read(tmp_path / "y").notes == []
    (tmp_path / "y" / "svmlp.sidecar.json").unlink()  # now nothing says they are meant so
    assert any("has a label file" in n for n in svmlp.read(tmp_path / "y").notes)


# -- data.yaml as ultralytics' dataset check wants it --------------------------------------------


def check_det_dataset(yaml_file: Path, datasets_dir: Path) -> dict[str, object]:
    """The key requirements of ultralytics' ``check_det_dataset`` (ultralytics/data/utils.py),
    reproduced without ultralytics: ``train`` and ``val`` keys (``validation`` renamed), ``names``
    or ``nc`` (lengths equal when both), class names as a list or a 0..n-1 mapping; the root is
    ``path``, or the YAML's folder when ``path`` is empty or missing, and a relative root that does
    not exist (relative to the working folder) goes under the datasets folder; every split path,
    relative to the root, must exist (``val`` is checked by the checker, the others by training);
    each image's label file is its path with the last ``/images/`` turned into ``/labels/``."""
    data = yaml.safe_load(yaml_file.read_text())
    for k in ("train", "val"):
        if k not in data and not (k == "val" and "validation" in data):
            raise SyntaxError(f"{yaml_file} '{k}:' key missing")
    if "names" not in data and "nc" not in data:
        raise SyntaxError(f"{yaml_file} key missing: either 'names' or 'nc' are required")
    if "names" in data and "nc" in data and len(data["names"]) != data["nc"]:
        raise SyntaxError(
            f"{yaml_file} 'names' length {len(data['names'])} and 'nc: {data['nc']}' must match"
        )
    names = data.get("names") or [f"class_{i}" for i in range(data["nc"])]
    names = dict(enumerate(names)) if isinstance(names, list) else names
    assert sorted(names) == list(range(len(names))), "names keys must be 0..n-1"
    path = Path(data.get("path") or yaml_file.parent)
    if not path.exists() and not path.is_absolute():
        path = datasets_dir / path
    out: dict[str, object] = {"names": names, "path": path}
    for k in ("train", "val", "test"):
        if data.get(k):
            entries = data[k] if isinstance(data[k], list) else [data[k]]
            found = [(path / x).resolve() for x in entries]
            missing = [p for p in found if not p.exists()]
            if missing:
                raise FileNotFoundError(f"Dataset images not found, missing path '{missing[0]}'")
            out[k] = found
    return out


def _img2label(image: Path) -> Path:
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(str(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


@pytest.mark.parametrize("fmt", ["yolo", "yolo-obb"])
def test_written_data_yaml_passes_ultralytics_dataset_check(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = synth.generate(tmp_path / "synth", 6, seed=2, size=(160, 120), splits=[("train", 0.5), ("val", 0.5)])
    report = svmlp.write(ds, tmp_path / "out", format=fmt)
    assert not any("data.yaml" in n for n in report.notes)
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert (
        doc["path"] == ""
        and doc["names"] == [c.name for c in ds.categories]
        and doc["nc"] == len(ds.categories)
    )
    assert list(doc)[:3] == ["path", "train", "val"]
    monkeypatch.chdir(tmp_path / "synth")  # the root is the YAML's folder, wherever one runs from
    data = check_det_dataset(tmp_path / "out" / "data.yaml", tmp_path / "datasets")
    assert data["path"] == tmp_path / "out"
    for split in ("train", "val"):
        (folder,) = data[split]  # type: ignore[misc]
        images = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        assert len(images) == int((ds.images.split == split).sum())
        labelled = [p for p in images if _img2label(p).is_file()]
        assert len(labelled) == int(ds.images.labelled[ds.images.split == split].sum())


def test_the_checker_here_refuses_what_ultralytics_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _text(tmp_path / "a.yaml", "train: images/train\nnames: [a]\n")
    with pytest.raises(SyntaxError, match="'val:' key missing"):
        check_det_dataset(tmp_path / "a.yaml", tmp_path)
    _text(tmp_path / "b.yaml", "train: images\nval: images\nnc: 2\nnames: [a]\n")
    with pytest.raises(SyntaxError, match="must match"):
        check_det_dataset(tmp_path / "b.yaml", tmp_path)
    _text(tmp_path / "c.yaml", "path: .\ntrain: images\nval: images\nnames: [a]\n")
    monkeypatch.chdir(tmp_path.parent)  # "." is the working folder to ultralytics: not where the YAML is
    with pytest.raises(FileNotFoundError):
        check_det_dataset(tmp_path / "c.yaml", tmp_path)


def test_a_missing_val_split_is_said_when_writing(tmp_path: Path) -> None:
    ds = synth.generate_annotations(2, seed=4, size=(160, 120), splits=[("train", 1.0)])
    report = svmlp.write(ds, tmp_path / "out", format="yolo", images="none")
    assert [n for n in report.notes if "data.yaml" in n] == [
        "data.yaml has no val: entry (the data set has no split of that name, only train); ultralytics "
        "requires both train: and val:, so add the missing one to data.yaml before training there"
    ]
    assert svmlp.read(tmp_path / "out").splits == ["train"]


def test_ultralytics_oriented_fixture_keeps_its_corners(fixtures_dir: Path, tmp_path: Path) -> None:
    """datumaro's ultralytics OBB set (a 15×10 image), read in place: each row's four points
    scaled to pixels are the box's corners; written as yolo-obb the rows come back, the one
    point past the image (y = -0.009808) clipped to it, with a note."""
    root = fixtures_dir / "datumaro" / "yolo_dataset" / "ultralytics_yolov8_oriented_boxes"
    ds = _read(root)
    rows = [
        [float(v) for v in r.split()] for r in (root / "labels" / "train" / "1.txt").read_text().splitlines()
    ]
    assert ds.boxes.corners is not None and ds.notes == []
    np.testing.assert_allclose(ds.boxes.corners, np.reshape([r[1:] for r in rows], (-1, 4, 2)) * (15, 10))
    report = svmlp.write(ds, tmp_path / "obb", format="yolo-obb", images="none")
    assert any(
        "1 oriented box(es) with corners outside the image had them clipped" in n for n in report.notes
    )
    written = (tmp_path / "obb" / "labels" / "train" / "1.txt").read_text().splitlines()
    assert written[0] == "2 0.146731 0.151795 0.319936 0.301795 0.186603 0.648205 0.013397 0.498205"
    assert written[1] == "4 0.557735 0.090192 0.357735 0.609808 0.242265 0.509808 0.442265 0"
    back = svmlp.read(tmp_path / "obb")
    np.testing.assert_array_equal(back.boxes.corners, ds.boxes.corners)  # exact: the sidecar keeps them


def test_one_split_folder_given_names_the_config_above(tmp_path: Path) -> None:
    """A user pointing at ``train/`` of a set whose ``data.yaml`` lies a level up is told the fix."""
    from PIL import Image

    (tmp_path / "data.yaml").write_text("train: train/images\nval: train/images\nnames: [plate]\n")
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "labels").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "images" / "a.jpg")
    (tmp_path / "train" / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(svmlp.AnnotationError, match=r"data\.yaml names them: give svmlp that file or "):
        svmlp.read(tmp_path / "train", format="yolo")


def test_val_naming_the_train_images_is_read_and_audited(tmp_path: Path) -> None:
    """Tutorials write `val: images/train`: every peer reads it; svmlp reads it, says so, and the
    audit reports the leakage (it used to be refused as 'the label file of two images')."""
    from svmlp.audit import audit

    for k in range(3):
        _image(tmp_path / "images" / "train" / f"a{k}.jpg")
        _text(tmp_path / "labels" / "train" / f"a{k}.txt", "0 0.5 0.5 0.2 0.2\n")
    _text(tmp_path / "data.yaml", "path: ''\ntrain: images/train\nval: images/train\nnames: [car]\n")
    ds = svmlp.read(tmp_path)
    assert ds.splits == ["train", "val"] and len(ds) == 6 and len(ds.boxes) == 6
    assert any("3 image(s) of train are also listed as val" in n and "svmlp audit" in n for n in ds.notes)
    report = audit(tmp_path, probe=False)
    leaks = [i for i in report.issues if i.check == "identical_images_across_splits"]
    assert len(leaks) == 3 and all(i.severity == "error" for i in leaks)
