"""Integrity and geometry checks: what is wrong with the files, the ids and the boxes themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from svmlp.audit.context import Context
from svmlp.audit.issues import Issue
from svmlp.model.geometry import area, intersection, iou
from svmlp.model.tables import usable_boxes
from svmlp.model.validate import first_duplicate

__all__ = ["check_duplicates", "check_geometry", "check_integrity", "image_pairs"]

_READ_CHECKS = {
    "duplicate_id",
    "duplicate_file",
    "orphan_label",
    "invalid_dataset",
    "schema",
    "stem_collision",
}


def image_pairs(image_a: np.ndarray, image_b: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with ``image_a[i] == image_b[j]``; both arrays sorted by image. Vectorised."""
    ca, cb = np.bincount(image_a, minlength=n_images), np.bincount(image_b, minlength=n_images)
    sa, sb = np.cumsum(ca) - ca, np.cumsum(cb) - cb
    per = ca * cb
    img = np.repeat(np.arange(n_images), per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    return sa[img] + k // np.maximum(cb[img], 1), sb[img] + k % np.maximum(cb[img], 1)


def check_integrity(ctx: Context) -> Iterator[Issue]:
    yield from _read_issues(ctx)
    yield from _duplicate_ids(ctx)
    yield from _stems(ctx)
    im = ctx.ds.images
    if ctx.enabled("unlabelled_image"):
        for i in np.flatnonzero(~im.labelled).tolist():
            yield ctx.issue("unlabelled_image", i, -1, "no label file at all (not annotated)")
    if ctx.scan is not None:
        yield from _files(ctx)
    else:
        yield from _size_mismatch(ctx)


def _read_issues(ctx: Context) -> Iterator[Issue]:
    for check, message in ctx.ds.read_issues:
        check = check if check in _READ_CHECKS else "invalid_dataset"
        if ctx.enabled(check):
            yield ctx.issue(check, -1, -1, message)


def _duplicate_ids(ctx: Context) -> Iterator[Issue]:
    ds = ctx.ds
    im, b = ds.images, ds.boxes
    split = np.unique(im.split, return_inverse=True)[1].astype(np.int64)
    for what, cols, rows, check in (
        ("image id", (split, im.id), None, "duplicate_id"),
        ("image file", (split, im.file_name), None, "duplicate_file"),
        ("box id", (split[b.image], b.id), b.image, "duplicate_id"),
    ):
        if not ctx.enabled(check) or not len(cols[0]):
            continue
        for r in _all_duplicates(*cols):
            image, box = (int(rows[r]), r) if rows is not None else (r, -1)
            value = cols[1][r]
            yield ctx.issue(
                check,
                image,
                box,
                f"{what} {value} appears more than once in its split",
            )


def _all_duplicates(*columns: np.ndarray) -> list[int]:
    """Rows whose key occurred in an earlier row (every repeat, not only the first)."""
    if first_duplicate(*columns) is None:
        return []
    order = np.lexsort(columns[::-1])
    same = np.ones(len(order) - 1, dtype=bool)
    for col in columns:
        same &= col[order][1:] == col[order][:-1]
    return sorted(order[1:][same].tolist())


def _stems(ctx: Context) -> Iterator[Issue]:
    if not ctx.enabled("stem_collision"):
        return
    im = ctx.ds.images
    seen: dict[tuple[str, str], int] = {}
    for i, (split, name) in enumerate(zip(im.split.tolist(), im.file_name.tolist())):
        key = (split, str(PurePosixPath(name).with_suffix("")))
        if key in seen and im.file_name[seen[key]] != name:
            j = seen[key]
            yield ctx.issue(
                "stem_collision",
                i,
                -1,
                f"same name as {im.file_name[j]} but for the extension; YOLO and VOC would give both one label file",
                other_image=j,
            )
        seen.setdefault(key, i)


def _files(ctx: Context) -> Iterator[Issue]:
    scan = ctx.scan
    assert scan is not None
    for i in np.flatnonzero(scan.state != "ok").tolist():
        check = "undecodable_image" if scan.state[i] == "undecodable" else "missing_image"
        if ctx.enabled(check):
            yield ctx.issue(check, i, -1, f"{scan.error[i]}")
    yield from _size_mismatch(ctx)


def _size_mismatch(ctx: Context) -> Iterator[Issue]:
    """One finding per image whose labels state a size the image does not have: against the scan
    when the files were read, else against what the reader found in the image header."""
    if not ctx.enabled("size_mismatch"):
        return
    scan = ctx.scan
    im = ctx.ds.images
    w, h = im.stated_size()
    replaced = (w != im.width) | (h != im.height)
    if scan is not None:
        real_w, real_h, turns = scan.width, scan.height, scan.orientation
        bad = (w > 0) & (h > 0) & (scan.state == "ok") & ((real_w != w) | (real_h != h))
    else:  # only what the reader recorded: the size it replaced with the header's
        real_w, real_h, turns = im.width, im.height, im.orientation
        bad = replaced
    for i in np.flatnonzero(bad).tolist():
        turned = int(turns[i]) in (5, 6, 7, 8)
        why = f" (EXIF orientation {int(turns[i])} turns it)" if turned else ""
        kept = "; boxes are measured against the image's size" if replaced[i] else ""
        yield ctx.issue(
            "size_mismatch",
            i,
            -1,
            f"the labels say {w[i]}×{h[i]}, the image is {real_w[i]}×{real_h[i]}{why}{kept}",
        )


def check_geometry(ctx: Context) -> Iterator[Issue]:
    b, cfg = ctx.ds.boxes, ctx.config
    if not len(b):
        return
    w_img, h_img = ctx.sizes()
    xyxy = b.xyxy
    finite = usable_boxes(xyxy)
    bw, bh = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    for r in np.flatnonzero(~finite).tolist():
        yield ctx.issue(
            "nonfinite_box",
            int(b.image[r]),
            r,
            f"coordinates {xyxy[r].tolist()}",
        )
    degenerate = finite & ((bw <= 0) | (bh <= 0))
    for r in np.flatnonzero(degenerate).tolist():
        yield ctx.issue(
            "degenerate_box",
            int(b.image[r]),
            r,
            f"width {bw[r]:g}, height {bh[r]:g}",
            score=1.0,
        )
    ok = finite & ~degenerate
    yield from _border(ctx, ok, w_img, h_img)
    side = np.minimum(bw, bh)
    tiny = ok & (side < float(cfg["min_box_size"]))
    for r in np.flatnonzero(tiny).tolist():
        yield ctx.issue(
            "tiny_box",
            int(b.image[r]),
            r,
            f"{bw[r]:.1f}×{bh[r]:.1f} px, below {cfg['min_box_size']} px",
            score=float(1 - side[r] / float(cfg["min_box_size"])),
        )
    cover = np.divide(bw * bh, w_img * h_img, out=np.zeros_like(bw), where=(w_img > 0) & (h_img > 0))
    for r in np.flatnonzero(ok & (cover >= float(cfg["whole_image_share"]))).tolist():
        if ctx.enabled("whole_image_box"):
            yield ctx.issue(
                "whole_image_box",
                int(b.image[r]),
                r,
                f"covers {min(cover[r], 1):.0%} of the image",
                score=float(min(cover[r], 1)),
            )
    aspect = np.divide(bw, bh, out=np.zeros_like(bw), where=bh > 0)
    odd = (
        ok
        & ctx.ds.role_mask("child")
        & ((aspect < float(cfg["plate_aspect_min"])) | (aspect > float(cfg["plate_aspect_max"])))
    )
    for r in np.flatnonzero(odd).tolist():
        yield ctx.issue(
            "plate_aspect",
            int(b.image[r]),
            r,
            f"width / height {aspect[r]:.2f}, outside [{cfg['plate_aspect_min']}, {cfg['plate_aspect_max']}]",
        )


def _border(ctx: Context, ok: np.ndarray, w_img: np.ndarray, h_img: np.ndarray) -> Iterator[Issue]:
    if not ctx.enabled("box_past_border"):
        return
    b, tol = ctx.ds.boxes, float(ctx.config["border_tolerance"])
    x0, y0, x1, y1 = b.xyxy.T
    known = (w_img > 0) & (h_img > 0)
    past = ok & known & ((x0 < -tol) | (y0 < -tol) | (x1 > w_img + tol) | (y1 > h_img + tol))
    size = np.maximum(area(b.xyxy), 1e-9)  # ok boxes have an area; the floor keeps the rest quiet
    inside = intersection(b.xyxy, np.stack([np.zeros_like(w_img), np.zeros_like(h_img), w_img, h_img], 1))
    for r in np.flatnonzero(past).tolist():
        out = 1 - inside[r] / size[r]
        yield ctx.issue(
            "box_past_border",
            int(b.image[r]),
            r,
            f"{b.xyxy[r].round(1).tolist()} reaches past the "
            f"{int(w_img[r])}×{int(h_img[r])} image ({out:.0%} of it outside)",
            score=float(out),
        )


def check_duplicates(ctx: Context) -> Iterator[Issue]:
    if not ctx.enabled("duplicate_box"):
        return
    b = ctx.ds.boxes
    rows = np.flatnonzero(usable_boxes(b.xyxy))
    ia, ib = image_pairs(b.image[rows], b.image[rows], len(ctx.ds.images))
    keep = (ia < ib) & (b.category[rows[ia]] == b.category[rows[ib]])
    ra, rb = rows[ia[keep]], rows[ib[keep]]
    overlap = iou(b.xyxy[ra], b.xyxy[rb])
    hit = overlap >= float(ctx.config["duplicate_iou"])
    for a, c, o in zip(ra[hit].tolist(), rb[hit].tolist(), overlap[hit].tolist()):
        yield ctx.issue(
            "duplicate_box",
            int(b.image[c]),
            c,
            f"overlaps box id {int(b.id[a])} of its class with IoU {o:.2f}",
            score=float(o),
            related=(a,),
        )
