"""Round trips of the embedded sample through every format, and what writers promise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_dataset, kept_by

import svmlp
from svmlp.model import BoxTable


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def sample(sample_dir: Path) -> svmlp.Dataset:
    return svmlp.read(sample_dir)


def test_sample_is_what_the_manifest_says(sample: svmlp.Dataset) -> None:
    assert sample.splits == ["train", "val", "test"]
    assert len(sample) == 120 and not sample.images.labelled.all()
    assert (np.diff(sample.offsets)[sample.images.labelled] == 0).any(), "no verified negative in the sample"
    assert (sample.boxes.parent >= 0).sum() > 100
    assert (sample.images.header_width == 640).all()


@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
def test_every_format_round_trips(fmt: str, sample: svmlp.Dataset, sample_dir: Path, tmp_path: Path) -> None:
    before = _tree_digest(sample_dir)
    report = svmlp.write(sample, tmp_path / fmt, format=fmt)
    assert report.images_placed == 120 and report.links == int((sample.boxes.parent >= 0).sum())
    back = svmlp.read(tmp_path / fmt)
    assert_same_dataset(sample, back, **kept_by(fmt))
    assert back.notes == []
    assert _tree_digest(sample_dir) == before, "the source was modified"
    again = svmlp.read(tmp_path / fmt)
    svmlp.write(again, tmp_path / "second", format=fmt, images="none")
    svmlp.write(back, tmp_path / "third", format=fmt, images="none")
    assert _tree_digest(tmp_path / "second") == _tree_digest(tmp_path / "third")


def _chains() -> list[tuple[str, ...]]:
    """Every format after every other (and after itself), then through all of them in turn."""
    names = svmlp.FORMATS.writable()
    return [(a, b) for a in names for b in names] + [tuple(names), tuple(reversed(names))]


@pytest.mark.parametrize("chain", _chains(), ids="-".join)
def test_chains_of_formats(chain: tuple[str, ...], sample: svmlp.Dataset, tmp_path: Path) -> None:
    ds = sample
    for k, fmt in enumerate(chain):
        svmlp.write(ds, tmp_path / str(k), format=fmt, images="none" if k else "copy")
        ds = svmlp.read(tmp_path / str(k))  # detected: every written layout must say what it is
    assert_same_dataset(sample, ds, **kept_by(*chain))


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink", "none"])
def test_image_modes(mode: str, sample: svmlp.Dataset, tmp_path: Path) -> None:
    rep = svmlp.write(sample, tmp_path / "out", format="yolo", images=mode, splits=["val"])
    files = sorted((tmp_path / "out" / "images" / "val").glob("*.jpg"))
    assert rep.images == 20 and rep.images_placed == (0 if mode == "none" else 20)
    assert len(files) == rep.images_placed
    if mode == "symlink":
        assert all(f.is_symlink() for f in files)
    back = svmlp.read(tmp_path / "out")
    assert back.splits == ["val"] and len(back) == 20


def test_crowd_boxes_left_out_of_yolo_labels_but_kept(sample: svmlp.Dataset, tmp_path: Path) -> None:
    b = sample.boxes
    crowd = np.zeros(len(b), bool)
    crowd[np.flatnonzero(~sample.role_mask("parent") & ~sample.role_mask("child"))] = True
    vehicles = np.flatnonzero(
        sample.role_mask("parent") & (np.bincount(b.parent[b.parent >= 0], minlength=len(b)) == 0)
    )
    crowd[vehicles[:5]] = True  # five vehicles without plates become crowd regions
    ds = sample.replace(boxes=BoxTable(**{**b.__dict__, "iscrowd": crowd}))
    rep = svmlp.write(ds, tmp_path / "y", format="yolo", images="none")
    assert "5 crowd box(es) left out of the label files" in " ".join(rep.notes)
    rows = sum(len(p.read_text().splitlines()) for p in (tmp_path / "y" / "labels").rglob("*.txt"))
    assert rows == len(b) - 5
    assert_same_dataset(ds, svmlp.read(tmp_path / "y"), **kept_by("yolo"))
    svmlp.write(ds, tmp_path / "v", format="voc", images="none")
    assert_same_dataset(ds, svmlp.read(tmp_path / "v"), **kept_by("voc"))


def test_edited_yolo_label_drops_stale_links(sample: svmlp.Dataset, tmp_path: Path) -> None:
    svmlp.write(sample, tmp_path / "y", format="yolo", images="none")
    i = int(np.flatnonzero(np.diff(sample.offsets) >= 3)[0])
    label = (
        tmp_path
        / "y"
        / "labels"
        / str(sample.images.split[i])
        / Path(str(sample.images.file_name[i])).with_suffix(".txt")
    )
    label.write_text("".join(label.read_text().splitlines(keepends=True)[1:]))  # a user deleted the first row
    back = svmlp.read(tmp_path / "y")
    assert back.notes == [
        "1 label file(s) changed since svmlp wrote them; their box ids and links were not restored"
    ]
    assert len(back.boxes) == len(sample.boxes) - 1


def test_unlabelled_and_empty_survive_yolo_layout(sample: svmlp.Dataset, tmp_path: Path) -> None:
    svmlp.write(sample, tmp_path / "y", format="yolo")
    (tmp_path / "y" / "svmlp.sidecar.json").unlink()  # what another tool sees: the layout alone
    back = svmlp.read(tmp_path / "y")
    assert back.images.labelled.sum() == sample.images.labelled.sum()
    empty = lambda d: int((d.images.labelled & (np.diff(d.offsets) == 0)).sum())  # noqa: E731
    assert empty(back) == empty(sample)
    # the layout alone keeps no ids, links, plate text or corners: those live in the sidecar
    assert_same_dataset(
        sample, back, atol=1e-6, keeps=frozenset(), ids=False, category_ids=False, links=False
    )
    assert [c.id for c in back.categories] == [0, 1]


def test_swapped_yolo_rows_are_noticed(sample: svmlp.Dataset, tmp_path: Path) -> None:
    """Same classes, other order: only the digest tells the plates' links would now be wrong."""
    svmlp.write(sample, tmp_path / "y", format="yolo", images="none")
    plates = sample.role_mask("child")
    counts = np.bincount(sample.boxes.image[plates], minlength=len(sample))
    i = int(np.flatnonzero(counts >= 2)[0])
    label = (
        tmp_path
        / "y"
        / "labels"
        / str(sample.images.split[i])
        / Path(str(sample.images.file_name[i])).with_suffix(".txt")
    )
    rows = label.read_text().splitlines(keepends=True)
    plate_rows = [k for k, r in enumerate(rows) if r.startswith("1 ")][:2]
    rows[plate_rows[0]], rows[plate_rows[1]] = rows[plate_rows[1]], rows[plate_rows[0]]
    label.write_text("".join(rows))
    back = svmlp.read(tmp_path / "y")
    assert back.notes == [
        "1 label file(s) changed since svmlp wrote them; their box ids and links were not restored"
    ]
