"""Split, file and class names from a hostile alphabet, read and written in every format.

The only outcomes allowed are an :class:`SvmlpError` or a written output; either way nothing
appears or changes outside the output folder (the data sets sit several folders deep in a
scratch tree that is compared before and after, and an absolute-path token points into a canary
folder that is compared too).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hostile import jpeg, tree_digest

import svmlp
from svmlp.errors import SvmlpError
from svmlp.model.paths import path_problem

CANARY = Path(tempfile.gettempdir()) / "svmlp-hostile-names-canary"
DEPTH = 8  # the data sets sit this many folders below the compared scratch folder
TOKENS = [
    "a",
    "b.jpg",
    ".",
    "..",
    "/",
    "\\",
    "\x00",
    "\n",
    "\r",
    "\u2028",
    "é",
    " ",
    ":",
    "C:",
    "x" * 130,
    f"{CANARY}/",
]
HOSTILE = st.lists(st.sampled_from(TOKENS), min_size=0, max_size=6).map("".join)
#: names that pass the rule (half the examples), so that writes happen and are checked too
SAFE = st.text(alphabet="abcé _-.", min_size=1, max_size=12).filter(lambda n: path_problem(n) is None)
NAMES = st.one_of(SAFE, HOSTILE, SAFE.map(lambda n: f"sub/{n}"))


def _deep(root: Path) -> Path:
    path = root.joinpath(*[f"d{k}" for k in range(DEPTH)])
    path.mkdir(parents=True)
    return path


def _on_disk(name: str) -> bool:
    """Whether a file could be made under this name, for the formats that read names from disk."""
    return path_problem(name) is None


def _write_all(src: Path, work: Path) -> None:
    """Read ``src`` and write it in every format (images copied); SvmlpErrors are fine."""
    for fmt in svmlp.FORMATS.writable():
        out = work / f"out-{fmt}"
        try:
            svmlp.convert(src, out, to=fmt)
        except SvmlpError:
            assert not out.exists() or not any(out.iterdir()), f"{fmt}: a failed write left files"
            continue
        for dirpath, _, filenames in os.walk(out):
            for f in filenames:
                real = (
                    os.path.realpath(Path(dirpath) / f)
                    if not os.path.islink(Path(dirpath) / f)
                    else str(Path(dirpath) / f)
                )
                assert real.startswith(str(out.resolve()) + os.sep), f"{fmt}: {real} outside {out}"


def _check(build) -> None:  # noqa: ANN001
    CANARY.mkdir(exist_ok=True)
    (CANARY / "keep.txt").write_text("canary\n")
    canary_before = tree_digest(CANARY)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work = _deep(root)
        src = work / "src"
        src.mkdir()
        try:
            build(src)
        except (OSError, ValueError):  # a name the file system itself refuses: nothing to read
            return
        src_before = tree_digest(src)
        others_before = {k: v for k, v in tree_digest(root).items() if "/out-" not in k}
        _write_all(src, work)
        assert tree_digest(src) == src_before, "the source changed"
        after = {k: v for k, v in tree_digest(root).items() if "/out-" not in k}
        assert after == others_before, (
            f"written outside the output: {sorted(set(after) ^ set(others_before))}"
        )
    assert tree_digest(CANARY) == canary_before, "written into the canary folder"


@settings(max_examples=40)
@given(split=NAMES, names=st.lists(NAMES, min_size=1, max_size=1), category=NAMES)
def test_coco_names(split: str, names: list[str], category: str) -> None:
    def build(src: Path) -> None:
        doc = {
            "images": [{"id": k + 1, "file_name": n, "width": 64, "height": 48} for k, n in enumerate(names)],
            "annotations": [
                {"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [4, 4, 20, 20]}
                for k in range(len(names))
            ],
            "categories": [{"id": 1, "name": category}],
            "svmlp_split": split,
        }
        (src / "annotations").mkdir()
        (src / "annotations" / "instances_train.json").write_text(json.dumps(doc))
        if path_problem(split, single=True) is None:
            for n in names:
                if _on_disk(n):
                    jpeg(src / "images" / split / n)

    _check(build)


@settings(max_examples=30)
@given(split=NAMES, name=NAMES.filter(lambda n: "/" not in n and "\x00" not in n), category=NAMES)
def test_yolo_names(split: str, name: str, category: str) -> None:
    def build(src: Path) -> None:
        jpeg(src / "images" / "train" / f"{name}.jpg")
        (src / "labels" / "train").mkdir(parents=True)
        (src / "labels" / "train" / f"{name}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
        doc = {split or "train": "images/train", "names": [category]}
        (src / "data.yaml").write_text(json.dumps(doc))  # JSON is YAML, and it escapes anything

    _check(build)


@settings(max_examples=30)
@given(entry=NAMES, filename=NAMES)
def test_voc_names(entry: str, filename: str) -> None:
    from xml.sax.saxutils import escape

    def build(src: Path) -> None:
        (src / "Annotations").mkdir()
        (src / "ImageSets" / "Main").mkdir(parents=True)
        jpeg(src / "JPEGImages" / "a.jpg")
        xml = (
            f"<annotation><filename>{escape(filename)}</filename><size><width>64</width><height>48</height></size>"
            "<object><name>car</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>40</xmax><ymax>30</ymax></bndbox>"
            "</object></annotation>"
        )
        (src / "Annotations" / "a.xml").write_text(xml)
        (src / "ImageSets" / "Main" / "train.txt").write_text(f"a\n{entry}\n")
        if _on_disk(entry):  # an unlabelled image listed in the split
            jpeg(src / "JPEGImages" / f"{entry}.jpg")

    _check(build)


@pytest.fixture(autouse=True, scope="module")
def _canary_cleanup():  # noqa: ANN202
    yield
    shutil.rmtree(CANARY, ignore_errors=True)
