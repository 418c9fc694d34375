"""UFPR-ALPR and RodoSol-ALPR (read only): one ``.txt`` per frame beside its image.

A file holds ``key: value`` lines (indented or not): ``position_vehicle: x y w h``, ``type: car``,
``plate: ABC1234``, ``position_plate: x y w h``, ``corners: x1,y1 x2,y2 x3,y3 x4,y4`` and
``char N: x y w h``; other keys (``camera``, ``make``, ``layout`` …) are left alone. The vehicle
(its class is its ``type`` when that names a vehicle, else ``car``) and the plate are boxes, the
plate linked to the vehicle (link score 1.0) with its text and corners. RodoSol files have no
``position_vehicle`` (the plate stands alone) and may have ``corners`` but no ``position_plate``:
the plate's box is then the corners' enclosing box. ``read(..., with_chars=True)`` adds the
characters as boxes of a third class ``char``. The folders ``training/``, ``validation/`` and
``testing/`` (also ``train``/``val``/``test``, with track folders below them) are the splits,
else everything is ``train``. RodoSol-ALPR instead lists each image's split in ``split.txt`` at its
top (``./images/cars-br/img_000001.jpg;training``, one per line; ``;``, ``,``, a tab or spaces
between): where that file is beside the folder read, it decides, and an image it does not list
keeps its folder's split (a note counts them). The image of a file is the image of its stem
beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, where
from svmlp.formats._bench import Frame, Region, build, refuse_write, split_of
from svmlp.formats._layout import (
    CONFIG_LIMIT,
    DEFAULT_SPLIT,
    is_image,
    list_files,
    paused_gc,
    read_text,
    walk_files,
)
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.model import Dataset
from svmlp.model.categories import role_for
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

NAME = "ufpr"
PRIORITY = 70
LOOKS_FOR = "UFPR-ALPR *.txt"
ROUND_TRIP = RoundTrip()
WRITES = False

_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z_ ]*?\s*\d*)\s*:\s*(.*?)\s*$")
_SIGNS = ("position_plate:", "position_vehicle:", "corners:")
_LIMIT = 1 << 20
_SPLIT_LIST = "split.txt"


def _is_ufpr(path: Path) -> bool:
    if path.suffix != ".txt":
        return False
    try:
        head = read_text(path, limit=4096)
    except AnnotationError:
        return False
    return any(line.strip().startswith(_SIGNS) for line in head.splitlines()) and "plate:" in head


def sniff(path: Path) -> Sniff | None:
    """A UFPR-ALPR/RodoSol ``.txt`` (``plate:`` with ``position_plate:`` or ``corners:``), or a
    folder holding them (the first few found below it)."""
    if path.is_file():
        return Sniff("a UFPR-ALPR .txt file (plate:, position_plate:)") if _is_ufpr(path) else None
    if not path.is_dir():
        return None
    try:
        txts = walk_files(path, (".txt",))[:4]
    except AnnotationError:
        return None
    found = next((p for p in txts if _is_ufpr(p)), None)
    if found is None:
        return None
    return Sniff(f"{found.relative_to(path).as_posix()} is a UFPR-ALPR file (plate:, position_plate:)")


def image_destination(split: str, file_name: str) -> str:
    return f"{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    raise refuse_write(NAME)


def _numbers(text: str, n: int, file: Path, line: int, key: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        values = []
    if len(values) != n or not all(abs(v) < 1e9 for v in values):
        raise AnnotationError(f"{where(file, line)}: {key}: expected {n} numbers, found {text[:80]!r}")
    return values


def _xywh(text: str, file: Path, line: int, key: str) -> list[float]:
    x, y, w, h = _numbers(text, 4, file, line, key)
    if w < 0 or h < 0:
        raise AnnotationError(f"{where(file, line)}: {key}: negative width or height")
    return [x, y, x + w, y + h]


def _parse(file: Path, with_chars: bool) -> list[Region]:
    text = read_text(file, limit=_LIMIT, what="UFPR-ALPR file")
    vehicle: list[float] | None = None
    kind = "car"
    plate_box: list[float] | None = None
    corners: list[list[float]] | None = None
    plate_text = ""
    chars: list[list[float]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _KEY.match(raw)
        if m is None:
            raise AnnotationError(f"{where(file, n)}: expected 'key: value', found {raw.strip()[:80]!r}")
        key, value = m.group(1).strip().lower(), m.group(2)
        if key == "position_vehicle":
            vehicle = _xywh(value, file, n, key)
        elif key == "position_plate":
            plate_box = _xywh(value, file, n, key)
        elif key == "type":
            kind = value.lower() if value and role_for(value) == "parent" else "car"
        elif key == "plate":
            plate_text = value
        elif key == "corners":
            flat = _numbers(value, 8, file, n, key)
            corners = [flat[k : k + 2] for k in range(0, 8, 2)]
        elif re.fullmatch(r"char\s*\d+", key):
            chars.append(_xywh(value, file, n, key))
    if plate_box is None and corners is not None:
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        plate_box = [min(xs), min(ys), max(xs), max(ys)]
    regions: list[Region] = []
    if vehicle is not None:
        regions.append(Region(kind, vehicle))
    if plate_box is not None:
        extra: dict[str, object] = {"plate": {"text": plate_text, "corners": corners}}
        if vehicle is not None:
            extra.update(parent=0, link_score=1.0)
        regions.append(Region("plate", plate_box, extra))
    elif plate_text:
        raise AnnotationError(f"{file}: plate {plate_text[:20]!r} has neither position_plate nor corners")
    if with_chars:
        regions += [Region("char", c) for c in chars]
    return regions


def _split_list(folder: Path) -> dict[str, str] | None:
    """RodoSol's ``split.txt``: image path (relative to ``folder``, posix) → split; None when
    there is none."""
    file = folder / _SPLIT_LIST
    if not file.exists() and not file.is_symlink():
        return None
    text = read_text(file, limit=CONFIG_LIMIT, what="split list")
    listed: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        sep = next((c for c in ";\t," if c in line), None)
        parts = line.rsplit(sep, 1)
        split = split_of((parts[-1].strip(),)) if len(parts) == 2 else None
        if split is None:
            raise AnnotationError(
                f"{where(file, n)}: expected 'image path;training|validation|testing', found {line[:80]!r}"
            )
        name = parts[0].strip().replace("\\", "/")
        while name.startswith("./"):
            name = name[2:]
        listed[name] = split
    return listed


@paused_gc()
def read(
    path: str | Path, *, probe: bool = True, findings: Findings = STRICT, with_chars: bool = False
) -> Dataset:
    """Read a UFPR-ALPR/RodoSol folder (or one of its files); ``with_chars``: the characters too."""
    given = Path(path)
    if given.is_file():
        folder, txts = given.parent, [given]
    elif given.is_dir():
        folder, txts = given, walk_files(given, (".txt",))
    else:
        raise AnnotationError(f"{given}: no such file or folder")
    guard = LinkGuard([folder])
    listed = _split_list(folder) if given.is_dir() else None
    unlisted = 0
    frames: list[Frame] = []
    images: dict[Path, list[Path]] = {}
    for txt in txts:
        if listed is not None and txt.parent == folder and txt.name == _SPLIT_LIST:
            continue
        parts = txt.relative_to(folder).parts[:-1]
        split = split_of(parts) or split_of((folder.name,)) or DEFAULT_SPLIT
        k = next((i for i, p in enumerate(parts) if split_of((p,)) == split), -1)
        root = folder.joinpath(*parts[: k + 1])
        if txt.parent not in images:
            images[txt.parent] = [p for p in list_files(txt.parent) if is_image(p)]
        pics = [p for p in images[txt.parent] if p.stem == txt.stem]
        if not pics and not _is_ufpr(txt):
            continue  # a list or note file, not a frame's annotation
        guard.check(txt, what="UFPR-ALPR file")
        image = pics[0] if pics else txt.with_suffix(".png")
        if listed is not None:
            chosen = listed.get(image.relative_to(folder).as_posix())
            if chosen is None:
                unlisted += 1
            else:
                split, root = chosen, folder
        key = image.relative_to(root).as_posix()
        check_file_name(key, where=str(txt))
        check_split_name(split, where=str(txt))
        frames.append(Frame(split, root, key, str(txt), _parse(txt, with_chars)))
    if not frames:
        raise AnnotationError(f"{given}: no UFPR-ALPR *.txt file here")
    return build(
        frames,
        given=given,
        folder=folder,
        order=["car", "plate", "char"],
        probe=probe,
        findings=findings,
        notes=[f"{unlisted} image(s) not in {folder / _SPLIT_LIST} keep their folder's split"]
        if unlisted
        else [],
    )
