"""The read-only plate benchmarks: UFPR-ALPR/RodoSol, OpenALPR, CCPD (fixtures built from each
format's documented description)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp.formats import FORMATS


def _image(path: Path, size: tuple[int, int] = (64, 48), ext: str = ".png") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


# -- UFPR-ALPR / RodoSol --------------------------------------------------------------------------

_UFPR = """camera: GoPro Hero4 Silver
position_vehicle: 10 5 40 30
\ttype: car
\tmake: Renault
plate: AYH-9613
position_plate: 20 25 12 5
corners: 20,25 32,25 32,30 20,30
\tchar 1: 21 26 2 3
\tchar 2: 24 26 2 3
"""

_RODOSOL = """type: motorcycle
plate: ABC1D23
layout: Brazilian
corners: 5,6 15,5 16,10 6,11
"""


def _ufpr(root: Path) -> Path:
    for split, track, n in (
        ("training", "track0001", 2),
        ("validation", "track0002", 1),
        ("testing", "track0003", 1),
    ):
        for k in range(n):
            stem = f"{track}[{k:02d}]"
            _image(root / split / track / f"{stem}.png")
            (root / split / track / f"{stem}.txt").write_text(_UFPR)
    return root


def test_ufpr_links_text_corners_splits(tmp_path: Path) -> None:
    root = _ufpr(tmp_path / "UFPR-ALPR")
    assert svmlp.detect(root) == "ufpr"
    ds = svmlp.read(root)
    assert len(ds) == 4 and len(ds.boxes) == 8
    assert [c.name for c in ds.categories] == ["car", "plate"]
    assert dict(zip(*np.unique(ds.images.split, return_counts=True))) == {"train": 2, "val": 1, "test": 1}
    assert "track0001/track0001[00].png" in ds.images.file_name.tolist() and (ds.images.width == 64).all()
    b = ds.boxes
    plates = np.flatnonzero(ds.role_mask("child"))
    assert len(plates) == 4 and (b.parent[plates] == plates - 1).all() and (b.link_score[plates] == 1.0).all()
    assert b.text is not None and set(b.text[plates]) == {"AYH-9613"}
    assert b.corners is not None and b.corners[plates[0]].tolist() == [[20, 25], [32, 25], [32, 30], [20, 30]]
    assert b.xyxy[plates[0]].tolist() == [20, 25, 32, 30] and b.xyxy[0].tolist() == [10, 5, 50, 35]
    with_chars = svmlp.read(root, with_chars=True)
    assert len(with_chars.boxes) == 16 and [c.name for c in with_chars.categories][-1] == "char"


def test_rodosol_plate_from_corners(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "cars-me" / "img_000001.jpg")
    (tmp_path / "images" / "cars-me" / "img_000001.txt").write_text(_RODOSOL)
    ds = svmlp.read(tmp_path, format="ufpr")
    assert len(ds) == 1 and len(ds.boxes) == 1 and ds.images.split.tolist() == ["train"]
    assert ds.boxes.xyxy[0].tolist() == [5, 5, 16, 11] and ds.boxes.parent[0] == -1
    assert ds.boxes.text is not None and ds.boxes.text[0] == "ABC1D23"


def _rodosol(root: Path, listing: str) -> Path:
    for sub, n in (("cars-br", 3), ("motorcycles-me", 1)):
        for k in range(1, n + 1):
            _image(root / "images" / sub / f"img_{k:06d}.jpg", ext=".jpg")
            (root / "images" / sub / f"img_{k:06d}.txt").write_text(_RODOSOL)
    (root / "split.txt").write_text(listing)
    return root


def test_rodosol_split_list_decides(tmp_path: Path) -> None:
    root = _rodosol(
        tmp_path / "RodoSol-ALPR",
        "./images/cars-br/img_000001.jpg;training\n"
        "./images/cars-br/img_000002.jpg;validation\n\n"
        "images/motorcycles-me/img_000001.jpg;testing\n",
    )
    ds = svmlp.read(root, format="ufpr")
    by_name = dict(zip(ds.images.file_name.tolist(), ds.images.split.tolist(), strict=True))
    assert by_name == {
        "images/cars-br/img_000001.jpg": "train",
        "images/cars-br/img_000002.jpg": "val",
        "images/cars-br/img_000003.jpg": "train",
        "images/motorcycles-me/img_000001.jpg": "test",
    }
    assert any("1 image(s) not in" in n and "split.txt" in n for n in ds.notes)


def test_rodosol_bad_split_list_names_line(tmp_path: Path) -> None:
    root = _rodosol(tmp_path / "r", "./images/cars-br/img_000001.jpg;training\nimg_2.jpg;holdout\n")
    with pytest.raises(svmlp.AnnotationError, match=r"split\.txt:2: expected 'image path;training"):
        svmlp.read(root, format="ufpr")


def test_with_chars_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from svmlp.cli import main

    root = _ufpr(tmp_path / "UFPR-ALPR")
    assert main(["convert", str(root), "--to", "coco", "-o", str(tmp_path / "c"), "--with-chars", "-q"]) == 0
    coco = json.loads(next((tmp_path / "c").rglob("*.json")).read_text())
    assert [c["name"] for c in coco["categories"]] == ["car", "plate", "char"]
    assert main(["stats", str(tmp_path / "c"), "--with-chars"]) == 2
    assert "--with-chars applies to UFPR-ALPR/RodoSol sources, not coco" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("position_plate: 1 2 x 4", "position_plate: expected 4 numbers"),
        ("corners: 1,2 3,4", "corners: expected 8"),
    ],
)
def test_ufpr_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    _image(tmp_path / "training" / "a.png")
    (tmp_path / "training" / "a.txt").write_text(f"plate: ABC1234\n{line}\n")
    with pytest.raises(svmlp.AnnotationError, match=rf"a\.txt:2: {message}") as info:
        svmlp.read(tmp_path, format="ufpr")
    assert "\n" not in str(info.value)


def test_ufpr_fifo_does_not_hang(tmp_path: Path) -> None:
    _image(tmp_path / "training" / "a.png")
    os.mkfifo(tmp_path / "training" / "a.txt")
    with pytest.raises(svmlp.SvmlpError):
        svmlp.read(tmp_path, format="ufpr")


def test_read_only_formats_are_not_written(tmp_path: Path) -> None:
    ds = svmlp.read(_ufpr(tmp_path / "u"))
    assert "ufpr" not in FORMATS.writable() and "coco" in FORMATS.writable()
    with pytest.raises(svmlp.UsageError, match="does not write it; write one of svmlp, coco"):
        svmlp.write(ds, tmp_path / "out", format="ufpr")
    assert not (tmp_path / "out").exists()
    assert len(svmlp.write(ds, tmp_path / "coco", format="coco").lines()) >= 1


# -- OpenALPR --------------------------------------------------------------------------------------


def _openalpr(root: Path) -> Path:
    for region, n in (("us", 2), ("eu", 1)):
        for k in range(n):
            _image(root / region / f"car{k}.jpg")
            _image(root / region / f"car{k}.png", (10, 10))
            (root / region / f"car{k}.txt").write_text(f"car{k}.jpg\t10\t12\t20\t8\tAB{k}123\n")
    return root


def test_openalpr_regions_are_splits(tmp_path: Path) -> None:
    root = _openalpr(tmp_path / "endtoend")
    assert svmlp.detect(root) == "openalpr"
    ds = svmlp.read(root)
    assert len(ds) == 3 and len(ds.boxes) == 3 and sorted(ds.splits) == ["eu", "us"]
    assert [c.name for c in ds.categories] == ["plate"] and (ds.boxes.parent == -1).all()
    assert (
        ds.images.file_name.tolist() == ["car0.jpg", "car0.jpg", "car1.jpg"] and (ds.images.width == 64).all()
    )
    assert ds.boxes.text is not None and ds.boxes.text.tolist() == ["AB0123", "AB0123", "AB1123"]
    assert ds.boxes.xyxy[0].tolist() == [10, 12, 30, 20]
    one = svmlp.read(root / "us", format="openalpr")
    assert len(one) == 2 and one.splits == ["us"]


@pytest.mark.parametrize(
    ("text", "where"),
    [("car0.jpg 1 2 x 4 AB\n", ":1:"), ("\ncar0.jpg 1 2 3 4 AB\ncar0.jpg 1 2 3 4 AB\n", ":3:")],
)
def test_openalpr_bad_line(tmp_path: Path, text: str, where: str) -> None:
    _image(tmp_path / "us" / "car0.jpg")
    (tmp_path / "us" / "car0.txt").write_text(text)
    with pytest.raises(svmlp.AnnotationError, match=rf"car0\.txt{where}") as info:
        svmlp.read(tmp_path, format="openalpr")
    assert "\n" not in str(info.value)


def test_openalpr_fifo_does_not_hang(tmp_path: Path) -> None:
    _image(tmp_path / "us" / "a.jpg")
    os.mkfifo(tmp_path / "us" / "a.txt")
    with pytest.raises(svmlp.SvmlpError):
        svmlp.read(tmp_path, format="openalpr")


# -- CCPD ------------------------------------------------------------------------------------------

_CCPD = "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg"
_GREEN = "01-90_85-10&20_40&30-40&30_10&30_10&20_40&20-0_0_3_24_30_31_32_33-100-20.jpg"


def _ccpd(root: Path) -> Path:
    _image(root / "ccpd_base" / _CCPD, (720, 1160))
    _image(root / "ccpd_green" / _GREEN, (720, 1160))
    _image(root / "ccpd_np" / "0123.jpg", (720, 1160))
    return root


def test_ccpd_name_gives_box_corners_text(tmp_path: Path) -> None:
    root = _ccpd(tmp_path / "CCPD2019")
    assert svmlp.detect(root) == "ccpd"
    ds = svmlp.read(root)
    assert len(ds) == 3 and len(ds.boxes) == 2 and ds.images.labelled.sum() == 2
    rows = {name: k for k, name in enumerate(ds.images.file_name.tolist())}
    assert ds.images.split[rows[f"ccpd_base/{_CCPD}"]] == "train"
    assert ds.images.split[rows[f"ccpd_green/{_GREEN}"]] == "test"
    b = ds.boxes
    assert b.text is not None and b.corners is not None
    first = int(np.flatnonzero(b.image == rows[f"ccpd_base/{_CCPD}"])[0])
    assert b.text[first] == "皖A" + "".join(
        "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"[i] for i in (22, 27, 27, 33, 16)
    )
    assert b.xyxy[first].tolist() == [154, 383, 386, 473]
    assert b.corners[first].tolist() == [[154, 383], [363, 402], [386, 473], [177, 454]]
    green = int(np.flatnonzero(b.image == rows[f"ccpd_green/{_GREEN}"])[0])
    assert b.text[green] == "皖AD0" + "6789"


def test_ccpd_split_lists(tmp_path: Path) -> None:
    root = _ccpd(tmp_path / "c")
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text(f"ccpd_base/{_CCPD}\n")
    (root / "splits" / "test.txt").write_text(f"ccpd_green/{_GREEN}\n")
    ds = svmlp.read(root, format="ccpd")
    assert sorted(ds.splits) == ["test", "val"] and len(ds) == 2
    (root / "splits" / "train.txt").write_text("../escape.jpg\n")
    with pytest.raises(svmlp.AnnotationError, match=r"train\.txt:1: ") as info:
        svmlp.read(root, format="ccpd")
    assert "\n" not in str(info.value)


def test_ccpd_bad_name(tmp_path: Path) -> None:
    _image(tmp_path / "ccpd_base" / "1-2-3&4_5&6-x-0_0_1-2-3.jpg")
    _image(tmp_path / "ccpd_base" / _CCPD)
    with pytest.raises(svmlp.AnnotationError, match="not a CCPD name") as info:
        svmlp.read(tmp_path, format="ccpd")
    assert "\n" not in str(info.value)


def test_ccpd_fifo_split_list_does_not_hang(tmp_path: Path) -> None:
    root = _ccpd(tmp_path / "c")
    (root / "splits").mkdir()
    os.mkfifo(root / "splits" / "train.txt")
    with pytest.raises(svmlp.SvmlpError):
        svmlp.read(root, format="ccpd")
