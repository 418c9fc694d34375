"""svmlp audit on hostile files: FIFOs, devices, huge sparse files, broken images and boxes.

Each is a finding naming the file, the audit never hangs or fills memory, and what Pillow and numpy
would warn about those files stays off stderr. Built in tmp_path with real images (Pillow).
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svmlp.audit import audit, run_audit
from svmlp.audit.report import render_html
from svmlp.audit.scan import MAX_IMAGE_BYTES
from svmlp.cli import main
from svmlp.model import BoxTable, Category, Dataset, ImageTable

CATS = [Category(1, "vehicle", role="parent"), Category(2, "plate", role="child")]
NOT_REGULAR = "not a regular file; svmlp reads regular files only"


def _jpeg(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)).save(path, quality=90)


def _ds(root: Path, n: int) -> Dataset:
    """im0..im{n-1}.jpg, 200×100, a vehicle on each (the files are the test's to write)."""
    names = [f"im{i}.jpg" for i in range(n)]
    im = ImageTable.build(
        id=list(range(1, n + 1)), file_name=names, split="train", width=[200] * n, height=[100] * n
    )
    bt = BoxTable.build(
        id=list(range(1, n + 1)),
        image=list(range(n)),
        category=[0] * n,
        xyxy=[[10, 10, 110, 80]] * n,
        parent=[-1] * n,
    )
    return Dataset(CATS, im, bt, roots={"train": root})


def _corrupt_exif_jpeg(seed: int = 1) -> bytes:
    """A 200×100 JPEG whose EXIF block claims a tag far larger than the file: Pillow warns."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "x" * 40  # ImageDescription, stored past the IFD
    block = exif.tobytes()
    order = "big" if block.startswith(b"Exif\x00\x00MM") or block.startswith(b"MM") else "little"
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)).save(buf, "JPEG", exif=block)
    data = bytearray(buf.getvalue())
    entry = data.find((0x010E).to_bytes(2, order) + (2).to_bytes(2, order))  # tag 0x010E, type ASCII
    assert entry > 0
    data[entry + 4 : entry + 8] = (0x7FFFFFF).to_bytes(4, order)  # its count: 128 MiB
    return bytes(data)


def _bomb_png() -> bytes:
    """A PNG header for 10000×9000 pixels (past Pillow's warning limit) and no pixels to speak of."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 10000, 9000, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(100)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.timeout(60)
def test_a_fifo_a_device_and_a_huge_file_are_findings_not_a_hang(tmp_path: Path) -> None:
    ds = _ds(tmp_path, 5)
    _jpeg(tmp_path / "im0.jpg")
    os.mkfifo(tmp_path / "im1.jpg")
    (tmp_path / "im2.jpg").symlink_to("/dev/zero")  # read whole, it would fill memory
    with open(tmp_path / "im3.jpg", "wb") as f:
        f.truncate(MAX_IMAGE_BYTES + 1)  # sparse: no disk, but hours of hashing
    report = run_audit(ds)
    found = {(i.check, i.image): i.message for i in report.issues if i.check.endswith("_image")}
    assert found == {
        ("undecodable_image", 1): f"{tmp_path / 'im1.jpg'} is a FIFO (named pipe), {NOT_REGULAR}",
        ("undecodable_image", 2): f"{tmp_path / 'im2.jpg'} is a character device, {NOT_REGULAR}",
        ("undecodable_image", 3): (
            f"{tmp_path / 'im3.jpg'} is {MAX_IMAGE_BYTES + 1} bytes, more than the {MAX_IMAGE_BYTES} "
            "bytes an image file may have"
        ),
        ("missing_image", 4): f"not found at {tmp_path / 'im4.jpg'}",
    }
    # the page draws a grey tile for each, saying why
    assert render_html(report, tmp_path / "r.html") == 4
    page = (tmp_path / "r.html").read_text()
    assert "the image is a FIFO (named pipe), not a regular file" in page
    assert "the image is a link out of the data set; not shown" in page  # /dev/zero is outside


@pytest.mark.timeout(60)
def test_the_cli_reports_broken_images_without_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    names = ["good.jpg", "fifo.jpg", "exif.jpg", "cut.jpg", "bomb.png"]
    _jpeg(data / "good.jpg")
    os.mkfifo(data / "fifo.jpg")
    exif = _corrupt_exif_jpeg()
    (data / "exif.jpg").write_bytes(exif)  # decodes: the broken EXIF block is no orientation
    (data / "cut.jpg").write_bytes(exif[: len(exif) - 300])
    (data / "bomb.png").write_bytes(_bomb_png())
    with warnings.catch_warnings(record=True) as seen:  # the files do make Pillow warn
        warnings.simplefilter("always")
        with Image.open(data / "exif.jpg") as im:
            im.getexif()
        Image.open(data / "bomb.png").close()
    assert {w.category.__name__ for w in seen} == {"UserWarning", "DecompressionBombWarning"}
    doc = {
        "images": [{"id": i + 1, "file_name": n, "width": 200, "height": 100} for i, n in enumerate(names)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 50]}],
        "categories": [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "plate"}],
    }
    (data / "instances_train.json").write_text(json.dumps(doc))
    out = tmp_path  # outside the data set: svmlp never writes into what it reads
    args = [
        "audit",
        str(data / "instances_train.json"),
        "--json-out",
        str(out / "r.json"),
        "--html",
        str(out / "r.html"),
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = main(args)
    assert [f"{w.category.__name__}: {w.message}" for w in seen] == []
    assert code == 1 and capsys.readouterr().err == ""
    issues = json.loads((out / "r.json").read_text())["issues"]
    bad = {i["file_name"]: i["message"] for i in issues if i["check"] == "undecodable_image"}
    assert set(bad) == {"fifo.jpg", "cut.jpg", "bomb.png"}
    assert bad["fifo.jpg"] == f"{data / 'fifo.jpg'} is a FIFO (named pipe), {NOT_REGULAR}"
    assert "truncated" in bad["cut.jpg"]


def test_hostile_boxes_draw_without_a_numpy_warning(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-1e308, -1e308, 1e308, 1e308]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1e308, 1e308, 1, 1]},
        ],
        "categories": [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "plate"}],
    }
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    with np.errstate(all="ignore"):  # the checks' own arithmetic is not what this test is about
        report = audit(tmp_path / "instances_train.json")
    assert any(i.image == 0 for i in report.issues)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert render_html(report, tmp_path / "r.html") == 1
    assert [f"{w.category.__name__}: {w.message}" for w in seen] == []
    assert "data:image/jpeg;base64," in (tmp_path / "r.html").read_text()
