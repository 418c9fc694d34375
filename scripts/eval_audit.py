"""How well does the audit find label noise? Inject noise of known kinds at known rates, audit, score.

    python scripts/eval_audit.py                       # 400 images, seed 0, 5 % of eligible boxes per kind
    python scripts/eval_audit.py --images 1000 --rate 0.1 --keep /tmp/eval   # keep the noisy releases

A clean synthetic set is drawn (svmlp.synth.generate, 640x480, JPEGs on disk). Each kind of noise
is then injected **on its own copy** of the clean labels (one kind per copy, so every flag of that
copy is either the injected noise or a false positive), into ``--rate`` of the boxes that kind can
apply to, and the truth is kept as (kind, image id, box id): ids, not rows, because rows move
when boxes come and go. The kinds, exactly:

- ``shift``: a vehicle or plate moved by f = U(0.3, 0.6) of its size, in a random direction
  (dx = f w cos a, dy = f h sin a), kept inside the image, link kept (a plate's corners move too).
- ``swap_class``: a plate labelled vehicle (its link, text and corners dropped).
- ``delete_plate``: a plate removed. The truth is its vehicle, which a detector sees carrying it.
- ``duplicate``: a second box of the same class (link and text too) at IoU U(0.87, 0.93) to it.
- ``plate_off_car``: a plate moved, same size, to a place that no vehicle box touches, link dropped.
- ``vehicle_as_plate``: a vehicle relabelled plate (its plates lose their link to it).
- ``copy_across_splits``: an image file copied byte for byte into another split, a new image row
  with the same labels (share ``--rate`` of the images with boxes).

A flag finds a truth when it is of one of the kind's checks and names the noisy box, its twin (a
duplicate) or a plate of the moved or relabelled vehicle (whose links it breaks); for a copied
image, either copy; for ``missed_box``, a predicted box at IoU >= 0.5 to the deleted plate's
place. Recall = truths found / truths a rule can see; precision = flags of the kind's checks that
find a truth / all flags of those checks on that copy. The goal (recall >= 0.95, precision >= 0.9)
applies to what a rule can see. A rule cannot see, without a model: a plate shifted within its
vehicle, or a vehicle shifted with its plates still inside (or carrying none), since what lies
inside what is unchanged; a deleted plate unless its vehicle is left with none and is at least
``large_vehicle_side`` px and fully in view (12 % of synthetic vehicles carry no plate, so even
then it is a hint). ``recall (all)`` gives the share of every injected truth found.

Model-assisted checks get predictions simulated from the CLEAN labels, before injection: each clean
box is predicted (5 % missed) at IoU U(0.8, 0.9), score U(0.6, 0.95), plus Poisson(0.15) false
positives per image of a real box's size, score U(0.3, 0.7). That is an upper bound on what a real
detector gives. The clean set is audited too (with those predictions): its flags are the floor of
false positives every copy shares.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from svmlp.audit import AuditConfig, run_audit
from svmlp.audit.checks_data import iou
from svmlp.audit.checks_predictions import Predictions
from svmlp.audit.issues import AuditReport, Issue
from svmlp.links import inside_share
from svmlp.model import BoxTable, Dataset
from svmlp.model.tables import concat_tables
from svmlp.synth import generate

VEHICLE, PLATE = 0, 1
Rng = np.random.Generator
#: kind: the rule checks that find it
RULES: dict[str, tuple[str, ...]] = {
    "shift": ("plate_outside_vehicle", "orphan_plate"),
    "swap_class": ("class_confusion",),
    "delete_plate": ("vehicle_without_plate",),
    "duplicate": ("duplicate_box",),
    "plate_off_car": ("orphan_plate", "plate_outside_vehicle"),
    "vehicle_as_plate": ("class_confusion", "orphan_plate", "plate_too_large"),
    "copy_across_splits": ("identical_images_across_splits",),
}
#: (kind, model-assisted checks that find it)
MODEL: list[tuple[str, tuple[str, ...]]] = [
    ("delete_plate", ("missed_box",)),
    ("shift", ("misplaced_box",)),
    ("shift", ("misplaced_box", "missed_box")),
    ("swap_class", ("swapped_class",)),
    ("vehicle_as_plate", ("swapped_class",)),
]


@dataclass
class Truth:
    kind: str
    image: int  # image id
    box: int  # box id the noise is on; -1 for a whole image
    footprint: tuple[int, ...]  # box ids a flag may name to find it
    xyxy: tuple[float, ...]  # the box's clean place
    visible: bool = True  # whether a rule can see it without a model
    other: int = -1  # image id of the original of a copied image


def _xy(b: BoxTable, r: int) -> tuple[float, ...]:
    return tuple(float(v) for v in b.xyxy[r])


def _truth(kind: str, ds: Dataset, b: BoxTable, r: int, footprint: list[int], visible: bool = True) -> Truth:
    ids = tuple(int(b.id[k]) for k in [r, *footprint])
    return Truth(kind, int(ds.images.id[b.image[r]]), int(b.id[r]), ids, _xy(b, r), bool(visible))


def _plates_of(b: BoxTable, v: int) -> list[int]:
    return np.flatnonzero(b.parent == v).tolist()


def _move(b: BoxTable, r: int, dx: float, dy: float) -> None:
    b.xyxy[r] += (dx, dy, dx, dy)
    if b.corners is not None:
        b.corners[r] += (dx, dy)


def _fits(xyxy: np.ndarray, w: float, h: float) -> bool:
    return bool(xyxy[0] >= 0 and xyxy[1] >= 0 and xyxy[2] <= w and xyxy[3] <= h)


def _size(ds: Dataset, r: int) -> tuple[float, float]:
    i = int(ds.boxes.image[r])
    return float(ds.images.width[i]), float(ds.images.height[i])


def _outside(b: BoxTable, plates: list[int]) -> bool:
    """Whether any of these plates lies partly outside its linked vehicle."""
    return any(b.parent[p] >= 0 and inside_share(b.xyxy[p], b.xyxy[b.parent[p]])[0, 0] < 1 for p in plates)


def _shift(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    w, h = b.xyxy[r, 2] - b.xyxy[r, 0], b.xyxy[r, 3] - b.xyxy[r, 1]
    f, a = rng.uniform(0.3, 0.6), rng.uniform(0, 2 * np.pi)
    for d in (
        np.array([f * w * np.cos(a), f * h * np.sin(a)]),
        np.array([-f * w * np.cos(a), -f * h * np.sin(a)]),
    ):
        if _fits(b.xyxy[r] + np.r_[d, d], *_size(ds, r)):
            before = _xy(b, r)
            _move(b, r, *d)
            plates = _plates_of(b, r) if b.category[r] == VEHICLE else [r]
            t = _truth("shift", ds, b, r, _plates_of(b, r), _outside(b, plates))
            t.xyxy = before
            return t
    return None


def _swap_class(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    b.category[r], b.parent[r], b.link_score[r] = VEHICLE, -1, np.nan
    if b.text is not None:
        b.text[r] = ""
    if b.corners is not None:
        b.corners[r] = np.nan
    return _truth("swap_class", ds, b, r, [])


def _delete_plate(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    v = int(b.parent[r])
    if v < 0:
        return None
    x0, y0, x1, y1 = b.xyxy[v]
    w, h = _size(ds, v)
    big = min(x1 - x0, y1 - y0) >= float(AuditConfig()["large_vehicle_side"])
    in_view = x0 > 2 and y0 > 2 and x1 < w - 2 and y1 < h - 2
    b.category[r] = -1  # removed when the copy is built
    left = [p for p in _plates_of(b, v) if b.category[p] >= 0]
    t = _truth("delete_plate", ds, b, v, [], big and in_view and not left)
    t.xyxy = _xy(b, r)
    return t


def _shifted_to_iou(xyxy: np.ndarray, target: float, rng: Rng) -> np.ndarray:
    """``xyxy`` translated so that its IoU with itself is ``target`` (random signs)."""
    f = 1 - np.sqrt(2 * target / (1 + target))
    d = rng.choice((-1, 1), 2) * f * (xyxy[2:] - xyxy[:2])
    return xyxy + np.r_[d, d]


def _duplicate(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    dup = _shifted_to_iou(b.xyxy[r], rng.uniform(0.87, 0.93), rng)
    if not _fits(dup, *_size(ds, r)):
        return None
    t = _truth("duplicate", ds, b, r, [])
    t.box, t.xyxy = -(r + 1), tuple(float(v) for v in dup)  # appended, and named, as the copy is built
    return t


def _plate_off_car(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    w, h = _size(ds, r)
    pw, ph = b.xyxy[r, 2] - b.xyxy[r, 0], b.xyxy[r, 3] - b.xyxy[r, 1]
    cars = b.xyxy[(b.image == b.image[r]) & (b.category == VEHICLE)]
    for _ in range(50):
        x, y = rng.uniform(0, w - pw), rng.uniform(0, h - ph)
        spot = np.array([x, y, x + pw, y + ph])
        if not len(cars) or inside_share(spot, cars).max() == 0:
            clean = _xy(b, r)
            _move(b, r, *(spot[:2] - b.xyxy[r, :2]))
            b.parent[r], b.link_score[r] = -1, np.nan
            t = _truth("plate_off_car", ds, b, r, [])
            t.xyxy = clean
            return t
    return None


def _vehicle_as_plate(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    plates = _plates_of(b, r)
    b.category[r] = PLATE
    b.parent[plates], b.link_score[plates] = -1, np.nan
    return _truth("vehicle_as_plate", ds, b, r, plates)


Injector = Callable[[Dataset, BoxTable, int, Rng], Truth | None]
BOX_KINDS: dict[str, tuple[Injector, tuple[int, ...]]] = {
    "shift": (_shift, (VEHICLE, PLATE)),
    "swap_class": (_swap_class, (PLATE,)),
    "delete_plate": (_delete_plate, (PLATE,)),
    "duplicate": (_duplicate, (VEHICLE, PLATE)),
    "plate_off_car": (_plate_off_car, (PLATE,)),
    "vehicle_as_plate": (_vehicle_as_plate, (VEHICLE,)),
}


def inject_boxes(clean: Dataset, kind: str, rate: float, rng: Rng) -> tuple[Dataset, list[Truth]]:
    """``kind`` into ``rate`` of the boxes of its classes, each on a box no other edit touched."""
    edit, classes = BOX_KINDS[kind]
    b = clean.boxes.take(np.arange(len(clean.boxes)))  # a copy to edit
    rows = np.flatnonzero(np.isin(b.category, classes))
    want, truths, touched = round(rate * len(rows)), [], set()
    for r in rng.permutation(rows).tolist():
        if len(truths) == want:
            break
        near = {r, int(b.parent[r]), *_plates_of(b, r)} - {-1}
        if near & touched:
            continue
        t = edit(clean, b, r, rng)
        if t is not None:
            truths.append(t)
            touched |= near
    pending = [t for t in truths if t.box < 0]
    if pending:  # duplicates: a copy of the box (link and text too) at its new place, new ids
        more = b.take(np.array([-t.box - 1 for t in pending]))
        d = np.array([t.xyxy for t in pending]) - more.xyxy
        more.xyxy = more.xyxy + d
        if more.corners is not None:
            more.corners = more.corners + d[:, None, :2]
        more.id = int(b.id.max()) + 1 + np.arange(len(pending))
        for t, new_id in zip(pending, more.id.tolist()):
            t.box, t.footprint = new_id, (new_id, *t.footprint)
        b = concat_tables([b, more])
    keep = np.flatnonzero(b.category >= 0)
    return clean.replace(boxes=b.take_with_parents(keep, len(b))), truths


def inject_copies(clean: Dataset, rate: float, rng: Rng, folder: Path) -> tuple[Dataset, list[Truth]]:
    """Copy ``rate`` of the images with boxes, byte for byte, into another split, labels and all."""
    shutil.copytree(clean.roots[clean.splits[0]].parent, folder / "images")
    roots = {s: folder / "images" / s for s in clean.splits}
    im, b, off = clean.images, clean.boxes, clean.offsets
    have = np.flatnonzero(np.diff(off) > 0)
    src = np.sort(rng.choice(have, round(rate * len(have)), replace=False))
    images, boxes, truths = [im], [b], []
    next_box = int(b.id.max()) + 1
    for k, i in enumerate(src.tolist()):
        row, split = len(im) + k, str(rng.choice([s for s in clean.splits if s != im.split[i]]))
        extra = im.take(np.array([i]))
        extra.id, extra.split = np.array([int(im.id.max()) + 1 + k]), np.array([split])
        shutil.copyfile(roots[str(im.split[i])] / im.file_name[i], roots[split] / im.file_name[i])
        lo, hi = int(off[i]), int(off[i + 1])
        copy = b.take(np.arange(lo, hi))
        copy.id, copy.image = np.arange(next_box, next_box + hi - lo), np.full(hi - lo, row)
        copy.parent = np.where(copy.parent >= 0, copy.parent - lo + sum(map(len, boxes)), -1)
        next_box += hi - lo
        images.append(extra)
        boxes.append(copy)
        truths.append(Truth("copy_across_splits", int(extra.id[0]), -1, (), (), True, int(im.id[i])))
    ds = clean.replace(images=concat_tables(images), boxes=concat_tables(boxes), roots=roots)
    return ds, truths


def simulate_detector(clean: Dataset, rng: Rng) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per clean image id: (category, xyxy, score) of a detector that learnt the clean labels."""
    b, out = clean.boxes, {}
    for i in range(len(clean.images)):
        lo, hi = int(clean.offsets[i]), int(clean.offsets[i + 1])
        w, h = float(clean.images.width[i]), float(clean.images.height[i])
        rows = [r for r in range(lo, hi) if rng.uniform() >= 0.05]
        xyxy = [_shifted_to_iou(b.xyxy[r], rng.uniform(0.8, 0.9), rng) for r in rows]
        cats, scores = [int(b.category[r]) for r in rows], rng.uniform(0.6, 0.95, len(rows)).tolist()
        for _ in range(rng.poisson(0.15)):
            r = int(rng.integers(len(b)))
            bw, bh = b.xyxy[r, 2:] - b.xyxy[r, :2]
            x, y = rng.uniform(0, max(w - bw, 1)), rng.uniform(0, max(h - bh, 1))
            xyxy.append(np.array([x, y, x + bw, y + bh]))
            cats.append(int(b.category[r]))
            scores.append(rng.uniform(0.3, 0.7))
        boxes = np.clip(np.array(xyxy).reshape(-1, 4), 0, [w, h, w, h])
        out[int(clean.images.id[i])] = (np.array(cats, dtype=np.int64), boxes, np.array(scores))
    return out


def predictions_for(ds: Dataset, detector: dict, truths: list[Truth]) -> Predictions:
    """The detector's output on every image row of ``ds`` (a copied image: its original's)."""
    source = {t.image: t.other for t in truths if t.other >= 0}
    parts = [(i, detector[source.get(int(v), int(v))]) for i, v in enumerate(ds.images.id.tolist())]
    return Predictions(
        image=np.concatenate([np.full(len(p[0]), i) for i, p in parts]),
        category=np.concatenate([p[0] for _, p in parts]),
        xyxy=np.concatenate([p[1] for _, p in parts]),
        score=np.concatenate([p[2] for _, p in parts]),
        notes=[],
    )


def _finds(issue: Issue, t: Truth, box_row: dict[int, int], image_row: dict[int, int]) -> bool:
    if t.other >= 0:
        return {issue.image, issue.other_image} == {image_row[t.image], image_row[t.other]}
    if issue.check == "missed_box":
        return (
            issue.image == image_row[t.image]
            and issue.bbox is not None
            and bool(iou(np.array([issue.bbox]), np.array([t.xyxy]))[0] >= 0.5)
        )
    return issue.box in {box_row[k] for k in t.footprint}


def score(report: AuditReport, truths: list[Truth], checks: tuple[str, ...], rule: bool) -> dict[str, float]:
    """Injected, visible, found and flagged counts, recall and precision of ``checks``."""
    ds = report.dataset
    box_row = {int(v): r for r, v in enumerate(ds.boxes.id.tolist())}
    image_row = {int(v): r for r, v in enumerate(ds.images.id.tolist())}
    flags = [i for i in report.issues if i.check in checks]
    hits = [[k for k, t in enumerate(truths) if _finds(i, t, box_row, image_row)] for i in flags]
    found = set().union(*hits) if hits else set()
    seen = [k for k, t in enumerate(truths) if t.visible or not rule]
    return {
        "injected": len(truths),
        "visible": len(seen),
        "found": len(found & set(seen)),
        "found_all": len(found),
        "flags": len(flags),
        "true_flags": sum(bool(h) for h in hits),
        "recall": len(found & set(seen)) / max(len(seen), 1),
        "recall_all": len(found) / max(len(truths), 1),
        "precision": sum(bool(h) for h in hits) / max(len(flags), 1),
    }


def _goal(s: dict[str, float]) -> str:
    if not s["visible"]:
        return "n/a (a rule cannot see it)"
    ok = s["recall"] >= 0.95 and s["precision"] >= 0.9
    return "met" if ok else f"MISSED ({'recall' if s['recall'] < 0.95 else 'precision'})"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def print_tables(results: dict[str, tuple[AuditReport, list[Truth]]]) -> None:
    print("\n## Rule checks (no model)\n")
    print(
        _row(
            "kind",
            "rule checks",
            "injected",
            "visible",
            "found",
            "recall",
            "recall (all)",
            "precision",
            "goal",
        )
    )
    print(_row(*["---"] * 9))
    for kind, checks in RULES.items():
        s = score(*results[kind], checks, rule=True)
        prec = f"{s['precision']:.3f} ({s['true_flags']}/{s['flags']})"
        print(
            _row(
                kind,
                ", ".join(checks),
                s["injected"],
                s["visible"],
                s["found"],
                f"{s['recall']:.3f}",
                f"{s['recall_all']:.3f}",
                prec,
                _goal(s),
            )
        )
    print("\n## Model-assisted checks (predictions SIMULATED from the clean labels: an upper bound)\n")
    print(_row("kind", "model checks", "injected", "found", "recall", "precision", "goal"))
    print(_row(*["---"] * 7))
    for kind, checks in MODEL:
        s = score(*results[kind], checks, rule=False)
        prec = f"{s['precision']:.3f} ({s['true_flags']}/{s['flags']})"
        print(
            _row(kind, " or ".join(checks), s["injected"], s["found"], f"{s['recall']:.3f}", prec, _goal(s))
        )


def print_floor(report: AuditReport) -> None:
    counts = Counter(i.check for i in report.issues)
    print("\n## Clean set: issues per check (the false-positive floor every copy shares)\n")
    print(_row("check", "issues"))
    print(_row("---", "---"))
    for check, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(_row(check, n))
    print(_row("(total)", sum(counts.values())))


def run(args: argparse.Namespace, work: Path) -> None:
    clean = generate(work / "clean", args.images, seed=args.seed, size=(640, 480))
    b = clean.boxes
    print(
        f"clean set: {len(clean.images)} images, {int((b.category == VEHICLE).sum())} vehicles, {int((b.category == PLATE).sum())} plates; splits {', '.join(clean.splits)}"
    )
    detector = simulate_detector(clean, np.random.default_rng([args.seed, 99]))
    print_floor(run_audit(clean, predictions=predictions_for(clean, detector, [])))
    results = {}
    for k, kind in enumerate([*BOX_KINDS, "copy_across_splits"]):
        rng = np.random.default_rng([args.seed, 1000 + k])
        if kind == "copy_across_splits":
            ds, truths = inject_copies(clean, args.rate, rng, work / kind)
        else:
            ds, truths = inject_boxes(clean, kind, args.rate, rng)
        results[kind] = (run_audit(ds, predictions=predictions_for(ds, detector, truths)), truths)
        if args.keep:
            _keep(ds, truths, work / f"{kind}-release")
    print_tables(results)


def _keep(ds: Dataset, truths: list[Truth], out: Path) -> None:
    import svmlp

    svmlp.write(ds, out, format="svmlp", overwrite=True)
    (out / "truth.json").write_text(json.dumps([asdict(t) for t in truths], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.05, help="share of eligible boxes (images) per kind")
    ap.add_argument("--keep", type=Path, help="work here and keep the clean set and noisy releases")
    args = ap.parse_args()
    started = time.perf_counter()
    print(f"# Audit against injected noise: {args.images} images, seed {args.seed}, rate {args.rate}\n")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
    else:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="svmlp-eval-", dir=shm) as tmp:
            run(args, Path(tmp))
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
