from __future__ import annotations

import os
from pathlib import Path

import pytest

from svmlp import OutputExistsError
from svmlp.formats._cocoencode import clean_extent
from svmlp.formats._layout import atomic_output_dir, infer_split, resolve_moved


@pytest.mark.parametrize(
    "name,split",
    [
        ("instances_val2017", "val"),
        ("train", "train"),
        ("valid", "valid"),
        ("instances_test-dev", None),
        ("annotations", None),
        ("svmlp_test", "test"),
    ],
)
def test_infer_split(name: str, split: str | None) -> None:
    assert infer_split(name) == split


def test_resolve_moved_finds_tails(tmp_path: Path) -> None:
    (tmp_path / "train" / "images").mkdir(parents=True)
    assert resolve_moved("/Users/kamal/thesis/train/images", tmp_path) == tmp_path / "train" / "images"
    assert resolve_moved(r"C:\data\thesis\train\images", tmp_path) == tmp_path / "train" / "images"
    assert resolve_moved("data/train/images", tmp_path) == tmp_path / "train" / "images"
    assert resolve_moved("../train", tmp_path) == tmp_path / "train"
    assert resolve_moved("/nowhere/at/all", tmp_path) is None
    assert resolve_moved("", tmp_path) is None


def test_atomic_output_dir_success_and_permissions(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    with atomic_output_dir(out) as tmp:
        (tmp / "f.txt").write_text("x")
        assert not out.exists()
    assert (out / "f.txt").read_text() == "x"
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o777 & ~umask)


def test_atomic_output_dir_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_output_dir(out) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_dir_refuses_and_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="not empty; pass --overwrite"), atomic_output_dir(out):
        pass
    with pytest.raises(RuntimeError), atomic_output_dir(out, overwrite=True) as tmp:
        raise RuntimeError("half way")
    assert (out / "old.txt").read_text() == "old"  # a failed overwrite keeps the old output
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputExistsError, match="not a folder"), atomic_output_dir(tmp_path / "file"):
        pass


def test_clean_extent_is_exact_and_short() -> None:
    import numpy as np

    x0 = np.array([0.1, 1.516582, 100.0, 0.0])
    x1 = np.array([0.30000000000000004, 130.17020424996838, 100.0, 1e-300])
    w = clean_extent(x0, x1)
    assert (x0 + w == x1).all()
    assert w[0] == 0.2 and w[2] == 0.0
