"""``python -m svmlp._headworker``: image headers for a caller that goes on with other work.

Reads NUL-separated paths from stdin, and writes for each, in order, its width and height
(little-endian int64) and EXIF orientation (int8), 0 where the image is missing or unreadable
(what :func:`svmlp.imageinfo.header_columns` gives). Imports neither numpy nor the formats, so it
starts in the time Python takes. Started by :class:`svmlp.imageinfo.PendingHeaders`.
"""

from __future__ import annotations

import struct
import sys

__all__ = ["main"]


def main() -> None:
    from svmlp.imageinfo import read_headers

    data = sys.stdin.buffer.read()
    paths = [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0")] if data else []
    infos = read_headers(paths)
    out = b"".join(
        [
            struct.pack(f"<{len(infos)}q", *(i.width for i in infos)),
            struct.pack(f"<{len(infos)}q", *(i.height for i in infos)),
            struct.pack(f"<{len(infos)}b", *(i.orientation for i in infos)),
        ]
    )
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
