"""Split hygiene: the same picture twice, in one split (redundant) or across splits (leakage).

Identical files are found by the sha256 of their bytes; near-duplicates (re-encoded, resized,
lightly edited copies) by a 64-bit perceptual hash of the pixels, compared with banded buckets:
two hashes within ``k`` differing bits agree exactly on at least one of ``k + 1`` bands, so only
images sharing a band are compared (no all-pairs loop).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from svmlp.audit.context import Context
from svmlp.audit.issues import Issue

__all__ = ["check_hygiene", "near_pairs"]


def near_pairs(hashes: np.ndarray, bits: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) with i < j for every pair of 64-bit hashes within ``bits`` differing bits."""
    bands = bits + 1
    edges = np.linspace(0, 64, bands + 1).astype(int)
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(edges[:-1], edges[1:]):
        key = (hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, k in enumerate(key.tolist()):
            buckets[k].append(i)
        for members in buckets.values():
            if len(members) > 1:
                found.update((a, c) for n, a in enumerate(members) for c in members[n + 1 :])
    out = []
    for a, c in sorted(found):
        d = bin(int(hashes[a]) ^ int(hashes[c])).count("1")
        if d <= bits:
            out.append((a, c, d))
    return out


def check_hygiene(ctx: Context) -> Iterator[Issue]:
    scan = ctx.scan
    if scan is None:
        return
    identical: set[tuple[int, int]] = set()
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(scan.sha256):
        if digest:
            by_hash[digest].append(i)
    for same in by_hash.values():
        first = same[0]
        for i in same[1:]:
            identical.add((first, i))
            yield from _pair(ctx, "identical_images", i, first, f"the same file as {ctx.where(first)}", 1.0)
    rows = np.flatnonzero(scan.has_hash)
    bits = int(ctx.config["near_duplicate_bits"])
    for a, c, d in near_pairs(scan.phash[rows], bits):
        i, j = int(rows[a]), int(rows[c])
        if (i, j) in identical or scan.sha256[i] == scan.sha256[j]:
            continue
        message = f"looks like {ctx.where(i)} ({d} of 64 hash bits differ)"
        yield from _pair(ctx, "near_duplicates", j, i, message, float(1 - d / (bits + 1)))


def _pair(ctx: Context, kind: str, image: int, other: int, message: str, score: float) -> Iterator[Issue]:
    """``kind``'s across- or within-split issue on ``image``, naming ``other``, where enabled."""
    split = ctx.ds.images.split
    check = f"{kind}_across_splits" if split[image] != split[other] else f"{kind}_within_split"
    if ctx.enabled(check):
        yield ctx.issue(check, image, -1, message, score=score, other_image=other)
