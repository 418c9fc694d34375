"""Downloads against a real HTTP server on 127.0.0.1 with injected faults.

In every case either the release arrives with the right bytes, or the download fails with one
clear line and nothing corrupt is at the final path.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import re
import tarfile
import time
from pathlib import Path

import pytest
from fault_server import FaultServer

import svmlp
from svmlp.cli import main
from svmlp.release.download import download
from svmlp.release.manifest import load_manifest, parse_manifest
from svmlp.release.sample import SAMPLE_DIR, sample_manifest
from svmlp.release.transfer import FetchPolicy

FAST = FetchPolicy(connect_timeout=2, read_timeout=2, attempts=4, backoff=0.01, max_wait=2, budget=20)
ARCHIVE = "svmlp-sample-0.1.0.tar.gz"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def srv() -> FaultServer:
    with FaultServer() as server:
        server.files[f"/r/{ARCHIVE}"] = (SAMPLE_DIR / ARCHIVE).read_bytes()
        doc = sample_manifest()
        server.files["/r/manifest.json"] = json.dumps(doc).encode()
        yield server


def _manifest(srv: FaultServer, urls: list[str] | None = None) -> svmlp.release.manifest.Manifest:
    doc = sample_manifest()
    if urls is not None:
        doc["files"][0]["urls"] = urls
    return parse_manifest(doc, source=srv.url("/r/manifest.json"))


def _final(dest: Path) -> Path:
    return dest / "annotations" / "train.svmlp.json"


def _no_corrupt_final(dest: Path) -> None:
    assert not _final(dest).exists()
    assert not list((dest / ".svmlp" / "downloads").glob(ARCHIVE)), "an unverified archive at the final path"


def test_happy_path_and_idempotent(srv: FaultServer, tmp_path: Path) -> None:
    report = download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert report.fetched == [ARCHIVE] and srv.sent(f"/r/{ARCHIVE}") == len(srv.files[f"/r/{ARCHIVE}"])
    ds = svmlp.read(tmp_path / "d")
    assert len(ds) == 120 and (tmp_path / "d" / ".svmlp" / "manifest.json").is_file()
    assert not (tmp_path / "d" / ".svmlp" / "downloads" / ARCHIVE).exists()  # archives are not kept
    again = download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert again.fetched == [] and again.skipped == [ARCHIVE] and len(srv.requests) == 1
    forced = download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True, force=True)
    assert forced.fetched == [ARCHIVE] and len(srv.requests) == 2


def test_dropped_connection_resumes_with_only_the_missing_bytes(srv: FaultServer, tmp_path: Path) -> None:
    size = len(srv.files[f"/r/{ARCHIVE}"])
    srv.faults.drop_after, srv.faults.drop_times = 300_000, 1
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert srv.sent(f"/r/{ARCHIVE}") == size  # 300 000 bytes, then the rest: nothing twice
    assert [r.range for r in srv.requests] == [None, "bytes=300000-"]
    assert len(svmlp.read(tmp_path / "d")) == 120


def test_partial_from_an_earlier_run_is_continued(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.drop_after, srv.faults.drop_times = 200_000, 5
    with pytest.raises(svmlp.DownloadError, match=r"kept the 200000 bytes fetched .* to resume"):
        download(_manifest(srv), tmp_path / "d", policy=FetchPolicy(attempts=1, backoff=0.01), quiet=True)
    _no_corrupt_final(tmp_path / "d")
    srv.faults.drop_times = 0
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert srv.requests[-1].range == "bytes=200000-"
    assert srv.sent(f"/r/{ARCHIVE}") == len(srv.files[f"/r/{ARCHIVE}"])


def test_partial_of_another_file_is_never_continued(srv: FaultServer, tmp_path: Path) -> None:
    downloads = tmp_path / "d" / ".svmlp" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / f"{ARCHIVE}.part").write_bytes(b"x" * 1000)
    (downloads / f"{ARCHIVE}.part.json").write_text(json.dumps({"size": 1000, "sha256": "0" * 64}))
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert [r.range for r in srv.requests] == [None]


def test_500_then_success(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.statuses = [500, 502]
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert len(srv.requests) == 3


def test_503_retry_after_is_honoured(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.statuses, srv.faults.retry_after = [503], "1"
    started = time.perf_counter()
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)  # FAST alone would wait ~0.01 s
    assert time.perf_counter() - started >= 0.9


def test_404_on_the_first_mirror_falls_back(srv: FaultServer, tmp_path: Path) -> None:
    srv.files[f"/mirror2/{ARCHIVE}"] = srv.files[f"/r/{ARCHIVE}"]
    m = _manifest(srv, [srv.url(f"/gone/{ARCHIVE}"), srv.url(f"/mirror2/{ARCHIVE}")])
    download(m, tmp_path / "d", policy=FAST, quiet=True)
    assert [r.path for r in srv.requests] == [f"/gone/{ARCHIVE}", f"/mirror2/{ARCHIVE}"]


def test_user_mirror_is_tried_first(srv: FaultServer, tmp_path: Path) -> None:
    m = _manifest(srv, ["http://127.0.0.1:9/nowhere/" + ARCHIVE]).with_mirrors([srv.url("/r/")])
    download(m, tmp_path / "d", policy=FAST, quiet=True)
    assert [r.path for r in srv.requests] == [f"/r/{ARCHIVE}"]


@pytest.mark.parametrize(
    "fault,match",
    [
        ("wrong_bytes", r"sha256 \w+… differs from the manifest's"),
        ("html", r"served an HTML page \(Content-Type text/html\)"),
        ("html_sniffed", r"served an HTML page, not the file"),
    ],
)
def test_bad_bodies_fail_with_one_line_and_leave_nothing(
    fault: str, match: str, srv: FaultServer, tmp_path: Path
) -> None:
    if fault == "html_sniffed":
        srv.faults.html, srv.faults.html_content_type = True, False
    else:
        setattr(srv.faults, fault, True)
    with pytest.raises(svmlp.DownloadError, match=match) as err:
        download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert "\n" not in str(err.value) and "deleted the partial download" in str(err.value)
    _no_corrupt_final(tmp_path / "d")
    assert not list((tmp_path / "d" / ".svmlp" / "downloads").iterdir())


def test_short_body_is_resumed(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.short_body = True
    with pytest.raises(svmlp.DownloadError, match="gave up after 4 attempts"):
        download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    srv.faults.short_body = False
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert len(svmlp.read(tmp_path / "d")) == 120
    assert srv.requests[-1].range is not None  # the second run continued the partial


def test_range_ignored_starts_over(srv: FaultServer, tmp_path: Path) -> None:
    size = len(srv.files[f"/r/{ARCHIVE}"])
    srv.faults.drop_after, srv.faults.drop_times, srv.faults.ignore_range = 100_000, 1, True
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert srv.sent(f"/r/{ARCHIVE}") == 100_000 + size  # the 200 answer carried the whole file again
    assert len(svmlp.read(tmp_path / "d")) == 120


def test_slow_trickle_times_out_and_resumes(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.trickle, srv.faults.trickle_times = 0.8, 1
    policy = FetchPolicy(connect_timeout=2, read_timeout=0.3, attempts=3, backoff=0.01, budget=10)
    download(_manifest(srv), tmp_path / "d", policy=policy, quiet=True)
    assert len(srv.requests) == 2 and srv.requests[1].range is not None


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _info(
    name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, target: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), target
    return info, data


HOSTILE = {
    "zip-slip": [_info("annotations/ok.txt", b"ok"), _info("../../evil.txt", b"evil")],
    "absolute": [_info("/tmp/svmlp-evil.txt", b"evil")],
    "symlink escape": [_info("link", kind=tarfile.SYMTYPE, target="../.."), _info("link/evil.txt", b"evil")],
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_refused(case: str, srv: FaultServer, tmp_path: Path) -> None:
    data = _tar(HOSTILE[case])
    srv.files["/r/bad.tar.gz"] = data
    doc = {
        "manifest_version": "1.0",
        "name": "bad",
        "version": "1",
        "files": [
            {
                "name": "bad.tar.gz",
                "size": len(data),
                "sha256": _sha(data),
                "kind": "archive",
                "unpack_to": ".",
                "unpacked_size": 4096,
                "urls": ["bad.tar.gz"],
            }
        ],
    }
    dest = tmp_path / "a" / "b" / "d"
    with pytest.raises(svmlp.ArchiveError) as err:
        download(parse_manifest(doc, source=srv.url("/r/manifest.json")), dest, policy=FAST, quiet=True)
    assert "\n" not in str(err.value)
    everything = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert not any("evil" in p for p in everything) and not Path("/tmp/svmlp-evil.txt").exists()
    assert not (dest / "annotations").exists()


def test_manifest_failing_its_schema(
    srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = sample_manifest()
    doc["files"][0]["sha256"] = "not-a-hash"
    srv.files["/r/broken.json"] = json.dumps(doc).encode()
    with pytest.raises(
        svmlp.ManifestError, match=r"broken\.json at \$\.files\[0\]\.sha256: 'not-a-hash' does not match"
    ):
        load_manifest(srv.url("/r/broken.json"))
    assert main(["download", "--manifest", srv.url("/r/broken.json"), "-o", str(tmp_path / "d"), "-q"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_download_over_http_and_sample(
    srv: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["download", "--manifest", srv.url("/r/manifest.json"), "-o", str(tmp_path / "h")]) == 0
    assert "1 file(s) fetched" in capsys.readouterr().out
    assert main(["download", "--sample", "-o", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fetched"] == [ARCHIVE]
    a, b = svmlp.read(tmp_path / "h"), svmlp.read(tmp_path / "s")
    assert a.images.file_name.tolist() == b.images.file_name.tolist()


def test_default_release_explains_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "-o", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--manifest URL_OR_PATH" in err and "--sample" in err
    assert "http" not in err  # no made-up address


def test_a_second_run_on_the_same_folder_is_refused(srv: FaultServer, tmp_path: Path) -> None:
    state = tmp_path / "d" / ".svmlp"
    state.mkdir(parents=True)
    with open(state / "lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(svmlp.DownloadError, match="another svmlp download is writing this folder"):
            download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert srv.requests == []


def test_local_paths_and_several_files(tmp_path: Path) -> None:
    """A folder of release files as the source (no server): several files at once, plain files too."""
    src = tmp_path / "mirror"
    src.mkdir()
    (src / ARCHIVE).write_bytes((SAMPLE_DIR / ARCHIVE).read_bytes())
    extra = b'{"note": "a plain annotations file"}'
    (src / "notes.json").write_bytes(extra)
    doc = sample_manifest()
    doc["files"].append(
        {
            "name": "notes.json",
            "size": len(extra),
            "sha256": _sha(extra),
            "kind": "annotations",
            "unpack_to": "extras",
        }
    )
    doc["files"][0].pop("urls")
    doc["mirrors"] = [str(src)]
    (src / "manifest.json").write_text(json.dumps(doc))
    report = download(load_manifest(str(src / "manifest.json")), tmp_path / "d", jobs=2, quiet=True)
    assert sorted(report.fetched) == sorted([ARCHIVE, "notes.json"])
    assert (tmp_path / "d" / "extras" / "notes.json").read_bytes() == extra


@pytest.mark.parametrize("ignore_range", [False, True])
def test_big_file_hashed_in_the_background_survives_resume_and_restart(
    ignore_range: bool, tmp_path: Path
) -> None:
    import os

    blob = os.urandom(24 << 20)  # past the size from which hashing runs on its own thread
    with FaultServer() as server:
        server.files["/r/blob.bin"] = blob
        server.faults.drop_after, server.faults.drop_times, server.faults.ignore_range = (
            5 << 20,
            1,
            ignore_range,
        )
        doc = {
            "manifest_version": "1.0",
            "name": "big",
            "version": "1",
            "files": [
                {
                    "name": "blob.bin",
                    "size": len(blob),
                    "sha256": _sha(blob),
                    "kind": "images",
                    "unpack_to": "blobs",
                    "urls": ["blob.bin"],
                }
            ],
        }
        download(
            parse_manifest(doc, source=server.url("/r/manifest.json")),
            tmp_path / "d",
            policy=FAST,
            quiet=True,
        )
        sent = server.sent("/r/blob.bin")
    assert (tmp_path / "d" / "blobs" / "blob.bin").read_bytes() == blob
    assert sent == len(blob) + (5 << 20 if ignore_range else 0)


def _archive_doc(name: str, files: dict[str, bytes]) -> tuple[bytes, dict]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    members = [{"path": p, "size": len(d), "sha256": _sha(d)} for p, d in files.items()]
    entry = {
        "name": name,
        "size": len(blob),
        "sha256": _sha(blob),
        "kind": "archive",
        "unpack_to": ".",
        "unpacked_size": sum(len(d) for d in files.values()),
        "members": members,
        "urls": [name],
    }
    return blob, entry


def _doc(*entries: dict) -> dict:
    return {"manifest_version": "1.0", "name": "multi", "version": "1", "files": list(entries)}


def test_several_archives_fill_one_release_and_stay(srv: FaultServer, tmp_path: Path) -> None:
    a, ea = _archive_doc("a.tgz", {"images/train/a.jpg": b"a"})
    b, eb = _archive_doc("b.tgz", {"images/val/b.jpg": b"b"})
    srv.files["/r/a.tgz"], srv.files["/r/b.tgz"] = a, b
    m = parse_manifest(_doc(ea, eb), source=srv.url("/r/manifest.json"))
    download(m, tmp_path / "d", policy=FAST, quiet=True, jobs=2)
    again = download(m, tmp_path / "d", policy=FAST, quiet=True)
    assert again.fetched == [] and sorted(again.skipped) == ["a.tgz", "b.tgz"]
    assert (tmp_path / "d/images/train/a.jpg").read_bytes() == b"a" and (
        tmp_path / "d/images/val/b.jpg"
    ).read_bytes() == b"b"


def test_a_failed_fetch_never_installs_an_older_copy(srv: FaultServer, tmp_path: Path) -> None:
    v1, e1 = _archive_doc("data.tgz", {"x.txt": b"version 1"})
    srv.files["/r/data.tgz"] = v1
    download(
        parse_manifest(_doc(e1), source=srv.url("/r/m.json")),
        tmp_path / "d",
        policy=FAST,
        quiet=True,
        keep_archives=True,
    )
    v2, e2 = _archive_doc("data.tgz", {"x.txt": b"version 2"})
    srv.files["/r/data.tgz"], srv.faults.statuses = v2, [503] * 10
    with pytest.raises(svmlp.DownloadError):
        download(
            parse_manifest(_doc(e2), source=srv.url("/r/m.json")), tmp_path / "d", policy=FAST, quiet=True
        )
    state = json.loads((tmp_path / "d" / ".svmlp" / "state.json").read_text())
    assert state["data.tgz"]["sha256"] == e1["sha256"]  # still what is really installed
    srv.faults.statuses = []
    download(parse_manifest(_doc(e2), source=srv.url("/r/m.json")), tmp_path / "d", policy=FAST, quiet=True)
    assert (tmp_path / "d" / "x.txt").read_bytes() == b"version 2"


@pytest.mark.parametrize("where", [".svmlp", "./.svmlp/sub"])
def test_nothing_may_land_in_the_state_folder(where: str, tmp_path: Path) -> None:
    _, entry = _archive_doc("a.tgz", {"x.txt": b"x"})
    entry["unpack_to"] = where
    with pytest.raises(svmlp.ManifestError, match=r"inside \.svmlp/, which svmlp keeps for itself"):
        parse_manifest(_doc(entry), source=(tmp_path / "m.json").as_uri())
    _, entry = _archive_doc("b.tgz", {".svmlp/state.json": b"{}"})
    with pytest.raises(svmlp.ManifestError, match=r"'\.svmlp/state\.json' is inside \.svmlp/"):
        parse_manifest(_doc(entry), source=(tmp_path / "m.json").as_uri())


def test_ctrl_c_stops_a_fetch_at_its_next_chunk(srv: FaultServer, tmp_path: Path) -> None:
    import threading

    from svmlp.release.transfer import fetch_file

    srv.faults.trickle, srv.faults.trickle_times = 0.01, 1
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    data = srv.files[f"/r/{ARCHIVE}"]
    with pytest.raises(
        svmlp.DownloadError, match=r"interrupted; kept the \d+ bytes fetched .* to resume"
    ) as caught:
        fetch_file(
            [srv.url(f"/r/{ARCHIVE}")],
            tmp_path / "f.bin",
            size=len(data),
            sha256=_sha(data),
            policy=FAST,
            cancel=cancel,
        )
    kept = int(re.search(r"kept the (\d+) bytes", str(caught.value)).group(1))  # type: ignore[union-attr]
    assert kept < len(data) and not (tmp_path / "f.bin").exists()  # stopped mid-file, nothing installed


def test_retry_after_longer_than_allowed_moves_on(srv: FaultServer, tmp_path: Path) -> None:
    srv.faults.statuses, srv.faults.retry_after = [503], "3600"
    srv.files[f"/m2/{ARCHIVE}"] = srv.files[f"/r/{ARCHIVE}"]
    download(
        _manifest(srv, [srv.url(f"/r/{ARCHIVE}"), srv.url(f"/m2/{ARCHIVE}")]),
        tmp_path / "d",
        policy=FAST,
        quiet=True,
    )
    assert [r.path for r in srv.requests] == [f"/r/{ARCHIVE}", f"/m2/{ARCHIVE}"]


def test_names_that_need_quoting_in_urls(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    # 'ab:' reads like a URL scheme; a one-letter 'a:' would be a Windows drive, which the path rule refuses
    files = {"scene #1.json": b"1", "100%.json": b"2", "q?x.json": b"3", "ab:c.json": b"4"}
    for name, data in files.items():
        (mirror / name).write_bytes(data)
    doc = _doc(
        *[
            {"name": n, "size": len(d), "sha256": _sha(d), "kind": "annotations", "unpack_to": "x"}
            for n, d in files.items()
        ]
    )
    doc["mirrors"] = [str(mirror)]
    (mirror / "manifest.json").write_text(json.dumps(doc))
    with FaultServer() as server:
        for name, data in files.items():
            server.files["/r/" + __import__("urllib.parse").parse.quote(name)] = data
        m_http = parse_manifest(
            {**doc, "mirrors": [server.url("/r/")]}, source=server.url("/r/manifest.json")
        )
        download(m_http, tmp_path / "h", policy=FAST, quiet=True)
    download(load_manifest(str(mirror / "manifest.json")), tmp_path / "f", quiet=True)
    for name, data in files.items():
        assert (
            (tmp_path / "h" / "x" / name).read_bytes() == data == (tmp_path / "f" / "x" / name).read_bytes()
        )


def test_lock_without_flock_falls_back_to_a_pid_file(
    srv: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    def no_locks(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    state = tmp_path / "d" / ".svmlp"
    state.mkdir(parents=True)
    (state / "lock.pid").write_text(str(os.getpid()))  # a live process holds it
    with pytest.raises(svmlp.DownloadError, match="another svmlp download is writing this folder"):
        download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    (state / "lock.pid").write_text("999999999")  # a dead one: taken over
    download(_manifest(srv), tmp_path / "d", policy=FAST, quiet=True)
    assert not (state / "lock.pid").exists()
