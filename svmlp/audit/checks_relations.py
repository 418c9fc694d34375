"""Relation and statistics checks: plates and the vehicles that carry them.

Links come from the data set where it has them and from :func:`svmlp.links.link_plates` where it
has none (in memory; the data is never changed). Class confusion compares each box's size and
shape (log of its share of the image, log of its aspect) with the robust centre and spread
(median, MAD) of each class in this very data set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from svmlp.audit.checks_data import image_pairs
from svmlp.audit.context import Context
from svmlp.audit.issues import Issue
from svmlp.links import mount_cost
from svmlp.model.geometry import CornerShapes, area, share_inside
from svmlp.model.tables import usable_boxes

__all__ = ["check_classes", "check_relations", "robust_z"]

_MIN_PER_CLASS = 20  # below this a median/MAD says little
#: A plate-sized vehicle box inside another vehicle is taken for a plate only where a plate would
#: be mounted: mount cost (:func:`svmlp.links.mount_cost`) at most this. Without it, 202 vehicles
#: seen past a nearer one in ../shared/data/plates-us-eu were flagged; with it, 13.
_PLATE_MOUNT = 0.25


def robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How many robust standard deviations (1.4826 MAD) each value lies from the reference's median."""
    med = np.median(reference)
    mad = 1.4826 * np.median(np.abs(reference - med))
    return (values - med) / max(mad, 1e-6)


def check_relations(ctx: Context) -> Iterator[Issue]:
    roles = {c.role for c in ctx.ds.categories}
    if "child" not in roles or "parent" not in roles:
        return
    links = ctx.links
    b = links.dataset.boxes
    status = np.asarray(links.status).astype(str)
    yield from _orphans(ctx, status)
    for r in np.flatnonzero(status == "ambiguous").tolist():
        if ctx.enabled("ambiguous_plate"):
            other = int(links.second[r])
            yield ctx.issue(
                "ambiguous_plate",
                int(b.image[r]),
                r,
                f"lies in two vehicles alike; linked to box id "
                f"{int(b.id[b.parent[r]])}, could be box id {int(b.id[other])}",
                related=(int(b.parent[r]), other),
            )
    linked = np.flatnonzero(b.parent >= 0)
    yield from _linked_pairs(ctx, linked)
    yield from _crowded(ctx, linked)
    yield from _plateless(ctx, linked)


def _orphans(ctx: Context, status: np.ndarray) -> Iterator[Issue]:
    if not ctx.enabled("orphan_plate"):
        return
    b = ctx.links.dataset.boxes
    # the vehicles and the measure the linker used, so "at most" stays below what it needed
    vehicles = np.flatnonzero(ctx.ds.role_mask("parent") & ~b.iscrowd & usable_boxes(b.xyxy))
    orphans = np.flatnonzero(status == "orphan")
    ia, ib = image_pairs(b.image[orphans], b.image[vehicles], len(ctx.ds.images))
    share = CornerShapes(b.xyxy, b.corners, orphans).share_inside(orphans[ia], b.xyxy[vehicles[ib]])
    best = np.zeros(len(orphans))
    np.maximum.at(best, ia, share)
    for k, r in enumerate(orphans.tolist()):
        yield ctx.issue(
            "orphan_plate",
            int(b.image[r]),
            r,
            f"lies in no vehicle (at most {best[k]:.0%} of it inside one, "
            f"{ctx.config['min_inside']:.0%} needed)",
            score=float(1 - best[k]),
        )


def _linked_pairs(ctx: Context, linked: np.ndarray) -> Iterator[Issue]:
    b, cfg = ctx.links.dataset.boxes, ctx.config
    plates, cars = b.xyxy[linked], b.xyxy[b.parent[linked]]
    # measured as the linker measures (corners where a plate has them): the two cannot disagree
    share = CornerShapes(b.xyxy, b.corners, linked).share_inside(linked, cars)
    ratio = area(plates) / np.maximum(area(cars), 1e-9)
    for k in np.flatnonzero(share < float(cfg["plate_inside_parent"])).tolist():
        r = int(linked[k])
        if ctx.enabled("plate_outside_vehicle"):
            yield ctx.issue(
                "plate_outside_vehicle",
                int(b.image[r]),
                r,
                f"only {share[k]:.0%} of it inside its vehicle, box id {int(b.id[b.parent[r]])}",
                score=float(1 - share[k]),
                related=(int(b.parent[r]),),
            )
    for k in np.flatnonzero(ratio > float(cfg["plate_max_share"])).tolist():
        r = int(linked[k])
        if ctx.enabled("plate_too_large"):
            yield ctx.issue(
                "plate_too_large",
                int(b.image[r]),
                r,
                f"{ratio[k]:.0%} of the area of its vehicle, box id {int(b.id[b.parent[r]])}",
                score=float(min(1.0, ratio[k])),
                related=(int(b.parent[r]),),
            )
    if ctx.enabled("plate_size_outlier") and len(linked) >= _MIN_PER_CLASS:
        log_ratio = np.log(np.maximum(ratio, 1e-9))
        z = robust_z(log_ratio, log_ratio)
        for k in np.flatnonzero(np.abs(z) > float(cfg["outlier_z"])).tolist():
            r = int(linked[k])
            what = "large" if z[k] > 0 else "small"
            yield ctx.issue(
                "plate_size_outlier",
                int(b.image[r]),
                r,
                f"unusually {what} for its vehicle ({ratio[k]:.2%} of its area; robust z {z[k]:+.1f})",
                score=float(1 - np.exp(-abs(z[k]) / 10)),
                related=(int(b.parent[r]),),
            )


def _crowded(ctx: Context, linked: np.ndarray) -> Iterator[Issue]:
    if not ctx.enabled("too_many_plates"):
        return
    b, most = ctx.links.dataset.boxes, int(ctx.config["max_plates"])
    counts = np.bincount(b.parent[linked], minlength=len(b))
    for v in np.flatnonzero(counts > most).tolist():
        plates = tuple(int(r) for r in linked[b.parent[linked] == v])
        yield ctx.issue(
            "too_many_plates",
            int(b.image[v]),
            v,
            f"carries {counts[v]} plates, more than {most}",
            score=float(1 - most / counts[v]),
            related=plates,
        )


def _plateless(ctx: Context, linked: np.ndarray) -> Iterator[Issue]:
    if not ctx.enabled("vehicle_without_plate"):
        return
    b = ctx.links.dataset.boxes
    w_img, h_img = ctx.sizes()
    x0, y0, x1, y1 = b.xyxy.T
    in_view = (x0 > 2) & (y0 > 2) & (x1 < w_img - 2) & (y1 < h_img - 2)
    big = np.minimum(x1 - x0, y1 - y0) >= float(ctx.config["large_vehicle_side"])
    carries = np.zeros(len(b), dtype=bool)
    carries[b.parent[linked]] = True
    lonely = ctx.ds.role_mask("parent") & ~b.iscrowd & in_view & big & ~carries
    for v in np.flatnonzero(lonely).tolist():
        yield ctx.issue(
            "vehicle_without_plate",
            int(b.image[v]),
            v,
            "a large vehicle fully in view with no plate (a missed plate?)",
        )


def check_classes(ctx: Context) -> Iterator[Issue]:
    """Boxes whose size and shape fit the other class far better than their own."""
    if not ctx.enabled("class_confusion"):
        return
    ds = ctx.ds
    b = ds.boxes
    w_img, h_img = ctx.sizes()
    bw, bh = b.xyxy[:, 2] - b.xyxy[:, 0], b.xyxy[:, 3] - b.xyxy[:, 1]
    ok = (bw > 0) & (bh > 0) & (w_img > 0) & (h_img > 0) & ~b.iscrowd
    feats = np.zeros((len(b), 2))
    feats[ok, 0] = np.log(bw[ok] * bh[ok] / (w_img[ok] * h_img[ok]))
    feats[ok, 1] = np.log(bw[ok] / bh[ok])
    plate, car = ds.role_mask("child") & ok, ds.role_mask("parent") & ok
    if plate.sum() < _MIN_PER_CLASS or car.sum() < _MIN_PER_CLASS:
        return
    dist = {}
    for name, mask in (("plate", plate), ("vehicle", car)):
        z = np.stack([robust_z(feats[:, k], feats[mask, k]) for k in range(2)], axis=1)
        dist[name] = np.sqrt((z**2).sum(axis=1))
    limit = float(ctx.config["confusion_z"])
    in_place, carrier, nested = _relations(ctx, car)
    for own, other, mask in (("plate", "vehicle", plate), ("vehicle", "plate", car)):
        hit = mask & (dist[own] > limit) & (dist[other] < dist[own] / 2)
        # a plate its vehicle carries at a plate's usual share of it is a plate; a vehicle that
        # carries a plate is a vehicle
        hit &= ~(in_place if own == "plate" else carrier)
        for r in np.flatnonzero(hit).tolist():
            score = float(dist[own][r] / (dist[own][r] + dist[other][r]))
            yield ctx.issue(
                "class_confusion",
                int(b.image[r]),
                r,
                f"its size and shape are a {other}'s (robust distance "
                f"{dist[other][r]:.1f}), not a {own}'s ({dist[own][r]:.1f})",
                score=score,
            )
        if own == "vehicle":  # plate-sized, inside another vehicle, carrying no plate: a plate?
            odd = nested & ~hit & (dist["plate"] <= limit)
            for r in np.flatnonzero(odd).tolist():
                yield ctx.issue(
                    "class_confusion",
                    int(b.image[r]),
                    r,
                    "a vehicle box the size of a plate inside another vehicle, carrying no plate "
                    "(a plate labelled as a vehicle?)",
                    score=float(1 / (1 + dist["plate"][r])),
                )


def _relations(ctx: Context, car: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per box: a plate linked at a usual share of its vehicle's area (robust z of the log area
    ratio within outlier_z); a vehicle that carries a plate; a vehicle that carries none and lies
    >= 0.9 inside another vehicle, where a plate is mounted, at a plate's usual share of its area
    (background vehicles seen past a nearer one are rarely low and centred on it)."""
    b, parent = ctx.ds.boxes, ctx.links.dataset.boxes.parent
    in_place, carrier, nested = (np.zeros(len(b), dtype=bool) for _ in range(3))
    linked = np.flatnonzero(ctx.ds.role_mask("child") & (parent >= 0))
    carrier[parent[linked]] = True
    if len(linked) < _MIN_PER_CLASS:
        return in_place, carrier, nested
    size = np.maximum(area(b.xyxy), 1e-9)
    usual = np.log(size[linked] / size[parent[linked]])
    limit = float(ctx.config["outlier_z"])
    in_place[linked] = np.abs(robust_z(usual, usual)) <= limit
    cars = np.flatnonzero(car)
    lone = cars[~carrier[cars]]
    ia, ib = image_pairs(b.image[lone], b.image[cars], len(ctx.ds.images))
    ra, rb = lone[ia], cars[ib]
    keep = (ra != rb) & (share_inside(b.xyxy[ra], b.xyxy[rb]) >= 0.9)
    keep[keep] = mount_cost(b.xyxy[ra[keep]], b.xyxy[rb[keep]]) <= _PLATE_MOUNT
    ra, rb = ra[keep], rb[keep]
    nested[ra[np.abs(robust_z(np.log(size[ra] / size[rb]), usual)) <= limit]] = True
    return in_place, carrier, nested
