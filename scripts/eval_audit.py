"""How well does the audit find label noise? Inject noise of known kinds at known rates, audit, score.

    python scripts/eval_audit.py                    # 400 images, seed 0, 5 % of eligible boxes per kind
    python scripts/eval_audit.py --images 1000 --rate 0.1 --keep /tmp/eval   # keep the noisy releases

A clean synthetic set is drawn (svmlp.synth.generate, 640x480, JPEGs on disk). Each kind of noise
is injected **on its own copy** of the clean labels (one kind per copy, so every flag on a copy is
either that noise or a false positive), into ``--rate`` of the boxes the kind applies to, on boxes
no other edit of that copy touched. The truth is kept as (kind, image id, box id): ids, not rows,
because rows move when boxes come and go. The kinds, exactly:

- ``shift``: a vehicle or plate moved by f = U(0.3, 0.6) of its size in a random direction
  (dx = f w cos a, dy = f h sin a), kept inside the image; links kept, a plate's corners move too.
- ``swap_class``: a plate labelled vehicle (its link dropped).
- ``delete_plate``: a plate removed. The truth is its vehicle, which a detector sees carrying it.
- ``duplicate``: a second box of the same class (link and text too) at IoU U(0.87, 0.93) to it.
- ``plate_off_car``: a plate moved, same size, to where no vehicle box reaches; link dropped.
- ``vehicle_as_plate``: a vehicle relabelled plate (its own plates lose their link to it).
- ``copy_across_splits``: an image file copied byte for byte into another split: a new image row
  with the same labels (``--rate`` of the images that have boxes).

A flag finds a truth when it is of one of the kind's checks and names the noisy box, its twin (a
duplicate) or a plate of the moved or relabelled vehicle (whose relation it breaks); for a copied
image, the two copies; for ``missed_box``, a predicted box at IoU >= 0.5 to the deleted plate's
place. Recall = truths found / truths seen (``visible``: a rule can see them; ``detected``: the
detector predicted them); ``recall (all)`` = found / injected; precision = flags of the kind's
checks that find a truth / all flags of those checks on that copy. The goal is recall >= 0.95 and
precision >= 0.9. A rule cannot see: a plate shifted within its vehicle, or a vehicle shifted with
its plates still inside it (or carrying none), since what lies in what is unchanged; nor a deleted
plate, since a vehicle left plate-less looks like the many that carry none (plate hidden, cut off or
absent): ``vehicle_without_plate`` is only a hint, scored for information.
A plate labelled vehicle is seen by its size and shape, or, inside a vehicle, by a plate's share
of it where plates are mounted (low and centred, mount cost <= 0.25): on real photos the vehicles
seen past a nearer one are as small, and only the mount position tells them apart. The synthetic
plates that sit off that position (about a quarter) are the swap_class recall this costs.

Model-assisted checks get predictions simulated from the CLEAN labels, before injection: each clean
box predicted (5 % missed) at IoU U(0.8, 0.9) with score U(0.6, 0.95), plus Poisson(0.15) false
positives per image, a real box's size, score U(0.3, 0.7): an upper bound on a real detector. The
clean set is audited too, with those predictions: its flags are the false-positive floor.
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

import svmlp
from svmlp.audit import AuditReport, Issue, run_audit
from svmlp.audit.checks_data import iou
from svmlp.audit.checks_predictions import Predictions
from svmlp.links import inside_share
from svmlp.model import BoxTable, Dataset
from svmlp.model.tables import concat_tables
from svmlp.synth import generate

VEHICLE, PLATE = 0, 1
Rng = np.random.Generator
PLATE_CHECKS = ("class_confusion", "orphan_plate", "plate_outside_vehicle", "plate_too_large")
#: kind: the rule checks that find it
RULES: dict[str, tuple[str, ...]] = {
    "shift": ("plate_outside_vehicle", "orphan_plate"),
    "swap_class": ("class_confusion",),
    "delete_plate": ("vehicle_without_plate",),
    "duplicate": ("duplicate_box",),
    "plate_off_car": ("orphan_plate", "plate_outside_vehicle"),
    "vehicle_as_plate": (*PLATE_CHECKS, "plate_size_outlier"),
    "copy_across_splits": ("identical_images_across_splits",),
}
HEADER = "kind | checks | injected | {} | found | recall | recall (all) | precision | goal"
MODEL_TITLE = "Model-assisted checks: predictions SIMULATED from the clean labels (an upper bound)"
#: (kind, model-assisted checks that find it)
MODEL: list[tuple[str, tuple[str, ...]]] = [
    ("delete_plate", ("missed_box",)),
    ("shift", ("misplaced_box",)),
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


def _truth(kind: str, ds: Dataset, b: BoxTable, r: int, footprint: list[int] | None = None) -> Truth:
    """The truth about box row ``r`` of ``b`` as it is now (call it before moving the box)."""
    ids = tuple(int(b.id[k]) for k in [r, *(footprint or [])])
    place = tuple(float(v) for v in b.xyxy[r])
    return Truth(kind, int(ds.images.id[b.image[r]]), int(b.id[r]), ids, place)


def _plates_of(b: BoxTable, v: int) -> list[int]:
    return np.flatnonzero((b.parent == v) & (b.category == PLATE)).tolist()


def _move(b: BoxTable, r: int, d: np.ndarray) -> None:
    b.xyxy[r] += np.r_[d, d]
    if b.corners is not None:
        b.corners[r] += d


def _fits(ds: Dataset, b: BoxTable, xyxy: np.ndarray, r: int) -> bool:
    w, h = ds.images.width[b.image[r]], ds.images.height[b.image[r]]
    return bool(xyxy[0] >= 0 and xyxy[1] >= 0 and xyxy[2] <= w and xyxy[3] <= h)


def _shifted_to_iou(xyxy: np.ndarray, target: float, rng: Rng) -> np.ndarray:
    """``xyxy`` translated (random signs) so that its IoU with where it was is ``target``."""
    d = rng.choice((-1, 1), 2) * (1 - np.sqrt(2 * target / (1 + target))) * (xyxy[2:] - xyxy[:2])
    return xyxy + np.r_[d, d]


def _shift(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    f, a = rng.uniform(0.3, 0.6), rng.uniform(0, 2 * np.pi)
    d = f * (b.xyxy[r, 2:] - b.xyxy[r, :2]) * (np.cos(a), np.sin(a))
    for step in (d, -d):
        if _fits(ds, b, b.xyxy[r] + np.r_[step, step], r):
            t = _truth("shift", ds, b, r, _plates_of(b, r))
            _move(b, r, step)
            plates = _plates_of(b, r) if b.category[r] == VEHICLE else [r]
            # a rule sees it if a plate now lies partly outside its vehicle
            t.visible = any(inside_share(b.xyxy[p], b.xyxy[b.parent[p]])[0, 0] < 1 for p in plates)
            return t
    return None


def _swap_class(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    b.category[r], b.parent[r], b.link_score[r] = VEHICLE, -1, np.nan  # text and corners stay, unused
    return _truth("swap_class", ds, b, r)


def _delete_plate(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    if b.parent[r] < 0:
        return None
    t = _truth("delete_plate", ds, b, int(b.parent[r]))
    t.xyxy, t.visible = tuple(float(v) for v in b.xyxy[r]), False
    b.category[r] = -1  # removed when the copy is built
    return t


def _duplicate(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    dup = _shifted_to_iou(b.xyxy[r], rng.uniform(0.87, 0.93), rng)
    if not _fits(ds, b, dup, r):
        return None
    t = _truth("duplicate", ds, b, r)
    t.box, t.xyxy = -(r + 1), tuple(float(v) for v in dup)  # appended, and named, as the copy is built
    return t


def _plate_off_car(ds: Dataset, b: BoxTable, r: int, rng: Rng) -> Truth | None:
    i = b.image[r]
    size = b.xyxy[r, 2:] - b.xyxy[r, :2]
    cars = b.xyxy[(b.image == i) & (b.category == VEHICLE)]
    for _ in range(50):
        at = rng.uniform(0, 1, 2) * (ds.images.width[i] - size[0], ds.images.height[i] - size[1])
        if not len(cars) or inside_share(np.r_[at, at + size], cars).max() == 0:
            t = _truth("plate_off_car", ds, b, r)
            _move(b, r, at - b.xyxy[r, :2])
            b.parent[r], b.link_score[r] = -1, np.nan
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


def _append_duplicates(b: BoxTable, truths: list[Truth]) -> BoxTable:
    """The boxes of pending duplicates again, at their new place, with new ids."""
    pending = [t for t in truths if t.box < 0]
    if not pending:
        return b
    more = b.take(np.array([-t.box - 1 for t in pending]))
    d = np.array([t.xyxy for t in pending]) - more.xyxy
    more.xyxy = more.xyxy + d
    if more.corners is not None:
        more.corners = more.corners + d[:, None, :2]
    more.id = int(b.id.max()) + 1 + np.arange(len(pending))
    for t, new_id in zip(pending, more.id.tolist()):
        t.box, t.footprint = new_id, (new_id, *t.footprint)
    return concat_tables([b, more])


def inject_boxes(clean: Dataset, kind: str, rate: float, rng: Rng) -> tuple[Dataset, list[Truth]]:
    """``kind`` into ``rate`` of the boxes of its classes, each where no other edit reached."""
    edit, classes = BOX_KINDS[kind]
    b = clean.boxes.take(np.arange(len(clean.boxes)))  # a copy to edit
    rows = np.flatnonzero(np.isin(b.category, classes))
    want, truths, touched = round(rate * len(rows)), [], set()
    for r in rng.permutation(rows).tolist():
        near = {r, int(b.parent[r]), *_plates_of(b, r)} - {-1}
        if len(truths) < want and not near & touched and (t := edit(clean, b, r, rng)) is not None:
            truths.append(t)
            touched |= near
    b = _append_duplicates(b, truths)
    keep = np.flatnonzero(b.category >= 0)
    return clean.replace(boxes=b.take_with_parents(keep, len(b))), truths


def inject_copies(clean: Dataset, rate: float, rng: Rng, folder: Path) -> tuple[Dataset, list[Truth]]:
    """Copy ``rate`` of the images with boxes, byte for byte, into another split, labels and all."""
    shutil.copytree(clean.roots[clean.splits[0]].parent, folder / "images")
    roots = {s: folder / "images" / s for s in clean.splits}
    im, b, off = clean.images, clean.boxes, clean.offsets
    have = np.flatnonzero(np.diff(off) > 0)
    images, boxes, truths = [im], [b], []
    for k, i in enumerate(np.sort(rng.choice(have, round(rate * len(have)), replace=False)).tolist()):
        split = str(rng.choice([s for s in clean.splits if s != im.split[i]]))
        shutil.copyfile(roots[str(im.split[i])] / im.file_name[i], roots[split] / im.file_name[i])
        extra = im.take(np.array([i]))
        extra.id, extra.split = np.array([int(im.id.max()) + 1 + k]), np.array([split])
        base, lo, hi = sum(map(len, boxes)), int(off[i]), int(off[i + 1])
        copy = b.take(np.arange(lo, hi))
        copy.id = int(b.id.max()) + 1 + base - len(b) + np.arange(hi - lo)
        copy.image = np.full(hi - lo, len(im) + k)
        copy.parent = np.where(copy.parent >= 0, copy.parent - lo + base, -1)
        images.append(extra)
        boxes.append(copy)
        truths.append(Truth("copy_across_splits", int(extra.id[0]), -1, (), (), True, int(im.id[i])))
    return clean.replace(images=concat_tables(images), boxes=concat_tables(boxes), roots=roots), truths


Detections = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def simulate_detector(clean: Dataset, rng: Rng) -> Detections:
    """Per clean image id: (category, xyxy, score) of a detector that learnt the clean labels."""
    b, out = clean.boxes, {}
    for i in range(len(clean.images)):
        w, h = float(clean.images.width[i]), float(clean.images.height[i])
        rows = [r for r in range(int(clean.offsets[i]), int(clean.offsets[i + 1])) if rng.uniform() >= 0.05]
        xyxy = [_shifted_to_iou(b.xyxy[r], rng.uniform(0.8, 0.9), rng) for r in rows]
        cats, scores = [int(b.category[r]) for r in rows], rng.uniform(0.6, 0.95, len(rows)).tolist()
        fp = rng.integers(len(b), size=rng.poisson(0.15))  # false positives: a real box's size, anywhere
        size = b.xyxy[fp, 2:] - b.xyxy[fp, :2]
        at = rng.uniform(0, 1, (len(fp), 2)) * np.maximum((w, h) - size, 1)
        xyxy += list(np.concatenate([at, at + size], axis=1))
        cats += b.category[fp].tolist()
        scores += rng.uniform(0.3, 0.7, len(fp)).tolist()
        boxes = np.clip(np.array(xyxy).reshape(-1, 4), 0, [w, h, w, h])
        out[int(clean.images.id[i])] = (np.array(cats, dtype=np.int64), boxes, np.array(scores))
    return out


def predictions_for(ds: Dataset, detector: Detections, truths: list[Truth]) -> Predictions:
    """The detector's output on every image row of ``ds`` (on a copied image, its original's)."""
    source = {t.image: t.other for t in truths if t.other >= 0}
    parts = [(i, detector[source.get(v, v)]) for i, v in enumerate(ds.images.id.tolist())]
    image = np.concatenate([np.full(len(p[0]), i) for i, p in parts])
    category, xyxy, scores = (np.concatenate([p[j] for _, p in parts]) for j in range(3))
    return Predictions(image, category, xyxy, scores, notes=[])


def _finds(issue: Issue, t: Truth, box_row: dict[int, int], image_row: dict[int, int]) -> bool:
    if t.other >= 0:
        return {issue.image, issue.other_image} == {image_row[t.image], image_row[t.other]}
    if issue.check == "missed_box":
        near = issue.bbox is not None and iou(np.array([issue.bbox]), np.array([t.xyxy]))[0] >= 0.5
        return issue.image == image_row[t.image] and bool(near)
    return issue.box in {box_row[k] for k in t.footprint}


def detected(t: Truth, detector: Detections) -> bool:
    """Whether the simulated detector predicted the truth's box where it cleanly is."""
    _, xyxy, scores = detector[t.image]
    xyxy = xyxy[scores >= 0.5]
    return bool(len(xyxy) and iou(np.repeat([t.xyxy], len(xyxy), 0), xyxy).max() >= 0.5)


def score(report: AuditReport, truths: list[Truth], checks: tuple[str, ...], seen: set[int]) -> list[object]:
    """Injected, seen, found, recall (of seen), recall (all), precision and goal of ``checks``."""
    ds = report.dataset
    box_row = {v: r for r, v in enumerate(ds.boxes.id.tolist())}
    image_row = {v: r for r, v in enumerate(ds.images.id.tolist())}
    flags = [i for i in report.issues if i.check in checks]
    hits = [{k for k, t in enumerate(truths) if _finds(i, t, box_row, image_row)} for i in flags]
    found, true_flags = set().union(*hits), sum(map(bool, hits))
    n, hit = len(seen), len(found & seen)
    goal = "met" if hit >= 0.95 * n and true_flags >= 0.9 * len(flags) else "MISSED"
    precision = f"{true_flags / len(flags):.3f} ({true_flags}/{len(flags)})" if flags else "- (0 flags)"
    if not n:
        goal = "n/a (needs a model)"
    return [len(truths), n, hit, hit / n if n else "-", len(found) / max(len(truths), 1), precision, goal]


def _table(header: str, rows: list[list[object]]) -> None:
    for cells in [header.split(" | "), ["---"] * len(rows[0]), *rows]:
        print("| " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells) + " |")


def print_tables(results: dict[str, tuple[AuditReport, list[Truth]]], detector: Detections) -> None:
    tables = [
        ("Rule checks (no model)", RULES.items(), "visible", lambda t: t.visible),
        (MODEL_TITLE, MODEL, "detected", lambda t: detected(t, detector)),
    ]
    for title, table, seen_as, seen_if in tables:
        rows = []
        for kind, checks in table:
            report, truths = results[kind]
            seen = {k for k, t in enumerate(truths) if seen_if(t)}
            rows.append([kind, ", ".join(checks), *score(report, truths, checks, seen)])
        print(f"\n## {title}\n")
        _table(HEADER.format(seen_as), rows)
    print(
        "\n`detected`: truths whose clean box the simulated detector predicted (it misses 5 %); recall is "
        "of those. Its false positives (0.15 an image, half above prediction_min_score) set missed_box's "
        "precision."
    )


def run(args: argparse.Namespace, work: Path) -> None:
    clean = generate(work / "clean", args.images, seed=args.seed, size=(640, 480))
    b = clean.boxes
    vehicles, plates = int((b.category == VEHICLE).sum()), int((b.category == PLATE).sum())
    print(
        f"clean set: {len(clean.images)} images, {vehicles} vehicles, {plates} plates; splits {clean.splits}"
    )
    detector = simulate_detector(clean, np.random.default_rng([args.seed, 99]))
    floor = Counter(
        i.check for i in run_audit(clean, predictions=predictions_for(clean, detector, [])).issues
    )
    print("\n## Clean set: issues per check (the false-positive floor every copy shares)\n")
    _table("check | issues", [[c, n] for c, n in floor.most_common()] + [["(total)", floor.total()]])
    results = {}
    for k, kind in enumerate([*BOX_KINDS, "copy_across_splits"]):
        rng = np.random.default_rng([args.seed, 1000 + k])
        if kind == "copy_across_splits":
            ds, truths = inject_copies(clean, args.rate, rng, work / kind)
        else:
            ds, truths = inject_boxes(clean, kind, args.rate, rng)
        results[kind] = (run_audit(ds, predictions=predictions_for(ds, detector, truths)), truths)
        if args.keep:
            svmlp.write(ds, work / f"{kind}-release", format="svmlp", overwrite=True)
            (work / f"{kind}-release" / "truth.json").write_text(json.dumps([asdict(t) for t in truths]))
    print_tables(results, detector)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.05, help="share of eligible boxes (images) per kind")
    ap.add_argument("--keep", type=Path, help="work here, and keep the clean set and the noisy releases")
    args = ap.parse_args()
    started = time.perf_counter()
    print(f"# The audit against injected noise: {args.images} images, seed {args.seed}, rate {args.rate}\n")
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
