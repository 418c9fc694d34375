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

from svmlp.errors import AnnotationError, ImageError, where
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder
from svmlp.formats._sidecar import SidecarImage
from svmlp.formats._yolo_layout import YoloLayout, find_layout, label_path_candidates
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import Category, Dataset, ImageTable, categories_from_names, sort_splits

__all__ = ["NAME", "image_destination", "label_destination", "read", "write"]

NAME = "yolo"


def _parse_rows(text: str, path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and normalised ``xyxy`` of one label file."""
    classes: list[str] = []
    boxes: list[str] = []
    polys: dict[int, list[float]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        if len(tok) == 5:
            classes.append(tok[0])
            boxes.extend(tok[1:])
        elif len(tok) >= 7 and len(tok) % 2 == 1:
            classes.append(tok[0])
            boxes.extend(("nan",) * 4)
            try:
                polys[len(classes) - 1] = [float(t) for t in tok[1:]]
            except ValueError:
                raise AnnotationError(
                    f"{where(path, lineno)}: expected numbers, found {line.strip()!r}"
                ) from None
        else:
            raise AnnotationError(
                f"{where(path, lineno)}: {len(tok)} values; expected 5 (class cx cy w h) or an odd number >= 7 "
                "(class and polygon or oriented-box points)"
            )
    if not classes:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    try:
        cls_f = np.array(classes, dtype=np.float64)
        vals = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    except ValueError:
        _raise_first_bad(text, path)
    xyxy = np.empty_like(vals)
    xyxy[:, :2] = vals[:, :2] - vals[:, 2:] / 2
    xyxy[:, 2:] = vals[:, :2] + vals[:, 2:] / 2
    for row, pts in polys.items():
        xs, ys = pts[0::2], pts[1::2]
        xyxy[row] = (min(xs), min(ys), max(xs), max(ys))
    bad = ~np.isfinite(xyxy).all(axis=1) | (vals[:, 2] < 0) | (vals[:, 3] < 0)
    bad_cls = (cls_f != np.round(cls_f)) | (cls_f < 0) | (cls_f >= n_classes)
    if bad.any() or bad_cls.any():
        row = int(np.flatnonzero(bad | bad_cls)[0])
        line = _line_of_row(text, row)
        if bad_cls[row]:
            raise AnnotationError(
                f"{where(path, line)}: class {classes[row]!r} is not an index into the {n_classes} names (0..{n_classes - 1})"
            )
        raise AnnotationError(f"{where(path, line)}: box values must be finite with width, height >= 0")
    return cls_f.astype(np.int64), xyxy


def _line_of_row(text: str, row: int) -> int:
    seen = -1
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.split():
            seen += 1
            if seen == row:
                return lineno
    return 0


def _raise_first_bad(text: str, path: Path) -> None:
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            [float(t) for t in line.split()]
        except ValueError:
            raise AnnotationError(
                f"{where(path, lineno)}: expected numbers, found {line.strip()!r}"
            ) from None
    raise AnnotationError(f"{path}: malformed label file")


def _read_label(img: Path) -> tuple[Path | None, str | None]:
    for cand in label_path_candidates(img):
        try:
            return cand, cand.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except UnicodeDecodeError:
            raise AnnotationError(f"{cand}: not a text label file (not UTF-8)") from None
    return None, None


def read(path: str | Path, *, probe: bool = True) -> Dataset:
    """Read a YOLO data set from a folder, a ``data.yaml`` or an ``obj.data``."""
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
    records = _collect_images(layout, known)
    images, builder, notes = _read_labels(records, layout, categories, known, probe)
    roots = {s: src.root for s, src in layout.splits.items()}
    return Dataset(
        categories,
        images,
        builder.build(),
        roots=roots,
        info=side.info if side else {},
        notes=layout.notes + notes,
        source=layout.config or layout.base,
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


def _read_labels(
    records: list[tuple[str, str, Path]],
    layout: YoloLayout,
    categories: list[Category],
    known: dict[tuple[str, str], SidecarImage],
    probe: bool,
) -> tuple[ImageTable, BoxBuilder, list[str]]:
    n = len(records)
    # YOLO boxes are relative: a size the sidecar lacks must come from the header, probe or not
    need = [probe or (k := known.get((s, key))) is None or not k.width for s, key, _ in records]
    headers = (
        read_headers([p if need[i] else None for i, (_, _, p) in enumerate(records)]) if any(need) else None
    )
    builder, notes = BoxBuilder(), []
    ids, widths, heights, labelled = (
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.ones(n, bool),
    )
    claimed: set[Path] = set()
    stale = 0
    for i, (split, key, img) in enumerate(records):
        entry = known.get((split, key))
        hdr = headers[i] if headers else None
        w, h = hdr.displayed if hdr and hdr.error is None else (0, 0)
        if entry is not None:
            w, h = (w, h) if w else (entry.width, entry.height)
        ids[i], widths[i], heights[i] = (entry.id if entry else i + 1), w, h
        label_file, text = _read_label(img)
        if label_file is None:
            labelled[i] = False
            if entry is not None and entry.rows:
                raise AnnotationError(
                    f"{img}: svmlp.sidecar.json lists {len(entry.rows)} boxes for this image but its label file is missing"
                )
            continue
        claimed.add(label_file)
        cls, xyxy = _parse_rows(text, label_file, len(categories))
        if len(cls) and not (w and h):
            raise ImageError(
                f"{label_file}: its image {img} is missing or unreadable, so its size is unknown"
            )
        xyxy *= np.array([w, h, w, h], dtype=np.float64)
        if entry is not None and [c for _, c in entry.rows] == cls.tolist():
            _add_with_sidecar(builder, i, cls, xyxy, entry, categories, label_file)
        else:
            stale += entry is not None
            builder.add(i, cls, xyxy, source=label_file)
    if stale:
        notes.append(
            f"{stale} label file(s) changed since svmlp wrote them; their box ids and links were not restored"
        )
    _check_orphan_labels(layout, claimed)
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    images = ImageTable.build(
        id=ids,
        file_name=[k for _, k, _ in records],
        split=[s for s, _, _ in records] or np.zeros(0, "U1"),
        width=widths,
        height=heights,
        labelled=labelled,
        header_width=hw,
        header_height=hh,
        orientation=ho,
    )
    return images, builder, notes


def _add_with_sidecar(
    builder: BoxBuilder,
    i: int,
    cls: np.ndarray,
    xyxy: np.ndarray,
    entry: SidecarImage,
    categories: list[Category],
    source: Path,
) -> None:
    """The label rows with their ids and extras, and the crowd boxes back in their places."""
    ids = [b for b, _ in entry.rows]
    by_id = {a["id"]: a for a in entry.annotations if "bbox" not in a}
    crowd = [a for a in entry.annotations if "bbox" in a]
    cat_row = {c.id: k for k, c in enumerate(categories)}
    n = len(ids) + len(crowd)
    slots = [a.get("position", n) for a in crowd]
    taken = set(slots)
    free = iter(k for k in range(n + len(crowd)) if k not in taken)
    order = [next(free) for _ in ids] + slots
    crowd_xyxy = np.array([a["bbox"] for a in crowd], dtype=np.float64).reshape(-1, 4)
    crowd_xyxy[:, 2:] += crowd_xyxy[:, :2]
    for k, a in enumerate(crowd):
        if a.get("xyxy") is not None:
            crowd_xyxy[k] = a["xyxy"]
    perm = np.argsort(order, kind="stable")
    builder.add(
        i,
        np.concatenate([cls, [cat_row[a["category_id"]] for a in crowd]]).astype(np.int64)[perm],
        np.concatenate([xyxy, crowd_xyxy])[perm],
        np.array(ids + [a["id"] for a in crowd], dtype=np.int64)[perm],
        iscrowd=np.array([False] * len(ids) + [bool(a.get("iscrowd", 1)) for a in crowd])[perm],
        extras=[([by_id.get(b) for b in ids] + crowd)[k] for k in perm],
        source=source,
    )


def _check_orphan_labels(layout: YoloLayout, claimed: set[Path]) -> None:
    for src in layout.splits.values():
        for d in src.label_dirs:
            for txt in sorted(d.rglob("*.txt")):
                if txt not in claimed:
                    raise AnnotationError(
                        f"{txt}: label file has no image (looked for an image of the same stem in {src.root})"
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


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``data.yaml``, label files, empty image folders and the sidecar."""
    _check_writable(ds)
    im, b = ds.images, ds.boxes
    size = np.stack([im.width, im.height, im.width, im.height], axis=1).astype(np.float64)[b.image]
    clipped = np.clip(b.xyxy, 0, size)
    keep = ~b.iscrowd
    rows = np.column_stack([
        b.category, (clipped[:, :2] + clipped[:, 2:]) / 2 / size[:, :2], (clipped[:, 2:] - clipped[:, :2]) / size[:, :2]
    ])[keep]
    flat = rows.ravel().tolist()
    kept_rows = np.flatnonzero(keep).tolist()
    off = np.concatenate([[0], np.cumsum(np.bincount(b.image[keep], minlength=len(im)))]).tolist()
    rows_of: dict[int, list[int]] = {}
    for split in ds.splits:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    root = str(out)
    for i, split, name in zip(np.flatnonzero(im.labelled).tolist(), *_labelled_names(ds)):
        lo, hi = off[i], off[i + 1]
        rows_of[i] = kept_rows[lo:hi]
        dst = os.path.join(root, _label_path(split, name))
        folder = os.path.dirname(dst)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        # one format call per file, not per row
        _write_file(dst, ((_ROW * (hi - lo)) % tuple(flat[5 * lo : 5 * hi])).encode())
    _write_yaml(ds, out)
    _sidecar.save(ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED)
    notes = []
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


def _check_writable(ds: Dataset) -> None:
    im = ds.images
    unknown = np.flatnonzero(((im.width <= 0) | (im.height <= 0)) & (np.diff(ds.offsets) > 0))
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
