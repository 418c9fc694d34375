"""svmlp's own JPEG/PNG header reader against Pillow's: the same answer, or it defers to Pillow."""

from __future__ import annotations

import io
import os
import random
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from svmlp import _imagehead
from svmlp.imageinfo import HeaderInfo, _pillow, read_header

JPEG_SOI, PNG_SIG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


def fast(data: bytes, tmp_path: Path) -> tuple[int, int, int] | None:
    p = tmp_path / "probe"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        return _imagehead.parse(fd)
    finally:
        os.close(fd)


def pillow(data: bytes) -> HeaderInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _pillow(io.BytesIO(data))


def agrees(data: bytes, tmp_path: Path) -> bool:
    """The fast reader defers, or says what Pillow says (and Pillow reads the file)."""
    got = fast(data, tmp_path)
    if got is None:
        return True
    want = pillow(data)
    return (want.width, want.height, want.orientation, want.error) == (*got, None)


def encoded(fmt: str, size: tuple[int, int] = (64, 32), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else 40).save(out, fmt, **save)
    return out.getvalue()


def with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def big_endian_exif_jpeg(orientation: int) -> bytes:
    """A JPEG whose EXIF block is Motorola-ordered (Pillow itself writes Intel order)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    tiff = b"MM\0*" + struct.pack(">I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\0\0" + tiff
    plain = encoded("JPEG")
    return plain[:2] + app1 + plain[2:]


def test_every_shared_image_reads_as_pillow_reads_it(fixtures_dir: Path, plates_dir: Path) -> None:
    """Every JPEG and PNG of the shared fixtures and the real plate set: read without Pillow,
    with Pillow's answer."""
    seen = 0
    for root in (fixtures_dir, plates_dir):
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            if not data.startswith((JPEG_SOI, PNG_SIG)):
                continue
            seen += 1
            fd = os.open(path, os.O_RDONLY)
            try:
                got = _imagehead.parse(fd)
            finally:
                os.close(fd)
            want = pillow(data)
            assert got == (want.width, want.height, want.orientation), path
    assert seen >= 800


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("exif orientation, Intel order", encoded("JPEG", exif=with_orientation(6)), (64, 32, 6)),
        ("exif orientation, Motorola order", big_endian_exif_jpeg(8), (64, 32, 8)),
        ("exif orientation out of range", encoded("JPEG", exif=with_orientation(9)), (64, 32, 1)),
        ("exif without orientation", encoded("JPEG", exif=Image.Exif()), (64, 32, 1)),
        (
            "xmp orientation",
            encoded("JPEG", xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="5"/></x:xmpmeta>'),
            (64, 32, 5),
        ),
        (
            "exif wins over xmp",
            encoded("JPEG", exif=with_orientation(3), xmp=b"<r tiff:Orientation>7</r>"),
            (64, 32, 3),
        ),
        ("progressive", encoded("JPEG", progressive=True), (64, 32, 1)),
        ("grey", encoded("JPEG", mode="L"), (64, 32, 1)),
        ("cmyk", encoded("JPEG", mode="CMYK"), (64, 32, 1)),
        ("icc profile", encoded("JPEG", icc_profile=b"p" * 70_000), (64, 32, 1)),  # two APP2 blocks
        ("png", encoded("PNG"), (64, 32, 1)),
        ("png, interlaced grey", encoded("PNG", mode="L", optimize=False), (64, 32, 1)),
        ("png, palette", encoded("PNG", mode="P"), (64, 32, 1)),
        ("png, 16-bit", encoded("PNG", mode="I;16"), (64, 32, 1)),
        ("wide", encoded("JPEG", size=(65_000, 1)), (65_000, 1, 1)),
    ],
)
def test_header_variants(name: str, data: bytes, expected: tuple[int, int, int], tmp_path: Path) -> None:
    assert fast(data, tmp_path) == expected, name
    want = pillow(data)
    assert (want.width, want.height, want.orientation) == expected, name


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("png with eXIf", encoded("PNG", exif=with_orientation(6))),
        ("png with an ICC profile", encoded("PNG", icc_profile=b"p" * 100)),
        ("webp", encoded("WEBP")),
        ("bmp", encoded("BMP")),
        ("gif", encoded("GIF")),
        ("tiff", encoded("TIFF")),
        ("text", b"not an image at all"),
        ("empty", b""),
    ],
)
def test_defers_to_pillow(name: str, data: bytes, tmp_path: Path) -> None:
    assert fast(data, tmp_path) is None, name
    p = tmp_path / "image"
    p.write_bytes(data)
    assert read_header(p) == pillow(data), name


def test_png_exif_orientation_through_pillow(tmp_path: Path) -> None:
    p = tmp_path / "turned.png"
    p.write_bytes(encoded("PNG", exif=with_orientation(6)))
    assert read_header(p) == HeaderInfo(64, 32, 6)


def test_header_past_the_first_read(tmp_path: Path) -> None:
    """A header longer than the first read (a big EXIF thumbnail, an ICC profile) is followed."""
    exif = with_orientation(6)
    data = encoded("JPEG", exif=exif, icc_profile=os.urandom(200_000))
    assert fast(data, tmp_path) == (64, 32, 6)
    far = 4 * 1024 * 1024  # past the reach: Pillow is asked
    blocks = b"".join(b"\xff\xe5\xff\xff" + b"\0" * 65533 for _ in range(far // 65535))
    data = data[:2] + blocks + data[2:]
    assert fast(data, tmp_path) is None
    p = tmp_path / "far.jpg"
    p.write_bytes(data)
    assert read_header(p) == HeaderInfo(64, 32, 6)


@pytest.mark.parametrize(
    "source",
    [
        encoded("JPEG", exif=with_orientation(6), icc_profile=b"p" * 300),
        encoded("JPEG", progressive=True, xmp=b'<d tiff:Orientation="3"/>'),
        big_endian_exif_jpeg(5),
        encoded("PNG"),
        encoded("PNG", exif=with_orientation(6)),
    ],
    ids=["jpeg-exif-icc", "jpeg-progressive-xmp", "jpeg-motorola", "png", "png-exif"],
)
def test_broken_headers_never_disagree_with_pillow(source: bytes, tmp_path: Path) -> None:
    """Every cut of the header and 1 500 random corruptions of it: the fast reader defers, or
    gives what Pillow gives for that file."""
    head = min(len(source), 700)
    rng = random.Random(len(source))
    cases = [source[:k] for k in range(head)]
    for _ in range(1500):
        broken = bytearray(source)
        for _ in range(rng.randint(1, 3)):
            broken[rng.randrange(head)] = rng.randrange(256)
        cases.append(bytes(broken))
    disagree = [k for k, data in enumerate(cases) if not agrees(data, tmp_path)]
    assert not disagree, f"cases {disagree[:5]} of {len(cases)}"


def test_png_chunk_crc_is_checked(tmp_path: Path) -> None:
    data = bytearray(encoded("PNG"))
    data[29] ^= 0xFF  # IHDR's CRC
    assert fast(bytes(data), tmp_path) is None
    p = tmp_path / "bad.png"
    p.write_bytes(bytes(data))
    assert read_header(p).error is not None


def test_a_huge_png_needs_no_pillow(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 40000, 20000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    assert fast(data, tmp_path) == (40000, 20000, 1)
