"""Write a YOLO layout: label files, ``data.yaml``, empty image folders and the sidecar.

Two kinds of label row: the detection box ``class cx cy w h`` (``yolo``) and ultralytics'
oriented box ``class x1 y1 x2 y2 x3 y3 x4 y4`` (``yolo-obb``: a box's corners where it has them,
else the four corners of its box), both normalised by the image's frame and clipped to it
(ultralytics refuses values outside [0, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from svmlp._files import make_folders, within
from svmlp._progress import stage
from svmlp.errors import AnnotationError, ImageError
from svmlp.formats import _sidecar
from svmlp.model import Dataset, sort_splits
from svmlp.model.paths import check_destinations
from svmlp.model.tables import usable_boxes

__all__ = ["label_rel", "write_file", "write_labels"]

_BOX_ROW = "%d %.10g %.10g %.10g %.10g\n"
_OBB_ROW = "%d" + " %.10g" * 8 + "\n"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def label_rel(split: str, file_name: str) -> str:
    """The label file of an image, relative to the output: its ``images/<split>/`` path with the
    last ``images`` folder turned into ``labels`` (ultralytics' rule, so a file name that itself
    holds an ``images/`` folder still matches)."""
    if "images" not in file_name.split("/"):  # the common case, without pathlib's cost
        return f"labels/{split}/{os.path.splitext(file_name)[0]}.txt"
    parts = list(Path(f"images/{split}/{file_name}").parts)
    k = len(parts) - 1 - parts[::-1].index("images")
    parts[k] = "labels"
    return Path(*parts).with_suffix(".txt").as_posix()


def write_file(path: str, data: bytes) -> None:
    fd = os.open(path, _NEW_FILE, 0o666)  # a new file, never one already there (nor a link)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class FileMaker:
    """New files (path, bytes) created beside the caller's work: by a forked child process where
    :mod:`svmlp._fork` allows one and there are enough files to pay for it, else here. Leaving the
    block by an error stops the child; :meth:`finish` waits for the files (an error creating one
    is raised here as it would have been raised in this process)."""

    #: files below which a child does not pay for itself
    FORK_MIN = 2000

    def __init__(self, files: list[tuple[str, bytes]]) -> None:
        from svmlp._fork import Child, can_fork

        self.files = files
        self._child = Child(self._make) if len(files) >= self.FORK_MIN and can_fork() else None
        if self._child is None:
            self._raise(self._make())

    def __enter__(self) -> FileMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            self._child.cancel()

    def _make(self, *, again: bool = False) -> bytes:
        """Create the files; b"" or the first error, as JSON (what a child can send back)."""
        try:
            for path, data in self.files:
                if again and os.path.lexists(path):
                    os.unlink(path)  # a child that died left it, perhaps half written
                write_file(path, data)
        except OSError as exc:
            return msgspec.json.encode([exc.errno, exc.strerror, exc.filename])
        return b""

    @staticmethod
    def _raise(answer: bytes) -> None:
        if answer:
            errno_, strerror, filename = msgspec.json.decode(answer)
            raise OSError(errno_, strerror, filename)

    def finish(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            answer = child.result()
            self._raise(self._make(again=True) if answer is None else answer)


def _box_values(clipped: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``cx cy w h`` normalised."""
    out = np.empty((len(clipped), 4))
    out[:, :2] = (clipped[:, :2] + clipped[:, 2:]) / 2 / size[:, :2]
    out[:, 2:] = (clipped[:, 2:] - clipped[:, :2]) / size[:, :2]
    return out


def _obb_values(ds: Dataset, clipped: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``x1 y1 ... x4 y4`` normalised: a box's corners (clipped to its image) where it has all
    four, else its box's corners clockwise from the top left; which rows are corners, and how
    many of them were clipped."""
    b = ds.boxes
    quad = clipped[:, [0, 1, 2, 1, 2, 3, 0, 3]]
    shaped = np.zeros(len(b), dtype=bool) if b.corners is None else np.isfinite(b.corners).all(axis=(1, 2))
    moved = 0
    if shaped.any():
        assert b.corners is not None
        limit = np.tile(size[shaped, :2], 4)
        given = b.corners[shaped].reshape(-1, 8)
        quad[shaped] = np.clip(given, 0, limit)
        moved = int((quad[shaped] != given).any(axis=1).sum())
    return quad / np.tile(size[:, :2], 4), shaped, moved


def write_labels(ds: Dataset, out: Path, frame: np.ndarray, *, fmt: str, obb: bool) -> list[str]:
    """Write the label files, ``data.yaml``, the image folders and the sidecar of ``ds`` into
    ``out``, each image's boxes normalised by its row of ``frame`` (width, height)."""
    rel_of = _check_writable(ds, frame)
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():  # the model refuses such boxes; never normalise one
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    size = np.concatenate([frame, frame], axis=1).astype(np.float64)[b.image]
    clipped = np.clip(b.xyxy, 0, size)
    keep = ~b.iscrowd
    shaped, moved_corners = np.zeros(len(b), dtype=bool), 0
    if obb:
        values, shaped, moved_corners = _obb_values(ds, clipped, size)
    else:
        values = _box_values(clipped, size)
    rows = np.empty((int(keep.sum()), 1 + values.shape[1]))
    rows[:, 0], rows[:, 1:] = b.category[keep], values[keep]
    width, row_format = rows.shape[1], (_OBB_ROW if obb else _BOX_ROW)
    flat = rows.ravel().tolist()
    kept_rows = np.flatnonzero(keep).tolist()
    off = np.concatenate([[0], np.cumsum(np.bincount(b.image[keep], minlength=len(im)))]).tolist()
    rows_of: dict[int, list[int]] = {}
    digests: dict[int, str] = {}
    labelled = np.flatnonzero(im.labelled).tolist()
    rels = [rel_of[i] for i in labelled]
    # before anything is made, so that a refused name leaves out untouched
    check_destinations(out, [*rels, *(f"images/{split}" for split in ds.splits)])
    for split in ds.splits:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    root = str(out)
    real_root = os.path.realpath(root)
    files: list[tuple[str, bytes]] = []
    with stage("writing label files", len(labelled), unit="file") as tick:
        for k, (i, rel) in enumerate(zip(labelled, rels)):
            if k % 1024 == 1023:
                tick(1024)
            lo, hi = off[i], off[i + 1]
            rows_of[i] = kept_rows[lo:hi]
            dst = os.path.join(root, rel)
            folder = os.path.dirname(dst)
            if folder not in made:
                make_folders(folder)
                if not within(os.path.realpath(folder), real_root):  # defence in depth
                    raise AnnotationError(
                        f"{folder}: resolves outside the output folder {out}; nothing written"
                    )
                made.add(folder)
            # one format call per file, not per row
            data = ((row_format * (hi - lo)) % tuple(flat[width * lo : width * hi])).encode()
            files.append((dst, data))
            digests[i] = _sidecar.label_digest(data)
        tick(len(labelled) % 1024)
    del flat, kept_rows  # the label values: a float object each, not needed by the sidecar
    # the files are created by a child process (where one may be forked) while this one writes
    # data.yaml and the sidecar: creating 100 000 files is a fifth of a convert
    with FileMaker(files) as maker:
        notes = _write_yaml(ds, out)
        off = _off_corners(ds, shaped & keep, clipped, size) if obb else np.zeros(0, dtype=np.int64)
        _sidecar.save(
            ds,
            out,
            fmt,
            rows_of=rows_of,
            carried=_sidecar.YOLO_CARRIED,
            digests=digests,
            exact=off,
            exact_boxes=clipped[off],
        )
        maker.finish()
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) left out of the label files (kept in {_sidecar.SIDECAR_NAME})"
        )
    moved = int((np.abs(clipped - b.xyxy) > 0).any(axis=1).sum())
    if moved:
        notes.append(f"{moved} box(es) crossing the image border were clipped to it")
    if moved_corners:
        notes.append(
            f"{moved_corners} oriented box(es) with corners outside the image had them clipped to it "
            f"(the exact corners are kept in {_sidecar.SIDECAR_NAME})"
        )
    return notes


def _off_corners(
    ds: Dataset, written_as_corners: np.ndarray, clipped: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """The rows written as their corners whose (clipped) box is not the corners' bounds (a
    plate's box drawn apart from its quadrilateral): reading takes a row's box as its points'
    bounds, so the sidecar must keep these boxes."""
    corners = ds.boxes.corners
    if corners is None or not written_as_corners.any():
        return np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(written_as_corners)
    c = corners[rows]
    bounds = np.clip(np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1), 0, size[rows])
    return rows[(bounds != clipped[rows]).any(axis=1)]


def _check_writable(ds: Dataset, frame: np.ndarray) -> list[str]:
    """Every image's label file (:func:`label_rel`), once sizes are known and no two images
    share one."""
    im = ds.images
    unknown = np.flatnonzero((frame <= 0).any(axis=1) & (np.diff(ds.offsets) > 0))
    if len(unknown):
        i = int(unknown[0])
        raise ImageError(
            f"image {str(im.file_name[i])!r} (split {str(im.split[i])}): size unknown (the source stored none and "
            "the image was not found); YOLO needs it to normalise boxes"
        )
    seen: dict[str, str] = {}
    rels = []
    for split, name in zip(im.split.tolist(), im.file_name.tolist()):
        rel = label_rel(split, name)
        other = seen.setdefault(rel, name)
        if other != name:
            raise AnnotationError(
                f"images {other!r} and {name!r} (split {split}) would share the label file {rel}; rename one"
            )
        rels.append(rel)
    return rels


#: ultralytics' dataset check (``check_det_dataset``) refuses a data.yaml without these
REQUIRED_SPLITS = ("train", "val")


def _write_yaml(ds: Dataset, out: Path) -> list[str]:
    """``data.yaml``: ``path`` (empty: this file's folder), a split entry each, ``nc`` and the
    contiguous ``names`` list; notes when a split ultralytics requires is missing."""
    import yaml

    splits = sort_splits(ds.images.split.tolist())
    doc: dict[str, Any] = {"path": ""}
    doc.update({s: f"images/{s}" for s in splits})
    doc["nc"] = len(ds.categories)
    doc["names"] = [c.name for c in ds.categories]
    text = (
        "# written by svmlp; class ids, links and more are in svmlp.sidecar.json\n"
        "# path '' is this file's folder (ultralytics); YOLOv5 resolves a relative path against its own\n"
        "# folder, so give it this folder's absolute path there\n"
    )
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    (out / "data.yaml").write_text(text, encoding="utf-8")
    missing = [k for k in REQUIRED_SPLITS if k not in doc]
    if not missing or not splits:
        return []
    return [
        f"data.yaml has no {' or '.join(f'{k}:' for k in missing)} entry (the data set has no split of that "
        f"name, only {', '.join(splits)}); ultralytics requires both train: and val:, so add the missing "
        "one to data.yaml before training there"
    ]
