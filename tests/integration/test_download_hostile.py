"""svmlp download against hostile manifests, servers and state folders.

Real servers on 127.0.0.1 and real files under tmp_path only. In every case svmlp either does the
job or stops with one line and exit code 2; it never writes outside the destination (canary files
beside it stay byte-identical), never hangs, never reads without bound, and never exits 3.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer

import svmlp
from svmlp.cli import main
from svmlp.release.download import download
from svmlp.release.manifest import load_manifest, parse_manifest
from svmlp.release.sample import SAMPLE_DIR, sample_manifest
from svmlp.release.transfer import FetchPolicy

FAST = FetchPolicy(connect_timeout=2, read_timeout=2, attempts=2, backoff=0.01, max_wait=2, budget=10)
ARCHIVE = "svmlp-sample-0.1.0.tar.gz"
CANARY = b"precious: svmlp must never change this file\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def srv() -> Any:
    with FaultServer() as server:
        server.files[f"/r/{ARCHIVE}"] = (SAMPLE_DIR / ARCHIVE).read_bytes()
        server.files["/r/manifest.json"] = json.dumps(sample_manifest()).encode()
        yield server


def _canary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CANARY)
    return path


def _one_line_error(rc: int, err: str) -> None:
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("svmlp "), err
    assert "Traceback" not in err and "internal error" not in err


def _plain(name: str, data: bytes, unpack_to: str = "x", **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "size": len(data),
        "sha256": _sha(data),
        "kind": "annotations",
        "unpack_to": unpack_to,
        **more,
    }


def _doc(*entries: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"manifest_version": "1.0", "name": "hostile", "version": "1", "files": list(entries), **more}


def _local_sample_doc() -> dict[str, Any]:
    """The sample's manifest, its archive at an absolute file URL (so it can sit anywhere)."""
    doc = sample_manifest()
    doc["files"][0]["urls"] = [(SAMPLE_DIR / ARCHIVE).as_uri()]
    return doc


def _write_manifest(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "m.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return str(path)


# --- 1. a manifest from the network may not point svmlp at local files ------------------------


@pytest.mark.parametrize("how", ["file-url", "file-no-slashes", "mirror", "file-localhost"])
def test_remote_manifest_may_not_list_local_files(
    how: str, srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "home" / "secret.json"
    _canary(secret)
    entry = _plain("secret.json", CANARY)  # size and sha256 right: before the fix it was copied in
    doc = _doc(entry)
    at = "$.files[0].urls[0]"
    if how == "file-url":
        entry["urls"] = [secret.as_uri()]
    elif how == "file-no-slashes":
        entry["urls"] = [f"file:{secret}"]
    elif how == "file-localhost":
        entry["urls"] = [f"file://localhost{secret}"]
    else:
        doc["mirrors"], at = [secret.parent.as_uri()], "$.mirrors[0]"
    srv.files["/r/evil.json"] = json.dumps(doc).encode()
    url = srv.url("/r/evil.json")
    with pytest.raises(svmlp.ManifestError) as err:
        load_manifest(url)
    assert f"{url} at {at}" in str(err.value) and "may only list http and https URLs" in str(err.value)
    out = tmp_path / "out"
    _one_line_error(main(["download", "--manifest", url, "-o", str(out), "-q"]), capsys.readouterr().err)
    assert not out.exists() and secret.read_bytes() == CANARY


def test_remote_manifest_relative_and_absolute_paths_stay_on_the_server(srv: FaultServer) -> None:
    doc = _doc(_plain("a.json", b"a", urls=["a.json", "/etc/passwd", "../up/b.json"]), mirrors=["/srv/m"])
    m = parse_manifest(doc, source=srv.url("/r/evil.json"))
    assert m.files[0].urls == (
        srv.url("/r/a.json"),
        srv.url("/etc/passwd"),
        srv.url("/up/b.json"),
        srv.url("/srv/m/a.json"),
    )


def test_user_mirrors_and_local_manifests_may_use_local_files(
    srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mine"
    mirror.mkdir()
    shutil.copy(SAMPLE_DIR / ARCHIVE, mirror / ARCHIVE)
    srv.faults.not_found = {f"/r/{ARCHIVE}"}  # only the user's own mirror has it
    url = srv.url("/r/manifest.json")
    assert (
        main(["download", "--manifest", url, "--mirror", str(mirror), "-o", str(tmp_path / "a"), "-q"]) == 0
    )
    assert (
        main(["download", "--manifest", url, "--mirror", mirror.as_uri(), "-o", str(tmp_path / "b"), "-q"])
        == 0
    )
    assert [r.path for r in srv.requests] == ["/r/manifest.json"] * 2
    # a local manifest keeps its absolute file URLs
    assert (
        main(
            [
                "download",
                "--manifest",
                _write_manifest(tmp_path, _local_sample_doc()),
                "-o",
                str(tmp_path / "c"),
                "-q",
            ]
        )
        == 0
    )
    for out in "abc":
        assert len(svmlp.read(tmp_path / out)) == 120


# --- 2. every name from the manifest that becomes a path ----------------------------------------


def _with(field: str, value: str) -> dict[str, Any]:
    doc = _local_sample_doc()
    f = doc["files"][0]
    if field == "members":
        f["members"][0]["path"] = value
    elif field == "plain":  # a plain file (not an archive) put at the release root
        doc["files"].append(_plain(value, b"{}", unpack_to=".", urls=[(SAMPLE_DIR / ARCHIVE).as_uri()]))
    else:
        f[field] = value
    return doc


BAD_PATHS = [
    ("name", "x\x00.tar.gz", r"\$\.files\[0\]\.name: file name .* control character"),
    ("name", "x\n.tar.gz", r"\$\.files\[0\]\.name: .* control character"),
    ("name", "x\x1b[31m.tar.gz", r"\$\.files\[0\]\.name: .* control character"),
    ("name", "\ud800.tar.gz", r"\$\.files\[0\]\.name: .* lone surrogate"),
    ("name", "n" * 250, r"\$\.files\[0\]\.name: .* longer than 245 bytes"),
    ("name", "a:x.tar.gz", r"\$\.files\[0\]\.name: .* Windows drive"),
    ("plain", ".svmlp", r"\$\.files\[1\]: '\.svmlp' is inside \.svmlp/"),
    ("plain", ".SVMLP", r"\$\.files\[1\]: '\.SVMLP' is inside \.svmlp/"),
    ("unpack_to", "./x", r"\$\.files\[0\]\.unpack_to: unpack_to '\./x' has an empty or '\.' part"),
    ("unpack_to", "./", r"\$\.files\[0\]\.unpack_to: .* empty or '\.' part"),
    ("unpack_to", "a//b", r"\$\.files\[0\]\.unpack_to: .* empty or '\.' part"),
    ("unpack_to", "a/\x00", r"\$\.files\[0\]\.unpack_to: .* control character"),
    ("unpack_to", "a/" + "p" * 256, r"\$\.files\[0\]\.unpack_to: .* longer than 255 bytes"),
    ("unpack_to", ".Svmlp/x", r"\$\.files\[0\]: '\.Svmlp/x' is inside \.svmlp/"),
    ("members", "a/\x00/b", r"\$\.files\[0\]\.members\[0\]\.path: member path .* control character"),
    ("members", "a/./b", r"\$\.files\[0\]\.members\[0\]\.path: .* empty or '\.' part"),
    (
        "members",
        "a\\..\\..\\b",
        r"\$\.files\[0\]\.members\[0\]\.path: .* (backslash|does not match|should not)",
    ),
]


@pytest.mark.parametrize("command", ["download", "verify"])
@pytest.mark.parametrize("field,value,match", BAD_PATHS, ids=[f"{f}-{v!r}"[:40] for f, v, _ in BAD_PATHS])
def test_every_path_from_the_manifest_follows_the_path_rule(
    command: str, field: str, value: str, match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _with(field, value)
    with pytest.raises(svmlp.ManifestError, match=match):
        parse_manifest(doc, source=(tmp_path / "m.json").as_uri())
    canary = _canary(tmp_path / "canary")
    path, out = _write_manifest(tmp_path, doc), tmp_path / "out"
    if command == "download":
        rc = main(["download", "--manifest", path, "-o", str(out), "-q"])
    else:
        out.mkdir()
        rc = main(["verify", "--manifest", path, str(out), "-q"])
    _one_line_error(rc, capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["canary", "m.json"] + (["out"] if command == "verify" else [])
    assert canary.read_bytes() == CANARY


@pytest.mark.parametrize("suffix", [".part", ".part.json"])
def test_a_name_that_is_another_files_partial_download_is_refused(suffix: str, tmp_path: Path) -> None:
    doc = _doc(_plain("a.json", b"a"), _plain("a.json" + suffix, b"b"), mirrors=[str(tmp_path)])
    with pytest.raises(svmlp.ManifestError, match=rf"'a\.json{suffix}' is both a file of the release"):
        parse_manifest(doc, source=(tmp_path / "m.json").as_uri())


# --- 3. links planted in the state folder are replaced, never followed ---------------------------


def test_planted_links_and_hard_links_in_the_state_folder_are_replaced(
    srv: FaultServer, tmp_path: Path
) -> None:
    outside = tmp_path / "home"
    part_target, record_target = _canary(outside / ".bashrc"), _canary(outside / ".profile")
    hard, state_tmp = _canary(outside / "hard"), _canary(outside / "state-tmp")
    record = json.dumps({"size": len(srv.files[f"/r/{ARCHIVE}"]), "sha256": _sha(srv.files[f"/r/{ARCHIVE}"])})
    dest = tmp_path / "d"
    state = dest / ".svmlp"
    downloads = state / "downloads"
    downloads.mkdir(parents=True)
    # a partial that would be continued (its record matches) is a link to ~/.bashrc: the old code
    # appended the rest of the archive to it, then truncated it on the sha256 mismatch
    (downloads / f"{ARCHIVE}.part").symlink_to(part_target)
    (downloads / f"{ARCHIVE}.part.json").symlink_to(record_target)  # the record was written through
    (state / "state.json.tmp").symlink_to(state_tmp)
    (state / "manifest.json.tmp").symlink_to(state_tmp)
    (state / "lock").symlink_to(outside / "lock-created-by-svmlp")  # dangling: open(a+) made it
    record_target.write_text(record)  # what the link's target says is what svmlp wants
    before = {p: p.read_bytes() for p in outside.iterdir()}
    download(
        parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json")), dest, policy=FAST, quiet=True
    )
    assert {p: p.read_bytes() for p in outside.iterdir()} == before  # nothing changed, nothing made
    assert len(svmlp.read(dest)) == 120

    # a hard link to a file outside, as the partial: svmlp must not write into the shared inode
    (downloads / f"{ARCHIVE}.part").unlink(missing_ok=True)
    os.link(hard, downloads / f"{ARCHIVE}.part")
    (downloads / f"{ARCHIVE}.part.json").write_text(record)
    download(
        parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json")),
        dest,
        policy=FAST,
        quiet=True,
        force=True,
    )
    assert hard.read_bytes() == CANARY and len(svmlp.read(dest)) == 120


@pytest.mark.parametrize("which", [".svmlp", ".svmlp/downloads"])
def test_a_state_folder_that_is_a_link_is_replaced(which: str, srv: FaultServer, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    canaries = [_canary(outside / n) for n in (ARCHIVE, "state.json", "manifest.json", "lock")]
    dest = tmp_path / "d"
    (dest / which).parent.mkdir(parents=True, exist_ok=True)
    (dest / which).symlink_to(outside, target_is_directory=True)
    download(
        parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json")),
        dest,
        policy=FAST,
        quiet=True,
        keep_archives=True,
    )
    assert sorted(os.listdir(outside)) == sorted(c.name for c in canaries)
    assert all(c.read_bytes() == CANARY for c in canaries)
    assert not (dest / which).is_symlink() and (dest / ".svmlp" / "downloads" / ARCHIVE).is_file()


@pytest.mark.timeout(60)
def test_fifos_in_the_state_folder_do_not_hang_a_download(srv: FaultServer, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    downloads = dest / ".svmlp" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / f"{ARCHIVE}.part").write_bytes(b"x")  # a partial, so that its record is read
    os.mkfifo(downloads / f"{ARCHIVE}.part.json")
    os.mkfifo(dest / ".svmlp" / "state.json")
    os.mkfifo(downloads / ARCHIVE)  # where a finished download would be: is it complete?
    download(
        parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json")), dest, policy=FAST, quiet=True
    )
    assert len(svmlp.read(dest)) == 120 and [r.range for r in srv.requests] == [None]


def test_a_finished_download_that_is_a_link_is_not_trusted(srv: FaultServer, tmp_path: Path) -> None:
    data = b'{"note": 1}'
    srv.files["/r/notes.json"] = data
    outside = _canary(tmp_path / "home" / "notes.json")
    outside.write_bytes(data)  # the right bytes, but outside: installing it would install the link
    dest = tmp_path / "d"
    (dest / ".svmlp" / "downloads").mkdir(parents=True)
    (dest / ".svmlp" / "downloads" / "notes.json").symlink_to(outside)
    m = parse_manifest(_doc(_plain("notes.json", data, urls=["notes.json"])), source=srv.url("/r/m.json"))
    download(m, dest, policy=FAST, quiet=True)
    installed = dest / "x" / "notes.json"
    assert not installed.is_symlink() and installed.read_bytes() == data and outside.read_bytes() == data
    assert [r.path for r in srv.requests] == ["/r/notes.json"]


def test_stale_pid_lock_that_is_a_fifo_or_a_huge_number(
    srv: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def no_locks(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    state = tmp_path / "d" / ".svmlp"
    state.mkdir(parents=True)
    m = parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json"))
    (state / "lock.pid").write_text("9" * 40)  # os.kill raised OverflowError: exit 3
    download(m, tmp_path / "d", policy=FAST, quiet=True)
    os.mkfifo(state / "lock.pid")  # reading it blocked forever
    download(m, tmp_path / "d", policy=FAST, quiet=True, force=True)
    assert not (state / "lock.pid").exists()


# --- 4. a gzipped manifest is unpacked within the limit ----------------------------------------


def test_gzip_bomb_manifest_stops_at_the_limit(srv: FaultServer) -> None:
    manifest = json.dumps(sample_manifest()).encode()
    srv.files["/r/small.json.gz"] = gzip.compress(manifest)
    srv.files["/r/two.json.gz"] = gzip.compress(manifest[:100]) + gzip.compress(manifest[100:])
    srv.files["/r/bomb.json.gz"] = gzip.compress(manifest + b" " * (3 << 20))  # valid JSON, 3 MB of it
    policy = FetchPolicy(attempts=1, max_bytes_unsized=1 << 20)
    assert load_manifest(srv.url("/r/small.json.gz"), policy=policy).title == "svmlp-sample 0.1.0"
    assert load_manifest(srv.url("/r/two.json.gz"), policy=policy).title == "svmlp-sample 0.1.0"
    assert len(srv.files["/r/bomb.json.gz"]) < 50_000  # under the limit as it comes over the wire
    with pytest.raises(
        svmlp.DownloadError,
        match=r"bomb\.json\.gz: the manifest is gzip-compressed .* more than 1048576 bytes",
    ) as err:
        load_manifest(srv.url("/r/bomb.json.gz"), policy=policy)
    assert "\n" not in str(err.value)


def test_gzip_bomb_manifest_through_the_cli(
    srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # past the default limit (64 MiB): unpacked in full, it parsed and the download went ahead
    manifest = json.dumps(sample_manifest()).encode()
    limit = FetchPolicy().max_bytes_unsized
    srv.files["/r/bomb.json"] = gzip.compress(manifest + b" " * limit, compresslevel=1)
    rc = main(["download", "--manifest", srv.url("/r/bomb.json"), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    _one_line_error(rc, err)
    assert "gzip-compressed" in err and not (tmp_path / "out").exists()


# --- 5. manifests that crashed svmlp -----------------------------------------------------------


def _deep_in_members() -> str:
    text = json.dumps(_local_sample_doc())
    return text.replace('"members": [', '"members": [' + "[" * 980 + "]" * 980 + ",", 1)


def _sized(where: str, value: str) -> str:
    """The local sample manifest with the JSON text ``value`` as a size."""
    doc = _local_sample_doc()
    f = doc["files"][0]
    marker = 987654321987
    if where == "member":
        f["members"][0]["size"] = marker
    else:
        f[where] = marker
    return json.dumps(doc).replace(str(marker), value)


BAD_DOCS = {
    "nested 100k deep": lambda: "[" * 100_000 + "]" * 100_000,
    "nested 100k deep in an object": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nested 980 deep in members": _deep_in_members,
    "size 2**63": lambda: _sized("size", str(2**63)),
    "size 2**64": lambda: _sized("size", str(2**64)),
    "size 9e300": lambda: _sized("size", "9e300"),
    "size of 5000 digits": lambda: _sized("size", "9" * 5000),
    "negative size": lambda: _sized("size", "-1"),
    "unpacked_size 2**70": lambda: _sized("unpacked_size", str(2**70)),
    "member size 2**64": lambda: _sized("member", str(2**64)),
    "NaN size": lambda: _sized("size", "NaN"),
    "control character in a URL": lambda: json.dumps(_local_sample_doc()).replace(
        '"urls": ["', '"urls": ["http://127.0.0.1:9/a\\u0001b", "', 1
    ),
    "not UTF-8": lambda: "\udcff",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(BAD_DOCS))
def test_bad_manifests_give_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BAD_DOCS[case]()
    path = tmp_path / "m.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    canary = _canary(tmp_path / "canary")
    rc = main(["download", "--manifest", str(path), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    _one_line_error(rc, err)
    assert len(err) < 1000 and str(path) in err
    assert sorted(os.listdir(tmp_path)) == ["canary", "m.json"] and canary.read_bytes() == CANARY


def test_urls_python_cannot_open_are_a_failed_mirror(
    srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NUL byte in a local file URL, or a mirror of the user's with one, failed with ValueError."""
    doc = _local_sample_doc()
    doc["files"][0]["urls"] = [(tmp_path / "a").as_uri() + "%00b"]
    rc = main(["download", "--manifest", _write_manifest(tmp_path, doc), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    _one_line_error(rc, err)
    assert "could not fetch" in err
    rc = main(
        [
            "download",
            "--manifest",
            srv.url("/r/manifest.json"),
            "--mirror",
            "a\x00b",
            "-o",
            str(tmp_path / "o2"),
        ]
    )
    _one_line_error(rc, capsys.readouterr().err)


# --- 7. installing through links left by an earlier archive ------------------------------------


def _tar(members: dict[str, bytes | str]) -> bytes:
    """Regular files for bytes, symbolic links for str (the link's target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _archive(
    srv: FaultServer, name: str, members: dict[str, bytes | str], unpack_to: str = "."
) -> dict[str, Any]:
    blob = _tar(members)
    srv.files[f"/r/{name}"] = blob
    size = sum(len(c) for c in members.values() if isinstance(c, bytes))
    return {
        "name": name,
        "size": len(blob),
        "sha256": _sha(blob),
        "kind": "archive",
        "unpack_to": unpack_to,
        "unpacked_size": size,
        "urls": [name],
    }


def test_unpack_to_through_a_link_into_the_state_folder_is_refused(srv: FaultServer, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    first = _archive(srv, "a.tgz", {"s": ".svmlp", "ok.txt": b"ok"})
    download(parse_manifest(_doc(first), source=srv.url("/r/m.json")), dest, policy=FAST, quiet=True)
    assert os.readlink(dest / "s") == ".svmlp"  # a link inside the release: allowed on its own
    second = _archive(srv, "b.tgz", {"downloads/x.part": b"evil", "state.json": b"{}"}, unpack_to="s")
    plain = _plain("lock", b"evil", unpack_to="s", urls=["lock"])
    srv.files["/r/lock"] = b"evil"
    for entry in (second, plain):
        with pytest.raises(svmlp.DownloadError, match=r"leads into \.svmlp/ \(through a symbolic link"):
            download(
                parse_manifest(_doc(first, entry), source=srv.url("/r/m.json")), dest, policy=FAST, quiet=True
            )
    assert not (dest / ".svmlp" / "downloads" / "x.part").exists()
    assert (dest / ".svmlp" / "lock").read_bytes() != b"evil"


@pytest.mark.parametrize("order", ["enabler first", "link first"])
def test_links_of_two_archives_may_not_combine_to_leave_the_release(
    order: str, srv: FaultServer, tmp_path: Path
) -> None:
    canary = _canary(tmp_path / "evil" / "x")
    a = _archive(srv, "a.tgz", {"a": "."})  # harmless alone: the release folder itself
    b = _archive(srv, "b.tgz", {"l": "a/../evil"})  # harmless alone: 'evil' inside the release
    first, second = (a, b) if order == "enabler first" else (b, a)
    dest = tmp_path / "d"
    download(parse_manifest(_doc(first), source=srv.url("/r/m.json")), dest, policy=FAST, quiet=True)
    with pytest.raises(
        svmlp.ArchiveError, match=r"the symbolic link 'l' .* leads to .*evil, outside the release folder"
    ) as err:
        download(
            parse_manifest(_doc(first, second), source=srv.url("/r/m.json")), dest, policy=FAST, quiet=True
        )
    assert "\n" not in str(err.value)
    for p in dest.iterdir():  # the merge was undone: what is there leads inside
        assert os.path.realpath(p).startswith(os.path.realpath(dest))
    assert canary.read_bytes() == CANARY


def test_corrupt_state_entries_only_mean_checking_again(srv: FaultServer, tmp_path: Path) -> None:
    state = tmp_path / "d" / ".svmlp"
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({ARCHIVE: ["not", "a", "record"]}))
    m = parse_manifest(sample_manifest(), source=srv.url("/r/manifest.json"))
    assert download(m, tmp_path / "d", policy=FAST, quiet=True).fetched == [ARCHIVE]
    (state / "state.json").write_text("[" * 100_000)
    assert download(m, tmp_path / "d", policy=FAST, quiet=True).fetched == [ARCHIVE]
