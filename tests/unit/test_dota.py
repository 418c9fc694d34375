"""DOTA (``labelTxt/``): oriented boxes in pixels, read with their corners, written back exactly.

The datumaro fixture is read in place; the other data sets are built in ``tmp_path``. Each is
read with auto-detection, and the source is left as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_dataset, kept_by
from PIL import Image

import svmlp
from svmlp import synth
from svmlp.cli import main
from svmlp.formats._sidecar import SIDECAR_NAME


def _image(path: Path, w: int = 40, h: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (10, 20, 30)).save(path)
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


def _read(root: Path) -> svmlp.Dataset:
    before = _digest(root)
    assert svmlp.detect(root) == "dota"
    ds = svmlp.read(root)
    assert _digest(root) == before, "reading changed the source"
    return ds


def test_datumaro_fixture(fixtures_dir: Path) -> None:
    root = fixtures_dir / "datumaro" / "dota_dataset"
    ds = _read(root)
    assert ds.splits == ["train", "val"] and ds.notes == []
    assert [(c.id, c.name) for c in ds.categories] == [(0, "label_0"), (1, "label_1")]
    assert ds.images.file_name.tolist() == ["train_001.jpg", "train_002.jpg", "val_001.jpg"]
    np.testing.assert_array_equal(ds.boxes.xyxy, [[0, 0, 2, 2], [1, 1, 5, 5], [0, 0, 1, 1], [1, 2, 10, 5]])
    assert ds.boxes.corners is not None
    np.testing.assert_array_equal(ds.boxes.corners[3], [[1, 2], [1, 5], [10, 5], [10, 2]])
    assert ds.boxes.difficult.tolist() == [0, 0, 0, 0]
    assert ds.images.label_file.tolist() == [
        str(root / "train" / "labelTxt" / "train_001.txt"),
        str(root / "train" / "labelTxt" / "train_002.txt"),
        str(root / "val" / "labelTxt" / "val_001.txt"),
    ]
    one = _read(root / "val")  # one split folder: its name is the split
    assert one.splits == ["val"] and len(one.boxes) == 2


def test_header_lines_difficulty_and_rows_without_it(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "P0001.png")
    _text(
        tmp_path / "labelTxt" / "P0001.txt",
        "imagesource:GoogleEarth\ngsd:0.146343590398\n"
        "10 5 30 5 30 15 10 15 small-vehicle 1\n"
        "1.5 2.5 8 2 8.5 9 2 9.5 large-vehicle 0\n"
        "0 0 4 0 4 4 0 4 plane\n",
    )
    ds = _read(tmp_path)
    assert ds.splits == ["train"] and ds.notes == []
    assert [c.name for c in ds.categories] == ["large-vehicle", "plane", "small-vehicle"]  # sorted
    assert [ds.categories[k].name for k in ds.boxes.category] == ["small-vehicle", "large-vehicle", "plane"]
    assert ds.boxes.difficult.tolist() == [1, 0, 0]
    np.testing.assert_array_equal(ds.boxes.xyxy[1], [1.5, 2, 8.5, 9.5])
    assert ds.image(0).width == 40  # from the image header: DOTA stores no size


def test_a_split_with_images_and_no_labels_is_said(tmp_path: Path) -> None:
    """DOTA's test split has images only; a labelTxt/ folder of another name reads the same."""
    _image(tmp_path / "train" / "images" / "a.png")
    _text(tmp_path / "train" / "labelTxt" / "a.txt", "0 0 4 0 4 4 0 4 ship 0\n")
    _image(tmp_path / "test" / "images" / "b.png")
    _text(tmp_path / "test" / "labelTxt-v1.5" / "b.txt", "0 0 4 0 4 4 0 4 ship 0\n")
    ds = _read(tmp_path)
    assert sorted(ds.splits) == ["test", "train"] and len(ds) == 2
    assert ds.images.labelled.tolist() == [False, True]
    (note,) = ds.notes
    assert note.startswith(f"{tmp_path / 'test' / 'images'}: none of its 1 image(s) has a label file")
    assert str(tmp_path / "test" / "labelTxt" / "b.txt") in note


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0 0 4 0 4 4 ship 0", r"a\.txt:1: 8 values; expected x1 y1 x2 y2"),
        ("0 0 4 0 4 4 0 x ship 0", r"a\.txt:1: expected 8 coordinates"),
        ("0 0 4 0 4 4 0 nan ship 0", r"a\.txt:1: coordinates must be finite"),
        ("0 0 4 0 4 4 0 4 ship hard", r"a\.txt:1: difficulty 'hard' is not 0 or 1"),
    ],
)
def test_bad_rows_are_one_line_naming_file_and_line(
    row: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(tmp_path / "images" / "a.png")
    _text(tmp_path / "labelTxt" / "a.txt", row + "\n")
    with pytest.raises(svmlp.AnnotationError, match=message):
        svmlp.read(tmp_path)
    assert main(["stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_label_file_with_no_image(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png")
    _text(tmp_path / "labelTxt" / "a.txt", "0 0 4 0 4 4 0 4 ship 0\n")
    _text(tmp_path / "labelTxt" / "b.txt", "0 0 4 0 4 4 0 4 ship 0\n")
    with pytest.raises(svmlp.AnnotationError, match=r"b\.txt: label file has no image"):
        svmlp.read(tmp_path)
    lenient = svmlp.read(tmp_path, strict=False)
    assert [c for c, _ in lenient.read_issues] == ["orphan_label"] and len(lenient.boxes) == 1


def test_a_label_linked_out_of_the_data_set_is_refused(tmp_path: Path) -> None:
    secret = _text(tmp_path / "outside" / "secret.txt", "0 0 4 0 4 4 0 4 SECRET 0\n")
    root = tmp_path / "data"
    _image(root / "images" / "a.png")
    (root / "labelTxt").mkdir(parents=True)
    (root / "labelTxt" / "a.txt").symlink_to(secret)
    with pytest.raises(svmlp.AnnotationError, match="symbolic link") as info:
        svmlp.read(root)
    assert "SECRET" not in str(info.value)


def test_write_and_read_back_exactly(tmp_path: Path) -> None:
    """Corners, a plate's box apart from them, links, flags and ids: exact, as declared."""
    ds = synth.generate(tmp_path / "synth", 5, seed=7, size=(160, 120))
    c = ds.boxes.corners
    assert c is not None
    centre = c.mean(axis=1, keepdims=True)
    boxes = ds.boxes.take(np.arange(len(ds.boxes)))
    boxes.corners = centre + 0.9 * (c - centre)
    boxes.difficult = (np.arange(len(boxes)) % 3 == 0).astype(np.int8) - (np.arange(len(boxes)) % 3 == 1)
    ds = ds.replace(boxes=boxes)
    report = svmlp.write(ds, tmp_path / "dota", format="dota")
    assert report.notes == []
    back = _read(tmp_path / "dota")
    assert_same_dataset(ds, back, **kept_by("dota"))
    assert back.notes == []
    rows = [
        r.split() for f in (tmp_path / "dota").rglob("labelTxt/*.txt") for r in f.read_text().splitlines()
    ]
    assert len(rows) == int((~ds.boxes.iscrowd).sum())
    assert all(
        len(r) == 10 and r[9] in ("0", "1") and all(np.isfinite(float(v)) for v in r[:8]) for r in rows
    )


def test_the_rows_alone_are_a_dota_set(tmp_path: Path) -> None:
    """Without the sidecar (what the DOTA devkit sees): classes from the rows, boxes as corners."""
    ds = synth.generate(tmp_path / "synth", 3, seed=8, size=(160, 120))
    renamed = [
        dataclasses.replace(c, name="licence plate") if c.role == "child" else c for c in ds.categories
    ]
    ds = ds.replace(categories=renamed)
    report = svmlp.write(ds, tmp_path / "dota", format="dota")
    assert (
        "class name 'licence plate' written as 'licence-plate' (a DOTA row is split at white space)"
        in report.notes
    )
    (tmp_path / "dota" / SIDECAR_NAME).unlink()
    back = _read(tmp_path / "dota")
    used = {ds.categories[k].name.replace(" ", "-") for k in ds.boxes.category[~ds.boxes.iscrowd].tolist()}
    assert [c.name for c in back.categories] == sorted(used)
    assert len(back.boxes) == int((~ds.boxes.iscrowd).sum())
    c = back.boxes.corners
    np.testing.assert_array_equal(back.boxes.xyxy, np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1))


def test_convert_from_dota_to_every_format(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "datumaro" / "dota_dataset"
    for fmt in svmlp.FORMATS.writable():
        assert main(["convert", str(src), "--to", fmt, "-o", str(tmp_path / fmt)]) == 0, fmt
        back = svmlp.read(tmp_path / fmt)
        assert len(back.boxes) == 4 and back.boxes.corners is not None, fmt
