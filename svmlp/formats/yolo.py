"""YOLO, in the ultralytics layout: ``data.yaml``, ``images/<split>/``, ``labels/<split>/``.

A label row is ``class cx cy w h``, normalised by the image size. Reading also takes polygon
and oriented-box rows (their enclosing box), darknet and loose layouts. Image sizes come from
the image headers (the EXIF-turned frame, as ultralytics sees it), else from the sidecar. A
label file with no image, a class index outside ``names`` and a row with a wrong number of
values are errors naming the file and line.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard, make_folders, within
from svmlp.errors import AnnotationError, ImageError
from svmlp.formats import _sidecar
from svmlp.formats._layout import paused_gc, walk_files
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._sidecar import SidecarImage
from svmlp.formats._yolo_layout import YoloLayout, find_layout
from svmlp.formats._yolo_read import read_labels
from svmlp.model import Dataset, Inputs, categories_from_names, sort_splits
from svmlp.model.paths import check_destinations
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
]

NAME = "yolo"
#: after VOC (whose devkit folders may hold a stray *.yaml), before COCO (a YOLO export may hold
#: a *.json beside its data.yaml)
PRIORITY = 30
LOOKS_FOR = "YOLO data.yaml/obj.names"
#: normalised coordinates written with 10 significant digits, the box clamped to its image first
#: (ultralytics refuses values outside [0, 1]); the sidecar keeps every other attribute
ROUND_TRIP = RoundTrip(tolerance=1e-6, clamps=True)

_CONFIGS = ("data.yaml", "dataset.yaml", "data.yml", "obj.data", "obj.names")


def sniff(path: Path) -> Sniff | None:
    """A ``.yaml``/``.yml``/``.data`` file, or a folder with a data set config in it; a bare
    ``labels/`` folder is a weak sign (COCO and others name folders so too)."""
    if path.is_file():
        return Sniff(f"a {path.suffix} file") if path.suffix in (".yaml", ".yml", ".data") else None
    config = next((n for n in _CONFIGS if (path / n).is_file()), None)
    if config is not None:
        return Sniff(f"it holds {config}")
    if next(path.glob("*.yaml"), None):
        return Sniff("it holds a *.yaml file")
    if (path / "labels").is_dir():
        return Sniff("it holds a labels/ folder", weak=True)
    return None


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a YOLO data set from a folder, a ``data.yaml`` or an ``obj.data``; ``findings``:
    strict (the default) or lenient reading (:class:`~svmlp.model.strictness.Findings`)."""
    layout = find_layout(Path(path))
    side_dir = layout.config.parent if layout.config else layout.base
    side = _sidecar.load(side_dir, NAME)
    if side is not None:
        categories = side.category_list(side_dir / _sidecar.SIDECAR_NAME)
    elif layout.names is not None:
        categories = list(categories_from_names(layout.names))
    else:
        raise AnnotationError(
            f"{path}: no class names found (data.yaml 'names', obj.names or svmlp.sidecar.json)"
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
        notes=layout.notes + labels.notes,
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


def _check_orphan_labels(layout: YoloLayout, claimed: set[Path], findings: Findings) -> None:
    for src in layout.splits.values():
        for d in src.label_dirs:
            for txt in walk_files(d, (".txt",)):
                if txt not in claimed:
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
    parts = list(Path(image_destination(split, file_name)).parts)
    k = len(parts) - 1 - parts[::-1].index("images")
    parts[k] = "labels"
    return Path(*parts).with_suffix(".txt").as_posix()


_ROW = "%d %.10g %.10g %.10g %.10g\n"


def _label_path(split: str, file_name: str) -> str:
    if "images" not in file_name.split("/"):  # the common case, without pathlib's cost
        return f"labels/{split}/{os.path.splitext(file_name)[0]}.txt"
    return label_destination(split, file_name)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, _NEW_FILE, 0o666)  # a new file, never one already there (nor a link)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


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
    """Write ``data.yaml``, label files, empty image folders and the sidecar."""
    frame, notes = _frames(ds)
    _check_writable(ds, frame)
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():  # the model refuses such boxes; never normalise one
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    size = np.concatenate([frame, frame], axis=1).astype(np.float64)[b.image]
    clipped = np.clip(b.xyxy, 0, size)
    keep = ~b.iscrowd
    rows = np.column_stack(
        [
            b.category,
            (clipped[:, :2] + clipped[:, 2:]) / 2 / size[:, :2],
            (clipped[:, 2:] - clipped[:, :2]) / size[:, :2],
        ]
    )[keep]
    flat = rows.ravel().tolist()
    kept_rows = np.flatnonzero(keep).tolist()
    off = np.concatenate([[0], np.cumsum(np.bincount(b.image[keep], minlength=len(im)))]).tolist()
    rows_of: dict[int, list[int]] = {}
    digests: dict[int, str] = {}
    labelled = np.flatnonzero(im.labelled).tolist()
    rels = [_label_path(split, name) for split, name in zip(*_labelled_names(ds))]
    # before anything is made, so that a refused name leaves out untouched
    check_destinations(out, [*rels, *(f"images/{split}" for split in ds.splits)])
    for split in ds.splits:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    root = str(out)
    real_root = os.path.realpath(root)
    for i, rel in zip(labelled, rels):
        lo, hi = off[i], off[i + 1]
        rows_of[i] = kept_rows[lo:hi]
        dst = os.path.join(root, rel)
        folder = os.path.dirname(dst)
        if folder not in made:
            make_folders(folder)
            if not within(os.path.realpath(folder), real_root):  # defence in depth
                raise AnnotationError(f"{folder}: resolves outside the output folder {out}; nothing written")
            made.add(folder)
        # one format call per file, not per row
        data = ((_ROW * (hi - lo)) % tuple(flat[5 * lo : 5 * hi])).encode()
        _write_file(dst, data)
        digests[i] = _sidecar.label_digest(data)
    _write_yaml(ds, out)
    _sidecar.save(ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED, digests=digests)
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) left out of the label files (kept in {_sidecar.SIDECAR_NAME})"
        )
    moved = int((np.abs(clipped - b.xyxy) > 0).any(axis=1).sum())
    if moved:
        notes.append(f"{moved} box(es) crossing the image border were clipped to it")
    return notes


def _labelled_names(ds: Dataset) -> tuple[list[str], list[str]]:
    labelled = ds.images.labelled
    return ds.images.split[labelled].tolist(), ds.images.file_name[labelled].tolist()


def _check_writable(ds: Dataset, frame: np.ndarray) -> None:
    im = ds.images
    unknown = np.flatnonzero((frame <= 0).any(axis=1) & (np.diff(ds.offsets) > 0))
    if len(unknown):
        i = int(unknown[0])
        raise ImageError(
            f"image {str(im.file_name[i])!r} (split {str(im.split[i])}): size unknown (the source stored none and "
            "the image was not found); YOLO needs it to normalise boxes"
        )
    stems: dict[tuple[str, str], str] = defaultdict(str)
    for split, name in zip(im.split.tolist(), im.file_name.tolist()):
        key = (split, Path(name).with_suffix("").as_posix())
        if stems[key]:
            raise AnnotationError(
                f"images {stems[key]!r} and {name!r} (split {split}) would share the label file {key[1]}.txt; rename one"
            )
        stems[key] = name


def _write_yaml(ds: Dataset, out: Path) -> None:
    import yaml

    doc: dict[str, Any] = {s: f"images/{s}" for s in sort_splits(ds.images.split.tolist())}
    doc["nc"] = len(ds.categories)
    doc["names"] = [c.name for c in ds.categories]
    text = "# written by svmlp; class ids, links and more are in svmlp.sidecar.json\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    (out / "data.yaml").write_text(text, encoding="utf-8")
