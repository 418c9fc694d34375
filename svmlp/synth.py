"""A seeded generator of SVMLP-like scenes: vehicles at many scales, each with 0–2 small plates.

Scenes are drawn with Pillow (road, vehicles with windows and wheels, plates with text), so a
detector can learn from them, and labelled with car→plate links, plate text and corners. A
controllable share of boxes gets realistic label noise, recorded in ``info["synth_noise"]`` so
checks can be scored against the truth.

>>> from svmlp.synth import generate_annotations
>>> ds = generate_annotations(10, seed=1)
>>> len(ds), ds.categories[0].name
(10, 'vehicle')
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.model import BoxTable, Category, Dataset, ImageTable

__all__ = ["CATEGORIES", "NOISE_KINDS", "generate", "generate_annotations", "render"]

CATEGORIES = (Category(1, "vehicle", "vehicle", "parent"), Category(2, "plate", "vehicle", "child"))
NOISE_KINDS = ("shifted", "swapped_class", "missing_plate", "duplicate", "orphan_plate")
DEFAULT_SPLITS: tuple[tuple[str, float], ...] = (("train", 0.7), ("val", 0.2), ("test", 0.1))
_VEHICLE, _PLATE = 0, 1


@dataclass
class _Box:
    category: int
    xyxy: tuple[float, float, float, float]
    parent: int = -1  # index in the image's box list
    text: str = ""
    corners: tuple[tuple[float, float], ...] | None = None
    colour: int = 0


def _plate_text(rng: np.random.Generator) -> str:
    letters, digits = string.ascii_uppercase, string.digits

    def pick(pool: str, k: int) -> str:
        return "".join(pool[i] for i in rng.integers(0, len(pool), k))

    return f"{pick(letters, 2)} {pick(digits, 3)} {pick(letters, 2)}"


def _clip(box: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float] | None:
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def _plates_for(
    v: tuple[float, float, float, float], rng: np.random.Generator
) -> list[tuple[float, float, float, float]]:
    vw, vh = v[2] - v[0], v[3] - v[1]
    count = int(rng.choice(3, p=(0.12, 0.73, 0.15)))
    out = []
    for k in range(count):
        pw = vw * rng.uniform(0.16, 0.26)
        ph = pw / rng.uniform(2.2, 4.6)
        cx = v[0] + vw * (0.5 + rng.uniform(-0.04, 0.04) + (0.0 if k == 0 else rng.choice((-0.27, 0.27))))
        cy = v[3] - vh * (rng.uniform(0.1, 0.18) if k == 0 else rng.uniform(0.45, 0.55))
        out.append((cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2))
    return out


def _corners(
    b: tuple[float, float, float, float], rng: np.random.Generator
) -> tuple[tuple[float, float], ...]:
    """A slightly skewed quadrilateral inside the box: clockwise from top-left."""
    x0, y0, x1, y1 = b
    dx, dy = (x1 - x0) * 0.06, (y1 - y0) * 0.12
    j = rng.uniform(0, 1, 4)
    return ((x0 + dx * j[0], y0), (x1, y0 + dy * j[1]), (x1 - dx * j[2], y1), (x0, y1 - dy * j[3]))


def _scene(rng: np.random.Generator, w: int, h: int, vehicles: tuple[int, int]) -> list[_Box]:
    boxes: list[_Box] = []
    horizon = h * rng.uniform(0.3, 0.45)
    n = int(rng.integers(vehicles[0], vehicles[1] + 1))
    raw = []
    for _ in range(n):
        depth = rng.uniform(0, 1)  # 0 far, 1 near: nearer vehicles are larger and lower
        vw = w * np.exp(rng.uniform(np.log(0.07), np.log(0.55))) * (0.5 + depth)
        vh = vw / rng.uniform(1.15, 2.1)
        cx = rng.uniform(-0.08, 1.08) * w
        bottom = horizon + (h - horizon) * (0.25 + 0.85 * depth)
        raw.append((bottom, (cx - vw / 2, bottom - vh, cx + vw / 2, bottom)))
    for _, v in sorted(raw):  # far first, so near vehicles are drawn over them
        vbox = _clip(v, w, h)
        if vbox is None:
            continue
        vi = len(boxes)
        boxes.append(_Box(_VEHICLE, vbox, colour=int(rng.integers(0, 1 << 24))))
        for p in _plates_for(v, rng):
            pbox = _clip(p, w, h)
            if pbox is not None and (pbox[2] - pbox[0]) >= 3:
                boxes.append(_Box(_PLATE, pbox, vi, _plate_text(rng), _corners(pbox, rng)))
    return _visible(boxes)


def _covered(inner: tuple[float, ...], outer: tuple[float, ...]) -> float:
    iw = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    ih = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return iw * ih / area if area > 0 else 0.0


def _visible(boxes: list[_Box]) -> list[_Box]:
    """Drop what nearer vehicles, drawn over it, hide: a vehicle hidden at least 90% (with its
    plates), a plate hidden at least half. Nobody labels what they cannot see, and the pixels
    would not show it."""
    vehicles = [k for k, b in enumerate(boxes) if b.category == _VEHICLE]
    hidden = {
        v for v in vehicles if any(_covered(boxes[v].xyxy, boxes[u].xyxy) >= 0.9 for u in vehicles if u > v)
    }
    keep = []
    for k, b in enumerate(boxes):
        if k in hidden or (b.category == _PLATE and b.parent in hidden):
            continue
        if b.category == _PLATE and any(
            _covered(b.xyxy, boxes[u].xyxy) >= 0.5 for u in vehicles if u > b.parent
        ):
            continue
        keep.append(k)
    new = {old: pos for pos, old in enumerate(keep)}
    out = []
    for k in keep:
        b = boxes[k]
        parent = new.get(b.parent, -1) if b.parent >= 0 else -1
        out.append(_Box(b.category, b.xyxy, parent, b.text, b.corners, b.colour))
    return out


def _add_noise(
    boxes: list[_Box], rng: np.random.Generator, rate: float, w: int, h: int
) -> list[tuple[int, str]]:
    """Corrupt about ``rate`` of the boxes in place; returns (box index, kind) of what changed."""
    events: list[tuple[int, str]] = []
    for i in range(len(boxes)):
        if rng.uniform() >= rate:
            continue
        b = boxes[i]
        kind = str(rng.choice(NOISE_KINDS if b.category == _PLATE else NOISE_KINDS[:2] + NOISE_KINDS[3:4]))
        x0, y0, x1, y1 = b.xyxy
        bw, bh = x1 - x0, y1 - y0
        if kind == "shifted":
            dx, dy = (
                rng.choice((-1, 1)) * bw * rng.uniform(0.25, 0.5),
                rng.choice((-1, 1)) * bh * rng.uniform(0.25, 0.5),
            )
            moved = _clip((x0 + dx, y0 + dy, x1 + dx, y1 + dy), w, h)
            if moved is None:
                continue
            b.xyxy = moved
        elif kind == "swapped_class":
            b.category = 1 - b.category
            b.parent, b.text, b.corners = -1, "", None
            for other in boxes:
                if other.parent == i:
                    other.parent = -1
        elif kind == "missing_plate":
            b.category = -1  # removed below
        elif kind == "duplicate":
            j = rng.uniform(-0.04, 0.04, 4) * (bw, bh, bw, bh)
            dup = _clip(tuple(np.add(b.xyxy, j)), w, h)  # type: ignore[arg-type]
            if dup is None:
                continue
            boxes.append(_Box(b.category, dup, b.parent, b.text, None, b.colour))
            events.append((len(boxes) - 1, kind))
            continue
        elif kind == "orphan_plate":
            b.parent = -1
        events.append((i, kind))
    return events


def generate_annotations(
    n_images: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    vehicles: tuple[int, int] = (1, 6),
    splits: Sequence[tuple[str, float]] = DEFAULT_SPLITS,
    noise: float = 0.0,
    negatives: float = 0.04,
    unlabelled: float = 0.0,
) -> Dataset:
    """Labels of ``n_images`` scenes, no pixels (fast: use it for benchmarks and tests).

    ``noise`` is the share of boxes corrupted; ``negatives`` the share of images with no vehicle
    (verified negatives); ``unlabelled`` the share with no labels at all. Image ``i``'s scene
    depends only on ``(seed, i)``, so :func:`render` can draw it later.
    """
    w, h = size
    names, shares = [s for s, _ in splits], np.array([p for _, p in splits], dtype=float)
    split_rng = np.random.default_rng([seed, 1 << 20])
    split_of = split_rng.choice(len(names), size=n_images, p=shares / shares.sum())
    cols: dict[str, list[Any]] = {
        k: [] for k in ("image", "category", "xyxy", "parent", "text", "corners", "id")
    }
    labelled = np.ones(n_images, dtype=bool)
    noise_log = []
    next_id = 1
    for i in range(n_images):
        rng = np.random.default_rng([seed, i])
        roll = rng.uniform()
        boxes = [] if unlabelled <= roll < unlabelled + negatives else _scene(rng, w, h, vehicles)
        if roll < unlabelled:
            labelled[i] = False  # a real scene, never annotated
            continue
        events = _add_noise(boxes, rng, noise, w, h) if noise else []
        keep = [k for k, b in enumerate(boxes) if b.category >= 0]
        new = {old: pos for pos, old in enumerate(keep)}
        base = len(cols["id"])
        for old in keep:
            b = boxes[old]
            cols["image"].append(i)
            cols["category"].append(b.category)
            cols["xyxy"].append(b.xyxy)
            cols["parent"].append(base + new[b.parent] if b.parent in new else -1)
            cols["text"].append(b.text)
            cols["corners"].append(b.corners if b.corners else ((np.nan, np.nan),) * 4)
            cols["id"].append(next_id + new[old])
        for k, kind in events:
            box_id = next_id + new[k] if k in new else None
            noise_log.append({"image_id": i + 1, "box_id": box_id, "kind": kind})
        next_id += len(keep)
    images = ImageTable.build(
        id=np.arange(1, n_images + 1),
        file_name=[f"scene_{i:06d}.jpg" for i in range(n_images)],
        split=[names[k] for k in split_of] or np.zeros(0, "U1"),
        width=np.full(n_images, w),
        height=np.full(n_images, h),
        labelled=labelled,
    )
    box_table = BoxTable.build(
        id=cols["id"],
        image=cols["image"],
        category=cols["category"],
        xyxy=np.array(cols["xyxy"]).reshape(-1, 4),
        parent=cols["parent"],
        text=cols["text"] if cols["text"] else None,
        corners=np.array(cols["corners"], dtype=float).reshape(-1, 4, 2) if cols["corners"] else None,
    )
    info: dict[str, Any] = {
        "description": "svmlp synthetic scenes",
        "synth": {"seed": seed, "vehicles": list(vehicles)},
    }
    if noise:
        info["synth_noise"] = noise_log
    return Dataset(CATEGORIES, images, box_table, info=info)


def _shade(rgb: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * k))) for c in rgb)  # type: ignore[return-value]


def _draw_vehicle(draw: Any, box: tuple[float, float, float, float], colour: int) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255)
    r = max(1, int(min(w, h) * 0.12))
    draw.rounded_rectangle(
        (x0, y0 + h * 0.35, x1, y1 - h * 0.12), radius=r, fill=body, outline=_shade(body, 0.5)
    )
    draw.rounded_rectangle(
        (x0 + w * 0.15, y0, x1 - w * 0.15, y0 + h * 0.45), radius=r, fill=_shade(body, 0.85)
    )
    draw.rectangle((x0 + w * 0.2, y0 + h * 0.07, x1 - w * 0.2, y0 + h * 0.36), fill=(70, 90, 110))
    for cx in (x0 + w * 0.2, x1 - w * 0.2):
        draw.ellipse((cx - w * 0.1, y1 - h * 0.24, cx + w * 0.1, y1), fill=(20, 20, 20))
    for lx in (x0 + w * 0.05, x1 - w * 0.13):
        draw.rectangle((lx, y0 + h * 0.45, lx + w * 0.08, y0 + h * 0.53), fill=(250, 240, 200))


def _draw_plate(draw: Any, box: tuple[float, float, float, float], text: str, fonts: dict[int, Any]) -> None:
    from PIL import ImageFont

    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(245, 245, 235), outline=(30, 30, 30))
    size = max(4, int((y1 - y0) * 0.75))
    if size not in fonts:
        try:
            fonts[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
            fonts[size] = ImageFont.load_default()
    draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill=(10, 10, 10), font=fonts[size], anchor="mm")


def _unlabelled_scene(ds: Dataset, i: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The scene behind an unlabelled image: (category, xyxy, parent, text) as the labels would be."""
    vehicles = tuple(ds.info.get("synth", {}).get("vehicles", (1, 6)))
    rng = np.random.default_rng([seed, i])
    rng.uniform()
    boxes = _scene(rng, int(ds.images.width[i]), int(ds.images.height[i]), vehicles)  # type: ignore[arg-type]
    return (
        np.array([b.category for b in boxes], dtype=int),
        np.array([b.xyxy for b in boxes], dtype=float).reshape(-1, 4),
        np.array([b.parent for b in boxes], dtype=int),
        [b.text for b in boxes],
    )


def render(ds: Dataset, out: str | Path, *, quality: int = 85, seed: int | None = None) -> Dataset:
    """Draw every image of ``ds`` (from :func:`generate_annotations`) as a JPEG under
    ``out/images/<split>/``; returns ``ds`` with its image roots set there.

    Labelled images are drawn from their boxes as labelled (noise included: the pixels match the
    labels only where those are clean, which is what label-noise checks need); unlabelled images
    show the scene their seed would have given.
    """
    from PIL import Image, ImageDraw

    out = Path(out)
    seed = int(ds.info.get("synth", {}).get("seed", 0)) if seed is None else seed
    fonts: dict[int, Any] = {}
    b, im = ds.boxes, ds.images
    for i in range(len(im)):
        w, h = int(im.width[i]), int(im.height[i])
        rng = np.random.default_rng([seed, i, 7])
        canvas = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(canvas)
        horizon = int(h * rng.uniform(0.3, 0.45))
        sky = np.linspace(170, 230, horizon).astype(int)
        for y, v in enumerate(sky):
            draw.line((0, y, w, y), fill=(int(v * 0.75), int(v * 0.85), int(v)))
        draw.rectangle((0, horizon, w, h), fill=tuple(int(v) for v in rng.integers(70, 110, 3)))
        for k in range(6):
            mark_y = horizon + (h - horizon) * (k + 1) / 7
            draw.line(
                (w * 0.48, mark_y, w * 0.52, mark_y),
                fill=(230, 230, 210),
                width=max(1, int((mark_y - horizon) / 40)),
            )
        lo, hi = int(ds.offsets[i]), int(ds.offsets[i + 1])
        if im.labelled[i]:
            cat, xyxy, parent = (
                b.category[lo:hi],
                b.xyxy[lo:hi],
                np.where(b.parent[lo:hi] >= 0, b.parent[lo:hi] - lo, -1),
            )
            text = b.text[lo:hi].tolist() if b.text is not None else [""] * (hi - lo)
        else:
            cat, xyxy, parent, text = _unlabelled_scene(ds, i, seed)
        _draw_boxes(draw, cat, xyxy, parent, text, rng, fonts)
        dst = out / "images" / str(im.split[i]) / str(im.file_name[i])
        dst.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(dst, quality=quality, optimize=True)
    return ds.replace(roots={s: out / "images" / s for s in ds.splits})


def _draw_boxes(
    draw: Any,
    cat: np.ndarray,
    xyxy: np.ndarray,
    parent: np.ndarray,
    text: list[str],
    rng: np.random.Generator,
    fonts: dict[int, Any],
) -> None:
    """Vehicles far to near, each with its plates; then plates that have no vehicle."""
    for r in sorted(range(len(cat)), key=lambda k: xyxy[k, 3]):
        if cat[r] == _VEHICLE:
            _draw_vehicle(draw, tuple(xyxy[r]), int(rng.integers(0, 1 << 24)))
            for c in np.flatnonzero(parent == r):
                _draw_plate(draw, tuple(xyxy[c]), text[c], fonts)
    for lone in np.flatnonzero((cat == _PLATE) & (parent < 0)):
        _draw_plate(draw, tuple(xyxy[lone]), text[lone], fonts)


def generate(out: str | Path, n_images: int, *, seed: int = 0, quality: int = 85, **options: Any) -> Dataset:
    """:func:`generate_annotations` then :func:`render`: a data set with real JPEGs on disk."""
    return render(generate_annotations(n_images, seed=seed, **options), out, quality=quality, seed=seed)
