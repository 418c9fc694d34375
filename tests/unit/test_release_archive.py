from __future__ import annotations

import io
import os
import stat
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import svmlp.release.archive
from svmlp.errors import ArchiveError, OutputExistsError
from svmlp.release.archive import archive_format, safe_extract

MB = 1 << 20
CHUNK = svmlp.release.archive._CHUNK
MTIME = 1_600_000_000
# in archive order: a sub-folder, a name with a space and non-ASCII letters, a file over a chunk
GOOD = {
    "release/readme.txt": b"hello\n",
    "release/images/sub/pl\u00e4te n\u00b0 1.jpg": bytes(range(256)) * 40,
    "release/big.bin": os.urandom(CHUNK + 12345),
    "release/empty.txt": b"",
}


# --- archive builders ------------------------------------------------------------------------


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, MTIME
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, data


def make_tar(path: Path, members: list, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def make_zip(path: Path, members: list, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Members are (name, data) or (ZipInfo, data)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` except ``skip``'s contents, with size and mtime (links not followed)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            seen[path] = (st.st_size, 0 if Path(path) == skip else st.st_mtime_ns)
    return seen


def written(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder inside a release folder that holds one file of its own."""
    release = tmp_path / "release"
    (release / "out").mkdir(parents=True)
    (release / "keep.txt").write_text("not to be touched")
    return release / "out"


# --- good archives ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w", "zip"])
def test_round_trip_byte_for_byte(tmp_path: Path, out: Path, mode: str) -> None:
    members = [("release/", None), *GOOD.items()]
    if mode == "zip":
        archive = make_zip(tmp_path / "a.zip", [(n, d or b"") for n, d in members])
    else:
        tar_members = [entry("release", tarfile.DIRTYPE)] + [entry(n, data=d) for n, d in GOOD.items()]
        archive = make_tar(tmp_path / "a.tar", tar_members, mode)
    assert archive_format(archive) == ("zip" if mode == "zip" else "tar")
    assert safe_extract(archive, out) == list(GOOD)
    for name, data in GOOD.items():
        assert (out / name).read_bytes() == data
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(GOOD)


def test_modes_mtimes_and_links_inside(tmp_path: Path, out: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tar.gz",
        [
            entry("bin/run.sh", data=b"#!/bin/sh\n", mode=0o4775),  # setuid is dropped, exec kept
            entry("bin/doc.txt", data=b"doc", mode=0o666),
            entry("bin/current", tarfile.SYMTYPE, link="run.sh"),
            entry("top", tarfile.SYMTYPE, link="bin/../bin"),
            entry("bin/again.sh", tarfile.LNKTYPE, link="bin/run.sh"),
            entry("./", tarfile.DIRTYPE),
            entry("volume label", b"V"),  # metadata only: skipped
            entry("bin", tarfile.DIRTYPE),  # a folder made already is fine
        ],
    )
    assert safe_extract(archive, out) == ["bin/run.sh", "bin/doc.txt", "bin/again.sh"]
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "bin/run.sh").stat().st_mode & 0o7777 == 0o755 & ~umask
    assert (out / "bin/doc.txt").stat().st_mode & 0o7777 == 0o644 & ~umask
    assert (out / "bin").stat().st_mode & 0o777 == 0o755 & ~umask
    assert (out / "bin/doc.txt").stat().st_mtime == MTIME
    assert os.readlink(out / "bin/current") == "run.sh"
    assert (out / "top/current").read_bytes() == b"#!/bin/sh\n"
    assert (out / "bin/again.sh").read_bytes() == b"#!/bin/sh\n"


def test_hard_link_is_copied_where_the_file_system_has_none(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError("operation not permitted")

    monkeypatch.setattr(svmlp.release.archive.os, "link", no_links)
    members = [entry("a", data=bytes(600_000)), entry("b", tarfile.LNKTYPE, link="a")]
    archive = make_tar(tmp_path / "a.tar.gz", members)
    with pytest.raises(ArchiveError, match=r"'b' takes the unpacked size past"):
        safe_extract(archive, out, max_bytes=MB)  # the copy counts against the cap
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert safe_extract(archive, fresh) == ["a", "b"]
    assert (fresh / "b").read_bytes() == bytes(600_000)
    assert (fresh / "a").stat().st_ino != (fresh / "b").stat().st_ino


def test_zip_backslashes_symlinks_and_exec_bits(tmp_path: Path, out: Path) -> None:
    run = zipfile.ZipInfo("tools/run.sh", date_time=(2020, 5, 17, 12, 0, 0))
    run.external_attr = (stat.S_IFREG | 0o755) << 16
    archive = make_zip(
        tmp_path / "a.zip",
        [("docs\\guide.txt", b"windows"), (run, b"#!"), zip_symlink("docs/link", "guide.txt")],
    )
    assert safe_extract(archive, out) == ["docs/guide.txt", "tools/run.sh"]
    assert (out / "docs/guide.txt").read_bytes() == b"windows"
    assert os.readlink(out / "docs/link") == "guide.txt"
    assert (out / "tools/run.sh").stat().st_mode & 0o111
    assert (out / "tools/run.sh").stat().st_mtime == time.mktime((2020, 5, 17, 12, 0, 0, 0, 0, -1))


def test_archive_format_and_unknown_files(tmp_path: Path, out: Path) -> None:
    (tmp_path / "text").write_text("just text")
    assert archive_format(tmp_path / "text") is None
    assert archive_format(make_zip(tmp_path / "empty.zip", [])) == "zip"
    assert archive_format(make_tar(tmp_path / "plain.tar", [entry("a", data=b"x")], "w")) == "tar"
    assert safe_extract(tmp_path / "empty.zip", out) == []
    with pytest.raises(ArchiveError, match="neither a tar nor a zip"):
        safe_extract(tmp_path / "text", out)


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path, out: Path) -> None:
    (out / "there.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        safe_extract(make_tar(tmp_path / "a.tgz", [entry("a", data=b"x")]), out)


# --- hostile archives ------------------------------------------------------------------------

HOSTILE_TARS = {
    "absolute": ([entry("/tmp/abs.txt", data=b"x")], r"'/tmp/abs.txt' is an absolute path"),
    "dotdot": ([entry("../x", data=b"x")], r"'\.\./x' has a '\.\.' component"),
    "inner dotdot": ([entry("a/../../x", data=b"x")], r"'a/\.\./\.\./x' has a '\.\.' component"),
    "drive": ([entry("C:\\x", data=b"x")], r"is an absolute path"),
    "unc": ([entry("\\\\server\\share\\x", data=b"x")], r"is an absolute path"),
    "symlink to /etc/passwd": (
        [entry("passwd", tarfile.SYMTYPE, link="/etc/passwd")],
        r"'passwd' is a symlink to '/etc/passwd', outside the folder",
    ),
    "symlinked dir out": (
        [entry("link", tarfile.SYMTYPE, link="../outside"), entry("link/x", data=b"x")],
        r"'link' is a symlink to '\.\./outside', which leads outside the folder",
    ),
    "deep symlink out": (
        [entry("a/b/link", tarfile.SYMTYPE, link="../../../keep.txt")],
        r"leads outside the folder",
    ),
    "write through a link": (
        [
            entry("sub", tarfile.DIRTYPE),
            entry("link", tarfile.SYMTYPE, link="sub"),
            entry("link/x", data=b"x"),
        ],
        r"'link/x' would be written through the symlink 'link'",
    ),
    "link through a link": (
        [entry("sub/up", tarfile.SYMTYPE, link=".."), entry("x", tarfile.SYMTYPE, link="sub/up/..")],
        r"'x' is a symlink to 'sub/up/\.\.', which goes through the symlink 'sub/up'",
    ),
    "link through itself": (
        [entry("sub/l", tarfile.SYMTYPE, link="l/../..")],
        r"'sub/l' is a symlink to 'l/\.\./\.\.', which goes through the symlink 'sub/l'",
    ),
    "link made on another's way": (
        [entry("x", tarfile.SYMTYPE, link="p/.."), entry("p", tarfile.SYMTYPE, link=".")],
        r"'p' is a symlink on the way to an earlier link's target",
    ),
    "hardlink out": (
        [entry("h", tarfile.LNKTYPE, link="../keep.txt")],
        r"'h' is a hard link to '\.\./keep\.txt', not to a file unpacked before it",
    ),
    "hardlink absolute": ([entry("h", tarfile.LNKTYPE, link="/etc/passwd")], r"'h' is a hard link"),
    "hardlink to a later member": (
        [entry("h", tarfile.LNKTYPE, link="a"), entry("a", data=b"x")],
        r"'h' is a hard link to 'a', not to a file unpacked before it",
    ),
    "char device": ([entry("null", tarfile.CHRTYPE)], r"'null' is a character or block device"),
    "block device": ([entry("sda", tarfile.BLKTYPE)], r"'sda' is a character or block device"),
    "fifo": ([entry("pipe", tarfile.FIFOTYPE)], r"'pipe' is a FIFO"),
    "unknown type": ([entry("odd", b"Z")], r"'odd' is a special member of tar type b'Z'"),
    "file then folder": (
        [entry("a", data=b"x"), entry("a/b", data=b"y")],
        r"'a/b' collides with the file 'a' unpacked before it",
    ),
    "same file twice": (
        [entry("a", data=b"x"), entry("./a", data=b"y")],
        r"'\./a' collides with the file 'a' unpacked before it",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_TARS))
def test_hostile_tar_is_refused(tmp_path: Path, out: Path, case: str) -> None:
    members, message = HOSTILE_TARS[case]
    archive = make_tar(tmp_path / "hostile.tar.gz", members)
    before = snapshot(tmp_path, out)
    with pytest.raises(ArchiveError, match=message) as caught:
        safe_extract(archive, out)
    assert str(archive) in str(caught.value)
    assert snapshot(tmp_path, out) == before
    for path in out.rglob("*"):  # whatever was made before the refusal stays inside
        assert path.resolve().is_relative_to(out.resolve())


HOSTILE_ZIPS = {
    "dotdot": ([("../../x", b"x")], r"'\.\./\.\./x' has a '\.\.' component"),
    "backslash dotdot": ([("..\\evil", b"x")], r"'\.\.\\\\evil' has a '\.\.' component"),
    "absolute": ([("/abs", b"x")], r"'/abs' is an absolute path"),
    "drive": ([("C:\\Windows\\x", b"x")], r"is an absolute path"),
    "symlink out": (
        [zip_symlink("link", "../../etc")],
        r"'link' is a symlink to '\.\./\.\./etc', which leads",
    ),
    "symlink absolute": ([zip_symlink("link", "/etc/passwd")], r"outside the folder"),
}


@pytest.mark.parametrize("case", list(HOSTILE_ZIPS))
def test_hostile_zip_is_refused(tmp_path: Path, out: Path, case: str) -> None:
    members, message = HOSTILE_ZIPS[case]
    archive = make_zip(tmp_path / "hostile.zip", members)
    before = snapshot(tmp_path, out)
    with pytest.raises(ArchiveError, match=message):
        safe_extract(archive, out)
    assert snapshot(tmp_path, out) == before
    assert list(out.iterdir()) == []


def test_zip_special_and_encrypted_members_are_refused(tmp_path: Path, out: Path) -> None:
    fifo = zipfile.ZipInfo("pipe")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    with pytest.raises(ArchiveError, match=r"'pipe' is a special file"):
        safe_extract(make_zip(tmp_path / "fifo.zip", [(fifo, b"")]), out)
    data = bytearray(make_zip(tmp_path / "enc.zip", [("secret.txt", b"x" * 100)]).read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # the "encrypted" flag, as the central directory records it
    (tmp_path / "enc.zip").write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"'secret.txt' is encrypted"):
        safe_extract(tmp_path / "enc.zip", out)


# --- bombs ----------------------------------------------------------------------------------


def test_tar_bomb_stops_at_the_cap(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tar.gz", [entry("zeros", data=bytes(10 * MB))])
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match=r"'zeros' takes the unpacked size past 1048576 bytes"):
        safe_extract(archive, out, max_bytes=MB)
    assert written(out) <= MB


def test_cap_counts_all_members_together(tmp_path: Path, out: Path) -> None:
    members = [entry(f"part{i}", data=bytes(400_000)) for i in range(4)]
    archive = make_tar(tmp_path / "parts.tar.xz", members, "w:xz")
    with pytest.raises(ArchiveError, match=r"'part2' takes the unpacked size past"):
        safe_extract(archive, out, max_bytes=MB)
    assert written(out) <= MB
    exact = tmp_path / "exact"
    exact.mkdir()
    assert len(safe_extract(archive, exact, max_bytes=1_600_000)) == 4


def test_zip_bomb_stops_at_the_cap(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros", bytes(10 * MB))])
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match=r"'zeros' takes the unpacked size past 1048576 bytes"):
        safe_extract(archive, out, max_bytes=MB)
    assert written(out) <= MB


# --- broken archives ------------------------------------------------------------------------


def test_truncated_tar_gz(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [entry(n, data=d) for n, d in GOOD.items()])
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        safe_extract(archive, out)


@pytest.mark.parametrize("cut", ["at a block boundary", "inside a header", "inside data"])
def test_truncated_plain_tar(tmp_path: Path, out: Path, cut: str) -> None:
    archive = make_tar(tmp_path / "a.tar", [entry("a", data=b"x" * 512), entry("b", data=b"y" * 5000)], "w")
    # member a: header at 0, data at 512; member b: header at 1024, data from 1536
    end = {"at a block boundary": 1024, "inside a header": 1300, "inside data": 3000}[cut]
    archive.write_bytes(archive.read_bytes()[:end])
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        safe_extract(archive, out)


def test_corrupt_zip(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("data.bin", os.urandom(50_000))], zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    data[1000:1010] = bytes(10)  # inside the stored data: the CRC check fails
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"truncated or corrupt at member 'data.bin'.*CRC"):
        safe_extract(archive, out)
    archive.write_bytes(bytes(data[:20_000]))  # no central directory left
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        safe_extract(archive, empty)


def test_compressed_file_that_is_no_tar(tmp_path: Path, out: Path) -> None:
    import gzip

    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"just some text, not a tar" * 50))
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        safe_extract(tmp_path / "notes.gz", out)


def test_many_members_are_linear(tmp_path: Path, out: Path) -> None:
    members = [entry(f"d{i % 50}/f{i}.txt", data=b"x") for i in range(20_000)]
    archive = make_tar(tmp_path / "many.tar", members, "w")
    started = time.perf_counter()
    assert len(safe_extract(archive, out)) == 20_000
    assert time.perf_counter() - started < 60  # quadratic work would take many minutes here


@pytest.mark.timeout(60)
def test_an_archive_that_is_a_fifo_or_a_device_is_refused(tmp_path: Path, out: Path) -> None:
    os.mkfifo(tmp_path / "fifo.tar")
    for path in (tmp_path / "fifo.tar", Path("/dev/zero")):
        with pytest.raises(ArchiveError, match=r"is a (FIFO|character device).*, not an archive file"):
            safe_extract(path, out)
    assert list(out.iterdir()) == []
