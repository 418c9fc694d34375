"""The OpenALPR benchmark (read only): ``endtoend/<region>/<stem>.txt``, one plate per file.

A file holds one line ``file x y w h plate_text`` (tabs or spaces): the image ``file`` beside it
(a ``.jpg`` and a ``.png`` of one stem may both exist: the named one is taken), the plate's box
(pixels, top-left corner and size) and its text. Each region folder (``us``, ``eu``, ``br`` …)
is a split named after it; given one region folder, it is the only split. Plates only: no
vehicle boxes, no links.
"""

from __future__ import annotations

import os
from pathlib import Path

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, where
from svmlp.formats._bench import Frame, Region, build, refuse_write
from svmlp.formats._layout import is_image, list_files, paused_gc, read_text
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.model import Dataset
from svmlp.model.paths import check_file_name, check_split_name
from svmlp.model.strictness import STRICT, Findings

__all__ = [
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "WRITES",
    "image_destination",
    "read",
    "sniff",
    "write",
]

NAME = "openalpr"
PRIORITY = 72
LOOKS_FOR = "OpenALPR <region>/*.txt"
ROUND_TRIP = RoundTrip()
WRITES = False

_LIMIT = 64 << 10


def _fields(line: str) -> list[str]:
    return line.split()


def _is_openalpr(path: Path) -> bool:
    if path.suffix != ".txt":
        return False
    try:
        lines = [ln for ln in read_text(path, limit=4096).splitlines() if ln.strip()]
    except AnnotationError:
        return False
    if len(lines) != 1:
        return False
    f = _fields(lines[0])
    return len(f) >= 5 and is_image(f[0]) and all(v.lstrip("-").isdigit() for v in f[1:5])


def _regions(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            subs = sorted(folder / e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [s for s in subs if not s.name.startswith(".")]


def sniff(path: Path) -> Sniff | None:
    """An OpenALPR ``.txt`` (one line ``file x y w h text``), or a folder of them (a region
    folder, or ``endtoend/`` holding region folders)."""
    if path.is_file():
        return Sniff("an OpenALPR benchmark .txt (file x y w h text)") if _is_openalpr(path) else None
    if not path.is_dir():
        return None
    for place in [path, *_regions(path)[:16]]:
        try:
            txts = list_files(place, (".txt",))[:3]
        except AnnotationError:
            continue
        found = next((p for p in txts if _is_openalpr(p)), None)
        if found is not None:
            return Sniff(f"{found.relative_to(path).as_posix()} is an OpenALPR benchmark line")
    return None


def image_destination(split: str, file_name: str) -> str:
    return f"{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    raise refuse_write(NAME)


def _frame(txt: Path, split: str) -> Frame:
    lines = read_text(txt, limit=_LIMIT, what="OpenALPR file").splitlines()
    rows = [(n, ln) for n, ln in enumerate(lines, 1) if ln.strip()]
    if not rows:
        raise AnnotationError(f"{txt}: empty; expected one line 'file x y w h plate_text'")
    if len(rows) > 1:
        raise AnnotationError(
            f"{where(txt, rows[1][0])}: a second line; the benchmark has one plate per file"
        )
    n, line = rows[0]
    f = _fields(line)
    try:
        x, y, w, h = (float(v) for v in f[1:5])
        ok = len(f) >= 5 and min(w, h) >= 0 and max(abs(x), abs(y), w, h) < 1e9
    except ValueError:
        ok = False
    if not ok:
        raise AnnotationError(
            f"{where(txt, n)}: expected 'file x y w h plate_text', found {line.strip()[:80]!r}"
        )
    key = check_file_name(f[0], where=where(txt, n))
    if "/" in key:
        raise AnnotationError(f"{where(txt, n)}: the image {key[:80]!r} is not beside the file")
    text = " ".join(f[5:])
    plate = Region("plate", [x, y, x + w, y + h], {"plate": {"text": text}} if text else {})
    return Frame(split, txt.parent, key, str(txt), [plate])


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read the benchmark's ``endtoend/`` folder, one region folder, or one of its files."""
    given = Path(path)
    if given.is_file():
        folder, places = given.parent, [(given.parent, [given])]
    elif given.is_dir():
        folder = given
        here = list_files(given, (".txt",))
        regions = [] if here else _regions(given)
        places = [(given, here)] if here else [(r, list_files(r, (".txt",))) for r in regions]
    else:
        raise AnnotationError(f"{given}: no such file or folder")
    guard = LinkGuard([folder])
    frames: list[Frame] = []
    for region, txts in places:
        split = check_split_name(region.name, where=str(region))
        for txt in txts:
            guard.check(txt, what="OpenALPR file")
            frames.append(_frame(txt, split))
    seen: dict[tuple[str, str], str] = {}
    for fr in frames:
        if (fr.split, fr.key) in seen:
            findings.complain(
                "duplicate", f"{fr.label}: labels {fr.key} that {seen[fr.split, fr.key]} labels too"
            )
        seen[fr.split, fr.key] = fr.label
    if not frames:
        raise AnnotationError(f"{given}: no OpenALPR benchmark *.txt file here")
    if len(seen) < len(frames):
        frames = list({(fr.split, fr.key): fr for fr in frames}.values())
    return build(
        frames, given=given, folder=folder, order=["plate"], probe=probe, findings=findings, notes=[]
    )
