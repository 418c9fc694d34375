from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from svmlp.imageinfo import read_header, read_headers


def test_size_and_exif_orientation(tmp_path: Path) -> None:
    im = Image.new("RGB", (64, 32))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "turned.jpg", exif=exif)
    im.save(tmp_path / "plain.png")
    turned = read_header(tmp_path / "turned.jpg")
    assert (turned.width, turned.height, turned.orientation) == (64, 32, 6)
    assert turned.displayed == (32, 64)
    plain = read_header(tmp_path / "plain.png")
    assert (plain.width, plain.height, plain.orientation, plain.error) == (64, 32, 1, None)


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "text.jpg").write_text("not an image")
    assert read_header(tmp_path / "text.jpg").error == "not an image"
    assert read_header(tmp_path / "none.jpg").error == "missing"
    infos = read_headers([tmp_path / "none.jpg", None] * 40, threads=4)
    assert {i.error for i in infos} == {"missing"}


def test_huge_image_header_is_read(tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # a 40000 x 20000 PNG header (800 megapixels: past Pillow's decompression-bomb limit)
    ihdr = struct.pack(">IIBBBBB", 40000, 20000, 8, 2, 0, 0, 0)
    (tmp_path / "aerial.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    info = read_header(tmp_path / "aerial.png")
    assert (info.width, info.height, info.error) == (40000, 20000, None)


@pytest.mark.parametrize("slow", [False, True])
def test_many_headers_in_order_on_a_fast_or_slow_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    """Threads are used only when the first reads show a slow disk; either way, in order."""
    from PIL import Image

    import svmlp.imageinfo as info

    paths: list[Path | None] = []
    for k in range(700):
        p = tmp_path / f"{k}.png"
        if k % 7:
            Image.new("RGB", (10 + k % 13, 5 + k % 11)).save(p)
        paths.append(p if k % 50 else None)
    monkeypatch.setattr(info, "_SLOW", 0.0 if slow else 1.0)
    got = info.read_headers(paths, threads=4)
    assert got == [info.HeaderInfo(0, 0, 0, "missing") if p is None else info.read_header(p) for p in paths]


def test_any_error_pillow_raises_on_a_header_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow's plugins raise struct.error, EOFError, IndexError... on broken headers: each is an
    unreadable image, never an internal error ending the read."""
    import struct

    import svmlp.imageinfo as info

    (tmp_path / "a.webp").write_bytes(b"RIFF\0\0\0\0WEBPVP8 ")  # not JPEG or PNG: Pillow reads it
    for exc in (struct.error("unpack requires a buffer of 4 bytes"), EOFError(), IndexError("index")):

        def broken(fh: object, exc: Exception = exc) -> info.HeaderInfo:
            raise exc

        monkeypatch.setattr(info, "_open", broken)
        got = read_header(tmp_path / "a.webp")
        assert got.error is not None and got.error.startswith("unreadable"), got
