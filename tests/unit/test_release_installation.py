"""install_archive: an archive's tree merged into a release folder, all or nothing."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

import svmlp.release.installation
from svmlp.errors import ArchiveError
from svmlp.release.installation import install_archive


def make_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_archives_fill_one_folder(tmp_path: Path) -> None:
    target, scratch = tmp_path / "release", tmp_path / "release" / ".svmlp"
    a = make_tar(tmp_path / "a.tgz", {"images/train/a.jpg": b"a", "annotations/train.json": b"t"})
    b = make_tar(tmp_path / "b.tgz", {"images/val/b.jpg": b"b", "annotations/val.json": b"v"})
    assert install_archive(a, target, scratch=scratch) == ["images/train/a.jpg", "annotations/train.json"]
    install_archive(b, target, scratch=scratch)
    assert tree(target) == {
        "annotations/train.json": b"t",
        "annotations/val.json": b"v",
        "images/train/a.jpg": b"a",
        "images/val/b.jpg": b"b",
    }
    assert list(scratch.iterdir()) == []  # nothing left over


def test_replaces_files_and_keeps_the_rest(tmp_path: Path) -> None:
    target = tmp_path / "release"
    (target / "images").mkdir(parents=True)
    (target / "images" / "old.jpg").write_bytes(b"old")
    (target / "readme.txt").write_text("old readme")
    (target / "notes").write_text("a file where the archive has a folder")
    archive = make_tar(
        tmp_path / "a.tgz", {"images/new.jpg": b"new", "readme.txt": b"new readme", "notes/x.txt": b"x"}
    )
    install_archive(archive, target, scratch=tmp_path / "scratch")
    assert tree(target) == {
        "images/new.jpg": b"new",
        "images/old.jpg": b"old",
        "notes/x.txt": b"x",
        "readme.txt": b"new readme",
    }


def test_hostile_or_reserved_archive_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "release"
    (target / ".svmlp").mkdir(parents=True)
    (target / ".svmlp" / "state.json").write_text("{}")
    before = tree(target)
    with pytest.raises(ArchiveError, match=r"holds \.svmlp/, which svmlp keeps for itself"):
        install_archive(
            make_tar(tmp_path / "r.tgz", {".svmlp/state.json": b"evil"}),
            target,
            scratch=target / ".svmlp",
            reserved=(".svmlp",),
        )
    with pytest.raises(ArchiveError, match=r"'\.\./x' has a '\.\.' component"):
        install_archive(
            make_tar(tmp_path / "h.tgz", {"a.txt": b"a", "../x": b"x"}), target, scratch=target / ".svmlp"
        )
    assert tree(target) == before and not (tmp_path / "x").exists()


def test_a_failed_move_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "release"
    (target / "dir").mkdir(parents=True)
    (target / "a.txt").write_text("old a")
    (target / "dir" / "b.txt").write_text("old b")
    archive = make_tar(tmp_path / "a.tgz", {"a.txt": b"new a", "dir/b.txt": b"new b", "dir/c/d.txt": b"d"})
    rename = os.rename

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == target / "dir" / "c" / "d.txt":
            raise OSError("disk trouble")
        rename(src, dst)

    monkeypatch.setattr(svmlp.release.installation.os, "rename", flaky)
    with pytest.raises(OSError, match="disk trouble"):
        install_archive(archive, target, scratch=tmp_path / "scratch")
    monkeypatch.undo()
    assert tree(target) == {"a.txt": b"old a", "dir/b.txt": b"old b"}
    assert not (target / "dir" / "c").exists()


def make_links(path: Path, links: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


@pytest.mark.parametrize("order", ["enabler first", "link first"])
def test_links_of_two_archives_may_not_combine_to_leave_the_folder(order: str, tmp_path: Path) -> None:
    """'a -> .' and 'l -> a/../outside' each stay inside on their own; together l leaves."""
    release = tmp_path / "release"
    (tmp_path / "outside").mkdir()
    a = make_links(tmp_path / "a.tgz", {"a": "."})
    b = make_links(tmp_path / "b.tgz", {"l": "a/../outside"})
    first, second = (a, b) if order == "enabler first" else (b, a)
    install_archive(first, release, scratch=release / ".svmlp", root=release)
    before = sorted(os.listdir(release))
    with pytest.raises(
        ArchiveError, match=r"the symbolic link 'l' in .* leads to .*outside, outside the release"
    ):
        install_archive(second, release, scratch=release / ".svmlp", root=release)
    assert sorted(os.listdir(release)) == before  # undone
    assert list((release / ".svmlp").iterdir()) == []


def test_links_into_a_subfolder_release_are_checked_against_the_whole_release(tmp_path: Path) -> None:
    release = tmp_path / "release"
    install_archive(make_links(tmp_path / "a.tgz", {"l": "sub/a/../../x"}), release, scratch=tmp_path / "s")
    with pytest.raises(ArchiveError, match=r"'l' .* outside the release folder"):
        install_archive(
            make_links(tmp_path / "b.tgz", {"a": "."}), release / "sub", scratch=tmp_path / "s", root=release
        )
    assert not (release / "sub" / "a").is_symlink()


def test_links_that_point_outside_on_their_face_are_the_users(tmp_path: Path) -> None:
    """A user's own link to another disk does not stop an install."""
    release = tmp_path / "release"
    release.mkdir()
    (tmp_path / "disk").mkdir()
    (release / "big").symlink_to(tmp_path / "disk")
    (release / "up").symlink_to("../disk")
    install_archive(
        make_tar(tmp_path / "a.tgz", {"x.txt": b"x"}), release, scratch=tmp_path / "s", root=release
    )
    assert (release / "x.txt").read_bytes() == b"x"
