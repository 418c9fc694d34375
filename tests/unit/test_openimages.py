"""Open Images boxes (read only): the Datumaro fixture in place, and hand-built sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp

FIXTURE = Path("/work/shared/fixtures/datumaro/open_images_dataset/v6")
_HEADER = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n"


@pytest.mark.skipif(not FIXTURE.is_dir(), reason="shared fixture not here")
def test_the_datumaro_fixture() -> None:
    assert svmlp.detect(FIXTURE) == "openimages"
    ds = svmlp.read(FIXTURE)
    assert len(ds) == 4 and len(ds.boxes) == 2 and sorted(ds.splits) == ["test", "train", "val"]
    assert ds.images.labelled.sum() == 2
    b_row = ds.images.file_name.tolist().index("b.jpg")
    assert (ds.images.width[b_row], ds.images.height[b_row]) == (8, 2)  # images.meta: b 2 8
    assert np.allclose(ds.boxes.xyxy, [[1.6, 0.6, 8.0, 1.0], [3.5, 0.0, 4.0, 5.0]])
    assert ds.boxes.iscrowd.tolist() == [False, True] and ds.boxes.occluded.tolist() == [-1, 1]
    assert [c.name for c in ds.categories] == ["Generic label #0", "Generic label #3"]


def _set(root: Path, rows: str) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "validation").mkdir(parents=True)
    Image.new("RGB", (100, 50)).save(root / "images" / "validation" / "x1.jpg")
    (root / "annotations" / "class-descriptions-boxable.csv").write_text(
        "/m/01jfm_,Vehicle registration plate\n/m/0k4j,Car\n"
    )
    (root / "annotations" / "validation-annotations-bbox.csv").write_text(_HEADER + rows)
    return root


def test_plates_and_vehicles_get_their_roles(tmp_path: Path) -> None:
    root = _set(
        tmp_path / "oi",
        "x1,xclick,/m/0k4j,1,0.1,0.9,0.2,1.0,0,1,0,0,0\nx1,xclick,/m/01jfm_,1,0.4,0.5,0.8,0.9,0,0,0,0,0\n",
    )
    ds = svmlp.read(root)
    assert ds.splits == ["val"] and len(ds.boxes) == 2
    roles = {c.name: c.role for c in ds.categories}
    assert roles == {"Vehicle registration plate": "child", "Car": "parent"}
    assert np.allclose(ds.boxes.xyxy[ds.role_mask("child")], [[40, 40, 50, 45]])
    assert (ds.boxes.parent == -1).all() and ds.boxes.truncated.tolist().count(1) == 1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x1,xclick,/m/0k4j,1,0.1,zz,0.2,1.0,0,1,0,0,0\n", r"validation-annotations-bbox\.csv:2: XMin"),
        ("x1,xclick,/m/0k4j,1\n", r"validation-annotations-bbox\.csv:2: 4 fields"),
        (
            "../x1,xclick,/m/0k4j,1,0.1,0.2,0.2,1.0,0,1,0,0,0\n",
            r"validation-annotations-bbox\.csv:2: ImageID",
        ),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(svmlp.AnnotationError, match=message) as info:
        svmlp.read(_set(tmp_path / "oi", rows))
    assert "\n" not in str(info.value)


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    root = _set(tmp_path / "oi", "")
    os.remove(root / "annotations" / "validation-annotations-bbox.csv")
    os.mkfifo(root / "annotations" / "validation-annotations-bbox.csv")
    with pytest.raises(svmlp.SvmlpError):
        svmlp.read(root, format="openimages")
