"""Size and EXIF orientation of a JPEG or PNG read straight from its header bytes.

Pillow's ``Image.open`` answers the same question for every format, but it builds an image
object, parses every marker's payload (quantisation tables, ICC profiles, JFIF densities) and
reads EXIF through a TIFF directory object: about 40 µs a file, most of a large data set's header
probe. :func:`parse` walks only the segments that decide the answer, for the files it can read
exactly as Pillow does, and returns None for everything else, so the caller asks Pillow: another
format, anything unusual or broken, a second EXIF block, a PNG with EXIF, an ICC profile or
compressed text. It never decides that a file is broken; Pillow words that. (A file whose frame
header is sound but whose other segments Pillow's ``open`` would trip on in ways not copied here,
such as an ICC fragment too short to number, gets its size here and fails when decoded.)

What Pillow does and this copies (Pillow 11–13, ``JpegImagePlugin`` and ``PngImagePlugin``):
the JPEG size is the start-of-frame's, 8-bit samples in 1, 3 or 4 components; the orientation
is the first ``Exif`` APP1 block's tag 0x0112 (a SHORT), else an XMP packet's
``tiff:Orientation``; quantisation tables must fill their segment. A PNG's size is its IHDR's,
every chunk before the pixels must pass its CRC, and its orientation is 1 unless an ``eXIf``
chunk says otherwise (left to Pillow).
"""

from __future__ import annotations

import os
import re
import zlib

__all__ = ["parse"]

#: bytes read at first: the whole header of most files (an EXIF thumbnail can push it past)
_FIRST = 16 * 1024
#: how far into a file a header is followed before the file is left to Pillow
_REACH = 1 << 20

#: start-of-frame markers Pillow reads a size from (0xDE, DHP, too: left to Pillow)
_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
#: segments Pillow skips by their length without checking the payload (tables, APPn, comments)
_SKIPPED = frozenset((0xC4, 0xCC, 0xDC, 0xDD, 0xDF, 0xFE, *range(0xE0, 0xF0)))
_EXIF = b"Exif\0\0"
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')

_PNG = b"\x89PNG\r\n\x1a\n"
#: (bit depth, colour type) pairs Pillow has a mode for
_PNG_MODES = frozenset(
    ((1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3))
    + ((8, 4), (16, 4), (8, 6), (16, 6))
)
#: chunks whose payload Pillow decodes in a way this does not copy
_PNG_TO_PILLOW = frozenset((b"eXIf", b"iCCP", b"zTXt", b"iTXt"))


class _Defer(Exception):
    """The header runs past the file's end or the reach: Pillow decides."""


class _Head:
    """The first bytes of an open file, read further on demand up to :data:`_REACH`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = os.pread(fd, _FIRST, 0)
        self.end = len(self.buf) < _FIRST  # the whole file is in buf

    def upto(self, stop: int) -> bytes:
        """The bytes read so far once they reach ``stop``; :class:`_Defer` when the file or the
        reach ends before it."""
        if stop > len(self.buf) and not self.end:
            if stop > _REACH:
                raise _Defer
            want = max(stop, 2 * len(self.buf)) - len(self.buf)
            more = os.pread(self.fd, want, len(self.buf))
            self.end = len(more) < want
            self.buf += more
        if stop > len(self.buf):
            raise _Defer
        return self.buf


def parse(fd: int) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) of the JPEG or PNG open as ``fd``, as Pillow would
    report them, or None when Pillow must be asked (see the module's docstring)."""
    head = _Head(fd)
    try:
        if head.buf[:3] == b"\xff\xd8\xff":
            return _jpeg(head)
        if head.buf[:8] == _PNG:
            return _png(head)
    except _Defer:
        pass
    return None


def _jpeg(head: _Head) -> tuple[int, int, int] | None:
    buf = head.buf
    pos = 2
    size: tuple[int, int] | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    while True:
        if pos + 4 > len(buf):
            buf = head.upto(pos + 4)
        if buf[pos] != 0xFF:
            return None
        kind = buf[pos + 1]
        if kind == 0xFF:  # a fill byte
            pos += 1
            continue
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        stop = pos + 2 + length  # Pillow reads every segment whole
        if length < 2:
            return None
        if stop > len(buf):
            buf = head.upto(stop)
        if kind == 0xDA:  # start of scan: the header is over
            break
        if kind in _SOF:
            # Pillow wants whole 3-byte component entries, and takes the last of two frames
            if length < 8 or (length - 8) % 3 or size is not None:
                return None
            height, width = (buf[pos + 5] << 8) | buf[pos + 6], (buf[pos + 7] << 8) | buf[pos + 8]
            if buf[pos + 4] != 8 or buf[pos + 9] not in (1, 3, 4) or not width or not height:
                return None
            size = (width, height)
        elif kind == 0xDB:
            if not _tables_fill(buf, pos + 4, stop):
                return None
        elif kind == 0xE1:
            if buf.startswith(_EXIF, pos + 4):
                if exif is not None:
                    return None  # Pillow joins EXIF blocks
                exif = buf[pos + 4 + len(_EXIF) : stop]
            elif buf.startswith(_XMP, pos + 4):
                xmp = buf[pos + 4 + len(_XMP) : stop]
        elif kind not in _SKIPPED:
            return None
        pos = stop
    if size is None:
        return None
    orientation: int | None = None
    if exif is not None:
        found = _exif_orientation(exif)
        if found is False:
            return None
        orientation = found
    if orientation is None and xmp:
        match = _XMP_ORIENTATION.search(xmp)
        orientation = int(match[2]) if match else None
    return size[0], size[1], orientation if orientation is not None and 1 <= orientation <= 8 else 1


def _tables_fill(buf: bytes, start: int, stop: int) -> bool:
    """Whether a DQT segment's tables (``buf[start:stop]``) fill it, as Pillow requires."""
    k = start
    while k < stop:
        k += 1 + (64 if buf[k] < 16 else 128)
    return k == stop


def _exif_orientation(tiff: bytes) -> int | None | bool:
    """Tag 0x0112 of the TIFF block's first directory: the value, None when absent, False when
    the block is anything but plain (Pillow decides)."""
    if len(tiff) < 8:
        return False
    order = tiff[:4]
    if order == b"II*\0":
        big = False
    elif order == b"MM\0*":
        big = True
    else:
        return False

    def number(at: int, n: int) -> int:
        return int.from_bytes(tiff[at : at + n], "big" if big else "little")

    ifd = number(4, 4)
    if ifd < 8 or ifd + 2 > len(tiff):
        return False
    count = number(ifd, 2)
    if ifd + 2 + 12 * count > len(tiff):
        return False
    found: int | None = None
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if number(entry, 2) != 0x0112:
            continue
        if number(entry + 2, 2) != 3 or number(entry + 4, 4) != 1:  # one SHORT, else Pillow
            return False
        found = number(entry + 8, 2)
    return found


def _png(head: _Head) -> tuple[int, int, int] | None:
    buf = head.buf
    pos = 8
    size: tuple[int, int] | None = None
    while True:
        if pos + 8 > len(buf):
            buf = head.upto(pos + 8)
        length = int.from_bytes(buf[pos : pos + 4], "big")
        kind = buf[pos + 4 : pos + 8]
        if kind == b"IDAT":
            break
        if not kind.isalpha() or not kind.isascii() or kind in _PNG_TO_PILLOW or length > _REACH:
            return None
        stop = pos + 12 + length
        if stop > len(buf):
            buf = head.upto(stop)
        if zlib.crc32(buf[pos + 4 : stop - 4]) != int.from_bytes(buf[stop - 4 : stop], "big"):
            return None
        if kind == b"IHDR":
            ihdr = buf[pos + 8 : stop - 4]
            if length != 13 or size is not None or ihdr[11] or (ihdr[8], ihdr[9]) not in _PNG_MODES:
                return None
            size = (int.from_bytes(ihdr[:4], "big"), int.from_bytes(ihdr[4:8], "big"))
        elif size is None or kind == b"IEND":
            return None
        pos = stop
    if size is None or not size[0] or not size[1]:
        return None
    return size[0], size[1], 1
