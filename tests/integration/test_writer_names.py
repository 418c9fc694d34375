"""Every registered writer refuses a name that would climb out of its output, before writing anything.

A :class:`~svmlp.model.Dataset` checks its names when built, so a hostile one reaches a writer only
through a bypass (``validate=False``, or a column changed afterwards): these tests build exactly
that, so that each writer's own check (:func:`svmlp.model.paths.check_destinations`) is what stands
between the name and the disk. Removing that call from any writer makes a test here fail.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import svmlp
from svmlp.model import BoxTable, Category, Dataset, ImageTable

#: deep enough that none of the names below, joined under any writer's folders, leaves tmp_path
DEPTH = 8

HOSTILE_FILES = [
    "../escape.jpg",
    "sub/../../escape.jpg",
    "../../../../../../escape/x.jpg",
    "/abs/escape.jpg",
]
#: split names climb out only through a join (``..`` alone makes "...txt" of VOC's list, a name)
HOSTILE_SPLITS = ["../escape", "a/../../escape"]


def _dataset(file_name: str = "b.jpg", split: str = "train") -> Dataset:
    """Two images, a car with its plate on the second; built without the model's checks."""
    images = ImageTable.build(
        id=[1, 2], file_name=["a.jpg", file_name], split=["train", split], width=[100, 100], height=[80, 80]
    )
    boxes = BoxTable.build(
        id=[1, 2, 3],
        image=[0, 1, 1],
        category=[0, 0, 1],
        xyxy=[[1, 1, 50, 50], [10, 10, 60, 60], [20, 40, 35, 48]],
        parent=[-1, -1, 1],
        link_score=[np.nan, np.nan, 1.0],
    )
    cats = [Category(1, "car", role="parent"), Category(2, "plate", role="child")]
    return Dataset(cats, images, boxes, validate=False)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: what a refused write must leave as it was."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
    return out


def _deep(tmp_path: Path) -> Path:
    folder = tmp_path.joinpath(*[f"d{k}" for k in range(DEPTH)])
    folder.mkdir(parents=True)
    return folder


def test_the_bypass_is_what_the_model_refuses() -> None:
    """The data sets below are ones the model would never build."""
    for name in HOSTILE_FILES:
        with pytest.raises(svmlp.SvmlpError):
            Dataset(_dataset(name).categories, _dataset(name).images, _dataset(name).boxes)
    _dataset().replace()  # and the harmless twin is a valid data set


@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_harmless_twin_is_written(fmt: str, tmp_path: Path) -> None:
    """The same data set with harmless names writes: the refusals below are the names' doing."""
    out = _deep(tmp_path) / "out"
    svmlp.write(_dataset(), out, format=fmt, images="none")
    assert any(out.iterdir())


@pytest.mark.parametrize("name", HOSTILE_FILES)
@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_plugin_writer_refuses_a_hostile_file_name(fmt: str, name: str, tmp_path: Path) -> None:
    """The format's own ``write``, called as the registry calls it (into an empty folder)."""
    out = _deep(tmp_path) / "out"
    out.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(svmlp.SvmlpError) as info:
        svmlp.FORMATS[fmt].write(_dataset(name), out)
    assert "\n" not in str(info.value)
    assert _snapshot(tmp_path) == before, "the writer wrote something before refusing"


@pytest.mark.parametrize("split", HOSTILE_SPLITS)
@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_plugin_writer_refuses_a_hostile_split(fmt: str, split: str, tmp_path: Path) -> None:
    out = _deep(tmp_path) / "out"
    out.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(svmlp.SvmlpError):
        svmlp.FORMATS[fmt].write(_dataset(split=split), out)
    assert _snapshot(tmp_path) == before, "the writer wrote something before refusing"


@pytest.mark.parametrize("images", ["none", "copy"])
@pytest.mark.parametrize("name", HOSTILE_FILES)
@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_write_refuses_a_hostile_file_name(fmt: str, name: str, images: str, tmp_path: Path) -> None:
    """Through :func:`svmlp.write`: an error, no output folder, nothing beside or above it."""
    out = _deep(tmp_path) / "out"
    before = _snapshot(tmp_path)
    with pytest.raises(svmlp.SvmlpError):
        svmlp.write(_dataset(name), out, format=fmt, images=images)
    assert not out.exists()
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("name", HOSTILE_FILES)
@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_images_are_not_placed_by_a_hostile_name(fmt: str, name: str, tmp_path: Path) -> None:
    """What :func:`svmlp.write` does after the format's writer: each image to the format's
    ``image_destination``, refused for a name that climbs out (the image files exist)."""
    from PIL import Image

    from svmlp.formats._images import place_images

    src = _deep(tmp_path) / "src"
    ds = _dataset(name)
    ds.roots = {"train": src / "images"}
    for rel in ("images/a.jpg", "escape.jpg"):  # the second is what "../escape.jpg" reaches
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(src / rel)
    out = src.parent / "out"
    out.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(svmlp.SvmlpError):
        place_images(ds, out, svmlp.FORMATS[fmt].image_destination, "copy")
    assert _snapshot(tmp_path) == before, "an image was placed before the refusal"
