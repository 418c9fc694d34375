"""YOLO, in the ultralytics layout: ``data.yaml``, ``images/<split>/``, ``labels/<split>/``.

A label row is ``class cx cy w h``, normalised by the image size. Reading also takes polygon
and oriented-box rows (their enclosing box, and their points: the ``corners`` of a four-point
row, the ``segmentation`` of a polygon), darknet and loose layouts (a names file, ``obj.names``
or ``classes.txt``, beside ``images/`` and ``labels/``). Image sizes come from the image headers
(the EXIF-turned frame, as ultralytics sees it), else from the sidecar. A label file with no
image, a class index outside ``names`` and a row with a wrong number of values are errors naming
the file and line; a split none of whose images has a label file is a note naming where labels
were looked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError
from svmlp.formats import _sidecar
from svmlp.formats._layout import paused_gc, walk_files
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._sidecar import SidecarImage
from svmlp.formats._yolo_layout import (
    NAMES_FILES,
    YoloLayout,
    find_layout,
    label_path_candidates,
    names_file_of,
)
from svmlp.formats._yolo_read import read_labels
from svmlp.formats._yolo_side import sidecar_format
from svmlp.formats._yolo_write import label_rel, write_labels
from svmlp.model import Dataset, ImageTable, Inputs, categories_from_names
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = [
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "image_destination",
    "label_destination",
    "read",
    "sniff",
    "write",
    "write_rows",
]

NAME = "yolo"
#: after VOC (whose devkit folders may hold a stray *.yaml), before COCO (a YOLO export may hold
#: a *.json beside its data.yaml); ``yolo-obb`` asks just before, and claims only its own output
PRIORITY = 30
LOOKS_FOR = "YOLO data.yaml/obj.names/classes.txt"
#: normalised coordinates written with 10 significant digits, the box clamped to its image first
#: (ultralytics refuses values outside [0, 1]); the sidecar keeps every other attribute
ROUND_TRIP = RoundTrip(tolerance=1e-6, clamps=True)

_CONFIGS = ("data.yaml", "dataset.yaml", "data.yml", "obj.data")
#: the formats whose sidecar this reader applies: the same label layout, other rows
FAMILY = ("yolo", "yolo-obb")


def sniff(path: Path) -> Sniff | None:
    """A ``.yaml``/``.yml``/``.data`` file, or a folder with a data set config or a names file
    (``obj.names``, ``classes.txt``) in it; a bare ``labels/`` folder is a weak sign (COCO and
    others name folders so too)."""
    if path.is_file():
        return Sniff(f"a {path.suffix} file") if path.suffix in (".yaml", ".yml", ".data") else None
    config = next((n for n in _CONFIGS if (path / n).is_file()), None)
    if config is None and (names := names_file_of(path)) is not None:
        config = names.relative_to(path).as_posix()
    if config is not None:
        return Sniff(f"it holds {config}")
    if next(path.glob("*.yaml"), None):
        return Sniff("it holds a *.yaml file")
    if (path / "labels").is_dir():
        return Sniff("it holds a labels/ folder", weak=True)
    return None


def _config_above(path: Path) -> str:
    """A hint when the folder given is one split of a data set whose config lies a level up (a
    user pointing at ``train/``): names the config, so the fix is one step."""
    above = path.parent if path.name not in ("", ".", "..") else path.resolve().parent
    found = sorted(p.name for p in (above / n for n in ("data.yaml", "dataset.yaml")) if p.is_file())
    return f"; {above / found[0]} names them: give svmlp that file or {above}" if found else ""


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a YOLO data set from a folder, a ``data.yaml`` or an ``obj.data``; ``findings``:
    strict (the default) or lenient reading (:class:`~svmlp.model.strictness.Findings`)."""
    layout = find_layout(Path(path))
    side_dir = layout.config.parent if layout.config else layout.base
    written_as = sidecar_format(side_dir)
    side = _sidecar.load(side_dir, written_as if written_as in FAMILY else NAME)
    if side is not None:
        categories = side.category_list(side_dir / _sidecar.SIDECAR_NAME)
    elif layout.names is not None:
        categories = list(categories_from_names(layout.names))
    else:
        raise AnnotationError(
            f"{path}: no class names found (data.yaml 'names', {', '.join(NAMES_FILES)} or svmlp.sidecar.json)"
            + _config_above(Path(path))
        )
    known = side.by_key() if side else {}
    inputs = layout.inputs() | Inputs.of(files=[side_dir / _sidecar.SIDECAR_NAME] if side else [])
    records = _collect_images(layout, known)
    labels = read_labels(
        records,
        categories,
        known,
        probe,
        side_dir / _sidecar.SIDECAR_NAME,
        LinkGuard(inputs.roots),
        findings=findings,
    )
    _check_orphan_labels(layout, labels.claimed, findings)
    roots = {s: src.root for s, src in layout.splits.items()}
    return Dataset(
        categories,
        labels.images,
        labels.builder.build(),
        roots=roots,
        info=side.info if side else {},
        notes=layout.notes + labels.notes + _unlabelled_splits(layout, labels.images, known),
        source=layout.config or layout.base,
        inputs=inputs,
        findings=findings,
    )


def _collect_images(
    layout: YoloLayout, known: dict[tuple[str, str], SidecarImage]
) -> list[tuple[str, str, Path]]:
    """(split, key, path) for every image on disk and every image only the sidecar knows."""
    out, seen = [], set()
    for split, src in layout.splits.items():
        for p in src.images:
            key = p.relative_to(src.root).as_posix() if p.is_relative_to(src.root) else p.as_posix()
            out.append((split, key, p))
            seen.add((split, key))
    for split, key in known:
        if (split, key) not in seen:
            root = layout.splits[split].root if split in layout.splits else layout.base / "images" / split
            out.append((split, key, root / key))
    return out


def _unlabelled_splits(
    layout: YoloLayout, images: ImageTable, known: dict[tuple[str, str], SidecarImage]
) -> list[str]:
    """A note for each split with images on disk none of which has a label file (a missing or
    misnamed label folder must not read as a set of unlabelled images without a word), unless
    the sidecar says they were written unlabelled."""
    notes = []
    has_label = images.label_file != "" if images.label_file is not None else images.labelled
    for split, src in layout.splits.items():
        mine = images.split == split
        if not src.images or has_label[mine].any():
            continue
        keys = images.file_name[mine].tolist()
        if known and all((k := known.get((split, key))) is not None and not k.labelled for key in keys):
            continue
        cands = label_path_candidates(src.images[0])
        looked = " or ".join(str(c) for c in dict.fromkeys([cands[0], cands[-1]]))  # ultralytics', beside it
        notes.append(
            f"{src.root}: none of its {len(src.images)} image(s) has a label file (looked for {looked}, "
            "and the same for each image); read as unlabelled images. Is the label folder missing or "
            "misnamed?"
        )
    return notes


def _check_orphan_labels(layout: YoloLayout, claimed: set[Path], findings: Findings) -> None:
    names_files = {Path(n).name for n in NAMES_FILES}
    for src in layout.splits.values():
        for d in src.label_dirs:
            for txt in walk_files(d, (".txt",)):
                if txt not in claimed and txt.name not in names_files:
                    findings.complain(
                        "orphan_label",
                        f"{txt}: label file has no image (looked for an image of the same stem in {src.root})",
                    )


# -- writing ------------------------------------------------------------------------------------


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


def label_destination(split: str, file_name: str) -> str:
    """The label file of an image: its path with the last ``images`` folder turned into ``labels``
    (ultralytics' rule, so a file name that itself holds an ``images/`` folder still matches)."""
    return label_rel(split, file_name)


def _frames(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """Each image's (width, height) to normalise its boxes by, and notes on what was repaired.

    The stored size, except where the image file says otherwise (its header was read): an image
    whose stored size is missing (0) or disagrees with the file is normalised by the file's real
    size (ultralytics measures the file), unless its boxes reach past the file's frame but fit the
    stored one: then the image was resized after labelling and the stored size keeps the relative
    coordinates right."""
    im, b = ds.images, ds.boxes
    stored = np.stack([im.width, im.height], axis=1)
    shown = np.stack(im.displayed_header_size(), axis=1)
    raw = np.stack([im.header_width, im.header_height], axis=1)
    have = (shown > 0).all(axis=1)
    unknown = have & (stored <= 0).any(axis=1)
    differ = have & ~unknown & (stored != shown).any(axis=1) & (stored != raw).any(axis=1)
    past = np.zeros(len(im), dtype=bool)
    if differ.any() and len(b):
        rows = np.flatnonzero(differ[b.image] & usable_boxes(b.xyxy))
        reach = np.zeros((len(im), 2))
        np.maximum.at(reach, b.image[rows], b.xyxy[rows, 2:])
        past = differ & (reach > shown + 0.5).any(axis=1)
    use_file = unknown | (differ & ~past)
    frame = np.where(use_file[:, None], shown, stored)
    notes = []
    for mask, what in (
        (unknown, "store no size; their boxes were normalised by the size in the image file"),
        (
            differ & ~past,
            "store a size that differs from the image file; their boxes were normalised by the file's "
            "real size (svmlp audit lists them as size_mismatch)",
        ),
        (
            past,
            "store a size that differs from the image file, and their boxes reach past the file's size: "
            "resized after labelling? their boxes were normalised by the stored size",
        ),
    ):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            eg = (
                f"e.g. {str(im.file_name[i])!r}: stored {int(stored[i, 0])}x{int(stored[i, 1])}, "
                f"file {int(shown[i, 0])}x{int(shown[i, 1])}"
            )
            notes.append(f"{int(mask.sum())} image(s) {what} ({eg})")
    return frame, notes


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``data.yaml``, label files (``class cx cy w h``), empty image folders and the sidecar."""
    return write_rows(ds, out, fmt=NAME, oriented=False)


def write_rows(ds: Dataset, out: Path, *, fmt: str, oriented: bool) -> list[str]:
    """The YOLO layout with detection rows, or with ultralytics' oriented-box rows (``yolo-obb``),
    each image's boxes normalised by its frame (:func:`_frames`)."""
    frame, notes = _frames(ds)
    return notes + write_labels(ds, out, frame, fmt=fmt, obb=oriented)
