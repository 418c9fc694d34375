"""What the conformance tests share: round trips, tree and count comparisons.

Fixtures and the real data set are read in place from ``../shared``; everything written goes to
the test's ``tmp_path``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

import svmlp
from svmlp.model import Dataset

#: every registered format; what each keeps, and how closely, is its own declaration
#: (``svmlp.FORMATS[name].ROUND_TRIP``, compared through ``helpers.kept_by``)
FORMATS = tuple(svmlp.FORMATS.writable())


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_same_tree(a: Path, b: Path) -> None:
    ta, tb = tree(a), tree(b)
    assert sorted(ta) == sorted(tb), f"file lists differ: {sorted(set(ta) ^ set(tb))[:5]}"
    differ = [k for k in ta if ta[k] != tb[k]]
    assert not differ, f"two writes of the same data set differ in {differ[:5]}"


def round_trip(
    ds: Dataset, fmt: str, tmp_path: Path, *, images: str = "copy"
) -> tuple[Dataset, svmlp.WriteReport]:
    """Write ``ds`` twice (the outputs must be byte-identical), read the first back (format detected)."""
    first, second = tmp_path / f"{fmt}-1", tmp_path / f"{fmt}-2"
    report = svmlp.write(ds, first, format=fmt, images=images)
    svmlp.write(ds, second, format=fmt, images=images)
    assert_same_tree(first, second)
    assert svmlp.detect(first) == fmt
    return svmlp.read(first), report


def clipped_to_frame(ds: Dataset) -> Dataset:
    """``ds`` with its boxes clamped to their images: what YOLO writes (DESIGN.md §3, "clamp in xyxy")."""
    boxes = ds.boxes.take(np.arange(len(ds.boxes)))
    size = np.stack([ds.images.width, ds.images.height] * 2, axis=1).astype(np.float64)
    boxes.xyxy = np.clip(boxes.xyxy, 0, size[boxes.image])
    return ds.replace(boxes=boxes)


def crosses_frame(ds: Dataset) -> int:
    """How many boxes reach outside their image."""
    size = np.stack([ds.images.width, ds.images.height] * 2, axis=1).astype(np.float64)[ds.boxes.image]
    return int(((ds.boxes.xyxy < 0) | (ds.boxes.xyxy > size)).any(axis=1).sum())


def counts(ds: Dataset) -> Counter[tuple[str, str]]:
    """Boxes per (split, category name)."""
    names = [c.name for c in ds.categories]
    splits = ds.images.split[ds.boxes.image].tolist()
    return Counter(zip(splits, [names[k] for k in ds.boxes.category.tolist()], strict=True))


def boxes_by_base_name(ds: Dataset) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """(category name, xyxy) of each image's boxes in file order, keyed by the image's base name."""
    out = {}
    for i in range(len(ds)):
        key = Path(ds.image(i).file_name).name
        assert key not in out, f"two images named {key}"
        out[key] = [(b.category, b.xyxy) for b in ds.boxes_of(i)]
    return out


def _as(boxes: list[tuple[str, tuple[float, ...]]], xywh: bool) -> np.ndarray:
    arr = np.array([x for _, x in boxes], dtype=np.float64).reshape(-1, 4)
    if xywh:
        arr[:, 2:] -= arr[:, :2]
    return arr


def assert_same_boxes(a: Dataset, b: Dataset, *, atol: float, xywh: bool = False) -> None:
    """Same images by base name, and per image the same classes (by name) and boxes in order.

    ``xywh``: compare corner, width and height (for a source that rounded each COCO number).
    """
    ba, bb = boxes_by_base_name(a), boxes_by_base_name(b)
    assert sorted(ba) == sorted(bb)
    for key in ba:
        assert [n for n, _ in ba[key]] == [n for n, _ in bb[key]], key
        np.testing.assert_allclose(_as(ba[key], xywh), _as(bb[key], xywh), atol=atol, rtol=0, err_msg=key)
