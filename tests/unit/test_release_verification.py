"""svmlp verify: the embedded sample release, damaged in one way per test, checked in both modes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from svmlp.errors import ManifestError, UsageError
from svmlp.release.digest import CHUNK, PIPELINE_MIN
from svmlp.release.manifest import STATE_DIR, parse_manifest
from svmlp.release.sample import SAMPLE_DIR, sample_manifest
from svmlp.release.verification import Problem, VerifyReport, sha256_file, verify_release

IMAGE = "images/train/scene_000001.jpg"


def _sample_doc() -> dict:
    doc = sample_manifest()
    for f in doc["files"]:
        # what download stores has the URLs it fetched from; the embedded one may leave them out
        f.setdefault("urls", [f["name"]])
    return doc


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample as ``svmlp download`` leaves it: members unpacked, manifest kept in .svmlp/."""
    out = tmp_path_factory.mktemp("verify") / "release"
    archive = SAMPLE_DIR / sample_manifest()["files"][0]["name"]
    with tarfile.open(archive, "r:gz") as tar:
        # the package's own archive, checked by test_sample; the filter only exists from 3.10.12
        tar.extractall(out, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # noqa: S202
    (out / STATE_DIR).mkdir()
    (out / STATE_DIR / "manifest.json").write_text(json.dumps(_sample_doc(), indent=1), encoding="utf-8")
    return out


@pytest.fixture
def release(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "release"))


def _kinds(report: VerifyReport) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in report.problems:
        out.setdefault(p.kind, set()).add(p.path)
    return out


def _edit_manifest(folder: Path, path: str, data: bytes) -> None:
    """Make the kept manifest agree with ``data`` as the content of member ``path``."""
    doc_path = folder / STATE_DIR / "manifest.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    member = next(m for m in doc["files"][0]["members"] if m["path"] == path)
    member.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    doc_path.write_text(json.dumps(doc), encoding="utf-8")


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(p.read_bytes() if p.is_file() else b"/")
    return h.hexdigest()


@pytest.mark.parametrize("full", [False, True])
def test_clean_release(release: Path, full: bool) -> None:
    report = verify_release(release, full=full, jobs=2)
    assert report.problems == [] and report.exit_code() == 0 and report.ok("warning")
    members = sample_manifest()["files"][0]["members"]
    assert report.files_checked == len(members) == 123
    assert report.bytes_checked == sum(m["size"] for m in members)
    assert report.images_checked == 120 and report.release == "svmlp-sample 0.1.0"
    assert "clean" in report.lines()[-1]


@pytest.mark.parametrize("full", [False, True])
def test_deleted_image(release: Path, full: bool) -> None:
    (release / IMAGE).unlink()
    report = verify_release(release, full=full)
    assert _kinds(report) == {"missing_file": {IMAGE}, "missing_image": {IMAGE}}
    assert report.exit_code() == 1 and not report.ok()


@pytest.mark.parametrize("full", [False, True])
def test_resized_file(release: Path, full: bool) -> None:
    size = (release / IMAGE).stat().st_size
    with open(release / IMAGE, "ab") as fh:
        fh.write(b"\0")
    report = verify_release(release, full=full)
    assert _kinds(report) == {"size": {IMAGE}}  # a wrong size is not hashed as well
    assert report.problems[0].message == f"expected {size} bytes, found {size + 1}"


def test_flipped_byte_needs_full(release: Path) -> None:
    data = bytearray((release / IMAGE).read_bytes())
    assert data[6:11] == b"JFIF\0"
    data[15] ^= 0x01  # the JFIF header's horizontal density: the pixels still decode
    (release / IMAGE).write_bytes(bytes(data))
    assert verify_release(release).exit_code() == 0
    report = verify_release(release, full=True)
    assert _kinds(report) == {"sha256": {IMAGE}} and report.exit_code() == 1


def test_truncated_jpeg_only_decode_catches(release: Path) -> None:
    data = (release / IMAGE).read_bytes()[:-2]  # no end-of-image marker
    (release / IMAGE).write_bytes(data)
    _edit_manifest(release, IMAGE, data)
    assert verify_release(release).exit_code() == 0
    report = verify_release(release, full=True)
    assert _kinds(report) == {"undecodable_image": {IMAGE}}
    assert "truncated" in report.problems[0].message


def test_not_an_image(release: Path) -> None:
    _edit_manifest(release, IMAGE, b"not a jpeg")
    (release / IMAGE).write_bytes(b"not a jpeg")
    assert _kinds(verify_release(release, full=True)) == {"undecodable_image": {IMAGE}}


def test_unreferenced_image_is_a_warning(release: Path) -> None:
    shutil.copy(release / IMAGE, release / "images/train/extra.JPG")
    report = verify_release(release)
    assert report.problems == [
        Problem(
            "unreferenced_image", "warning", "images/train/extra.JPG", "an image no annotation file refers to"
        )
    ]
    assert report.exit_code("error") == 0 and report.exit_code("warning") == 1


def test_broken_annotation_file(release: Path) -> None:
    path = release / "annotations/val.svmlp.json"
    path.write_bytes(path.read_bytes()[:-10])
    report = verify_release(release)
    kinds = _kinds(report)
    assert kinds == {"size": {"annotations/val.svmlp.json"}, "annotations": {"."}}
    assert "val.svmlp.json" in next(p.message for p in report.problems if p.kind == "annotations")


def test_no_data_set(release: Path) -> None:
    shutil.rmtree(release / "annotations")
    report = verify_release(release)
    assert _kinds(report)["annotations"] == {"."} and len(_kinds(report)["missing_file"]) == 3


def test_no_stored_manifest(release: Path) -> None:
    (release / STATE_DIR / "manifest.json").unlink()
    with pytest.raises(ManifestError, match="not downloaded by svmlp download; pass --manifest"):
        verify_release(release)
    manifest = parse_manifest(_sample_doc(), source=(SAMPLE_DIR / "manifest.json").as_uri())
    assert verify_release(release, manifest=manifest).exit_code() == 0


def test_unchecked_archive(release: Path) -> None:
    doc = _sample_doc()
    del doc["files"][0]["members"]
    manifest = parse_manifest(doc, source=(SAMPLE_DIR / "manifest.json").as_uri())
    report = verify_release(release, manifest=manifest)
    assert [(p.kind, p.severity) for p in report.problems] == [("unchecked_archive", "warning")]
    assert report.files_checked == 0 and report.exit_code() == 0


def test_bad_usage(release: Path) -> None:
    with pytest.raises(UsageError):
        verify_release(release, jobs=0)
    with pytest.raises(UsageError):
        verify_release(release / "nowhere")
    with pytest.raises(UsageError):
        verify_release(release).ok("info")


def test_report_json_and_lines(release: Path) -> None:
    for p in sorted((release / "images/val").glob("*.jpg"))[:3]:
        p.unlink()
    images = sorted((release / "images/train").glob("*.jpg"))
    for k in range(60):
        shutil.copy(images[0], release / f"images/train/copy_{k:02}.png")
    report = verify_release(release, full=True)
    doc = json.loads(report.to_json())
    assert [Problem(**p) for p in doc["problems"]] == report.problems
    assert doc["errors"] == 6 and doc["warnings"] == 60 and doc["full"] is True
    lines = report.lines()
    assert sum(line.startswith("warning: unreferenced_image: ") for line in lines) == 50
    assert "  ... and 10 more unreferenced_image" in lines and "6 error(s), 60 warning(s)" in lines[-1]


@pytest.mark.parametrize("full", [False, True])
def test_tree_unchanged(release: Path, full: bool) -> None:
    (release / IMAGE).write_bytes(b"damaged")
    shutil.copy(release / "images/val" / os.listdir(release / "images/val")[0], release / "images/extra.jpg")
    before = _tree_digest(release)
    verify_release(release, full=full, progress=True)
    assert _tree_digest(release) == before


@pytest.mark.parametrize("size", [0, 5, PIPELINE_MIN - 1, PIPELINE_MIN, PIPELINE_MIN + 1, 5 * CHUNK + 7])
def test_sha256_file_streams_big_files(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    ticks: list[int] = []
    assert sha256_file(tmp_path / "f", tick=ticks.append) == hashlib.sha256(data).hexdigest()
    assert sum(ticks) == size


def test_big_plain_file_in_manifest(release: Path) -> None:
    data = os.urandom(5 << 20)
    (release / "extra").mkdir()
    (release / "extra/big.bin").write_bytes(data)
    doc = _sample_doc()
    entry = {
        "name": "big.bin",
        "size": len(data),
        "kind": "images",
        "unpack_to": "extra",
        "urls": ["big.bin"],
    }
    doc["files"].append({**entry, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = parse_manifest(doc, source=(SAMPLE_DIR / "manifest.json").as_uri())
    assert verify_release(release, manifest=manifest, full=True).problems == []
    (release / "extra/big.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    report = verify_release(release, manifest=manifest, full=True)
    assert _kinds(report) == {"sha256": {"extra/big.bin"}}


# --- files that are not regular files: reported, never waited on or read without end ---------


def _verify_cli(release: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from svmlp.cli import main

    rc = main(["verify", "--full", str(release), "-q"])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.timeout(60)
def test_fifo_at_a_release_file_is_reported_not_waited_on(
    release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (release / IMAGE).unlink()
    os.mkfifo(release / IMAGE)
    report = verify_release(release, full=True)
    missing = [p for p in report.problems if p.kind == "missing_file"]
    assert [p.path for p in missing] == [IMAGE]
    assert "found a FIFO (named pipe), not a regular file" in missing[0].message
    rc, out, err = _verify_cli(release, capsys)
    assert rc == 1 and "FIFO" in out and err == ""


@pytest.mark.timeout(60)
def test_link_to_a_device_is_reported_not_read(release: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (release / IMAGE).unlink()
    (release / IMAGE).symlink_to("/dev/zero")
    rc, out, _ = _verify_cli(release, capsys)
    assert rc == 1 and f"missing_file: {IMAGE}: expected" in out and "found a character device" in out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge"])
def test_stored_manifest_that_is_no_plain_file(
    release: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = release / STATE_DIR / "manifest.json"
    stored.unlink()
    if kind == "fifo":
        os.mkfifo(stored)  # reading it blocked verify forever
    elif kind == "dev-zero":
        stored.symlink_to("/dev/zero")
    else:
        with open(stored, "wb") as fh:  # sparse: 65 MB of nothing, past what a manifest may be
            fh.truncate(65 << 20)
    rc, out, err = _verify_cli(release, capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and "manifest.json" in err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.timeout(60)
def test_sha256_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", Path("/dev/zero"), tmp_path):
        with pytest.raises(OSError):
            sha256_file(path)
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert sha256_file(tmp_path / "link") == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(OSError):
        sha256_file(tmp_path / "link", follow=False)
