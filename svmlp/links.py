"""Parent links: each licence plate to the vehicle it is mounted on (DESIGN.md §4).

The rules :func:`link_plates` applies, image by image:

- **Roles.** Plates are the boxes of ``child``-role categories, vehicles those of ``parent``-role
  ones (the alias table's roles, or exactly the names given, see :func:`with_roles`). Crowd boxes,
  and boxes with a coordinate that is not finite (a set read leniently), are neither.
- **Share.** A (plate, vehicle) pair of one image is scored by the share of the plate inside the
  vehicle's box: the plate's 4-corner polygon when it has valid corners (finite, non-zero area,
  not self-crossing), else its box. A zero-area plate has share 0 everywhere. The audit measures
  a linked plate through the same :class:`svmlp.model.geometry.CornerShapes`.
- **Candidates.** Pairs with share >= ``min_inside`` (in (0, 1]).
- **Ranking.** A plate's candidates within ``margin`` of its best share come first; the others
  follow by share. Among the near-best, a vehicle whose box holds another near-best one gives way
  to it (a plate on a car that stands inside a truck's box goes to the car); then the vehicle on
  which the plate sits where plates are mounted, low and centred (:func:`mount_cost`: when a near
  car's plate also lies inside the box of a car behind it, it goes to the near one); then the
  smaller vehicle.
- **Ambiguity.** A plate is ``ambiguous`` when another near-best candidate is neither nested with
  the chosen vehicle (neither box >= 0.9 inside the other) nor told apart by the mount position
  (costs within :data:`MOUNT_MARGIN`). It is still linked to its first candidate, and flagged.
- **Capacity.** A vehicle carries at most ``max_plates`` plates, kept links included. Where first
  choices overload a vehicle, that image is solved greedily, plates with the highest best share
  first: each takes its best candidate with room left; a plate whose every candidate is full is
  linked to its first choice anyway and marked ``over_capacity`` (the audit reports the vehicle).
- **Score.** ``link_score`` is the share inside the chosen vehicle, in [0, 1].
- **Kept links.** A box that already has a parent keeps it (status ``kept``) unless ``relink``;
  with ``relink`` every link is dropped and solved again.
- **Status.** Each box ends as one of ``linked``, ``orphan`` (no candidate), ``ambiguous``,
  ``over_capacity`` (which wins over ``ambiguous``), ``kept`` or ``not_a_plate``.

Everything is vectorised over all images at once (one STRtree serves the images with more than
:data:`DENSE_PAIRS` pairs); only images whose first choices overload a vehicle take a Python step.

>>> from svmlp.synth import generate_annotations
>>> result = link_plates(generate_annotations(20, seed=0), relink=True)
>>> {k: result.summary()[k] for k in ("plates", "linked", "ambiguous", "orphan")}
{'plates': 48, 'linked': 47, 'ambiguous': 1, 'orphan': 0}
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from svmlp._linkdefaults import MARGIN, MAX_PLATES, MIN_INSIDE
from svmlp.errors import UsageError
from svmlp.model import BoxTable, Category, Dataset
from svmlp.model.categories import Role, normalise_name
from svmlp.model.geometry import CornerShapes, area, share_inside, share_inside_matrix
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = ["AMBIGUOUS", "KEPT", "LINKED", "NOT_A_PLATE", "ORPHAN", "OVER_CAPACITY", "STATUSES"]
__all__ += ["MARGIN", "MAX_PLATES", "MIN_INSIDE", "LinkResult", "inside_share", "link_plates", "with_roles"]

LINKED, ORPHAN, AMBIGUOUS = "linked", "orphan", "ambiguous"
OVER_CAPACITY, KEPT, NOT_A_PLATE = "over_capacity", "kept", "not_a_plate"
STATUSES = (LINKED, ORPHAN, AMBIGUOUS, OVER_CAPACITY, KEPT, NOT_A_PLATE)
_CODE = {s: k for k, s in enumerate(STATUSES)}

# The defaults of link_plates (MIN_INSIDE, MAX_PLATES, MARGIN), read by the CLI's flags and the
# audit's thresholds too, live in svmlp._linkdefaults (one place, importable without numpy).
#: A vehicle whose box lies at least this far inside another's is nested in it (car in truck).
NESTED = 0.9
#: Images with more (plate, vehicle) pairs than this get their pairs from one STRtree rather
#: than all pairs. All pairs cost about 0.1 µs a pair whatever the layout; the tree costs a few
#: µs a box plus what it finds. Measured on scattered boxes, the two break even near 16 plates ×
#: 16 vehicles and the tree is 6× faster at 128 × 128; it also caps memory on a crowded frame
#: (10 000 × 10 000 pairs would take gigabytes).
DENSE_PAIRS = 256
#: Plates sit in a vehicle's lower part: rising above this share of its height costs (mount_cost).
LOW_PART = 0.4
#: Two candidates whose mount costs differ by less than this are not told apart by position.
MOUNT_MARGIN = 0.15
#: Shares are compared with this slack, so that equal shares computed two ways stay equal.
_EPS = 1e-12
#: Candidate pairs measured at a time.
_SLICE = 1 << 16


@dataclass
class LinkResult:
    """What :func:`link_plates` decided, per box row of ``dataset``.

    ``status`` is one of :data:`STATUSES`; ``candidates`` the number of vehicles holding at least
    ``min_inside`` of the plate (0 for other boxes); ``second`` the runner-up vehicle row (the rival
    of an ambiguous plate, else the best other candidate), −1 when none.
    """

    dataset: Dataset
    #: per box row, the index of its status in :data:`STATUSES` (``status`` spells it out)
    code: np.ndarray
    candidates: np.ndarray
    second: np.ndarray

    @functools.cached_property
    def status(self) -> np.ndarray:
        """Per box row, its status (one of :data:`STATUSES`) as text."""
        return np.asarray(STATUSES)[self.code]

    def summary(self) -> dict[str, int]:
        """Boxes per status, plus ``plates`` (every box but ``not_a_plate``) and ``vehicles``.

        >>> from svmlp.synth import generate_annotations
        >>> s = link_plates(generate_annotations(5, seed=0)).summary()  # generated with links
        >>> s["kept"] == s["plates"], s["linked"]
        (True, 0)
        """
        counts = np.bincount(self.code, minlength=len(STATUSES))
        out = {s: int(c) for s, c in zip(STATUSES, counts.tolist())}
        out["plates"] = len(self.status) - out[NOT_A_PLATE]
        out["vehicles"] = int(np.count_nonzero(_eligible(self.dataset, "parent")))
        return out


# -- roles ---------------------------------------------------------------------------------------


def _match(ds: Dataset, names: Sequence[str], option: str) -> set[int]:
    """Category rows named by ``names``: exact names, else their alias-table spelling."""
    rows: set[int] = set()
    for name in names.split(",") if isinstance(names, str) else names:  # "car,truck" is two names
        exact = [i for i, c in enumerate(ds.categories) if c.name == name]
        loose = [i for i, c in enumerate(ds.categories) if normalise_name(c.name) == normalise_name(name)]
        if not exact and not loose:
            have = ", ".join(repr(c.name) for c in ds.categories) or "none"
            raise UsageError(f"{option}: class {name!r} is not in this data set; its classes are {have}")
        rows.update(exact or loose)
    return rows


def with_roles(
    ds: Dataset,
    *,
    parents: Sequence[str] | None = None,
    children: Sequence[str] | None = None,
    strict: bool = True,
) -> Dataset:
    """``ds`` with its categories' roles set by name.

    When ``parents`` (or ``children``) is given, exactly those classes get that role and every
    other class loses it (a string is split at commas); left out, the data set's roles stand. A
    name matches a class exactly or by its alias-table spelling (``License_Plate`` is
    ``license-plate``). An unknown name, or one in both lists, is a
    :class:`~svmlp.errors.UsageError`. Links that no longer join a plate class to a vehicle class
    are dropped, and ``notes`` says how many. ``strict=False`` takes a data set read leniently, as
    :func:`link_plates` does.

    >>> from svmlp.synth import generate_annotations
    >>> [c.role for c in with_roles(generate_annotations(2), parents=["plate"], children=[]).categories]
    [None, 'parent']
    """
    roles: list[Role | None] = [c.role for c in ds.categories]
    options: tuple[tuple[Role, Sequence[str] | None, str], ...] = (
        ("parent", parents, "--parents"),
        ("child", children, "--children"),
    )
    for role, names, option in options:
        if names is None:
            continue
        rows = _match(ds, names, option)
        roles = [role if i in rows else (None if r == role else r) for i, r in enumerate(roles)]
    if parents is not None and children is not None:
        both = _match(ds, parents, "--parents") & _match(ds, children, "--children")
        if both:
            raise UsageError(f"class {ds.categories[min(both)].name!r} is given as both parent and child")
    if roles == [c.role for c in ds.categories]:
        return ds
    cats = [Category(c.id, c.name, c.supercategory, r) for c, r in zip(ds.categories, roles)]
    return _drop_broken_links(ds, cats, STRICT if strict else Findings(strict=False))


def _drop_broken_links(ds: Dataset, cats: list[Category], findings: Findings) -> Dataset:
    b = ds.boxes
    flags = {r: np.array([c.role == r for c in cats] + [False]) for r in ("parent", "child")}
    has = b.parent >= 0
    ok = has & flags["child"][b.category] & flags["parent"][b.category[np.where(has, b.parent, 0)]]
    broken = int(np.count_nonzero(has & ~ok))
    if not broken:
        return ds.replace(categories=cats, findings=findings)
    parent, score = np.where(ok, b.parent, -1), np.where(ok, b.link_score, np.nan)
    boxes = BoxTable(**{**b.__dict__, "parent": parent, "link_score": score})
    note = f"roles changed: {broken} link(s) no longer join a plate class to a vehicle class and were dropped"
    return ds.replace(categories=cats, boxes=boxes, notes=[*ds.notes, note], findings=findings)


def _eligible(ds: Dataset, role: str) -> np.ndarray:
    return ds.role_mask(role) & ~ds.boxes.iscrowd & usable_boxes(ds.boxes.xyxy)


# -- shares --------------------------------------------------------------------------------------


def inside_share(plates: np.ndarray, vehicles: np.ndarray) -> np.ndarray:
    """``(n, m)``: area of plate ``i`` ∩ vehicle ``j`` / area of plate ``i``, for xyxy boxes (their
    boxes only; :func:`svmlp.model.geometry.share_inside_matrix`, under the name links had).

    A zero-area plate has share 0.

    >>> inside_share(np.array([[0, 0, 10, 10.0]]), np.array([[5, 0, 20, 20.0], [0, 0, 1, 1.0]]))
    array([[0.5 , 0.01]])
    """
    return share_inside_matrix(plates, vehicles)


def _candidates(
    shapes: CornerShapes, pairs: Iterable[tuple[np.ndarray, np.ndarray]], floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of the (plate rows, vehicle rows) ``pairs``, a slice at a time: the pairs with share >=
    ``floor``, and it.

    Slices of about :data:`_SLICE` pairs: a million pairs' temporaries would each be fresh memory
    the system hands over page by page (that, not the arithmetic, was most of the time); a
    slice's are reused from one slice to the next, and stay in the cache."""
    columns = [np.ascontiguousarray(c) for c in (*shapes.extent.T, *shapes.xyxy.T)]
    out_p, out_v, out_s = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for sp, sv in pairs:
        touch = np.flatnonzero(_overlapping(columns, sp, sv))  # most pairs are apart
        sp, sv = sp[touch], sv[touch]
        share = shapes.share_inside(sp, shapes.xyxy[sv], floor=floor)
        hit = share >= floor - _EPS
        out_p.append(sp[hit])
        out_v.append(sv[hit])
        out_s.append(np.minimum(share[hit], 1.0))
    return np.concatenate(out_p), np.concatenate(out_v), np.concatenate(out_s)


def _overlapping(columns: list[np.ndarray], ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Whether box ``a[ia[k]]`` and box ``b[ib[k]]`` overlap with a positive area, both having
    one (a zero-area plate has share 0); ``columns`` are ``a``'s x0 y0 x1 y1 then ``b``'s, each
    contiguous: 8 gathers and compares of one column, not an ``(n, 4)`` copy and an area a pair."""
    out = np.ones(len(ia), dtype=bool)
    for k in (0, 1):
        la, ha = columns[k][ia], columns[k + 2][ia]
        lb, hb = columns[k + 4][ib], columns[k + 6][ib]
        out &= (la < hb) & (lb < ha) & (la < ha) & (lb < hb)
    return out


# -- candidate pairs -----------------------------------------------------------------------------


def _pairs(
    image: np.ndarray, plates: np.ndarray, vehicles: np.ndarray, shapes: CornerShapes, n_images: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(plate rows, vehicle rows) of same-image pairs, in slices of about :data:`_SLICE`: all of
    an image's pairs, or, in a crowded image, what an STRtree finds. Plates come in row order."""
    img_p, img_v = image[plates], image[vehicles]
    n_v = np.bincount(img_v, minlength=n_images)
    dense = np.bincount(img_p, minlength=n_images) * n_v > DENSE_PAIRS
    v_start = np.cumsum(n_v) - n_v
    sparse = plates[~dense[img_p]]
    per = n_v[image[sparse]]  # each plate's pairs
    ends = np.cumsum(per)
    cuts = np.searchsorted(ends, np.arange(_SLICE, int(ends[-1]) if len(ends) else 0, _SLICE), side="right")
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(sparse)]):
        sp, k = sparse[a:b], per[a:b]
        pp = np.repeat(sp, k)
        within = np.arange(len(pp)) - np.repeat(np.cumsum(k) - k, k)
        yield pp, vehicles[np.repeat(v_start[image[sp]], k) + within]
    if dense.any():
        dp, dv = plates[dense[img_p]], vehicles[dense[img_v]]
        tp, tv = _tree_pairs(image, dp, dv, shapes.extent, shapes.xyxy)
        for k in range(0, len(tp), _SLICE):
            yield tp[k : k + _SLICE], tv[k : k + _SLICE]


def _tree_pairs(
    image: np.ndarray, dp: np.ndarray, dv: np.ndarray, extent: np.ndarray, xyxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    import shapely  # here, not at the top: the CLI reads this module's defaults when it starts

    # one tree for every crowded image: each image is shifted along x to a lane of its own
    crowded = np.unique(image[dv])
    lane, lane_p = np.searchsorted(crowded, image[dv]), np.searchsorted(crowded, image[dp])
    lo, hi = min(extent[dp, 0].min(), xyxy[dv, 0].min()), max(extent[dp, 2].max(), xyxy[dv, 2].max())
    step = np.array([hi - lo + 1.0, 0, hi - lo + 1.0, 0])
    tree = shapely.STRtree(shapely.box(*(xyxy[dv] + lane[:, None] * step).T))
    q, t = tree.query(shapely.box(*(extent[dp] + lane_p[:, None] * step).T))
    same = image[dp[q]] == image[dv[t]]
    return dp[q[same]], dv[t[same]]


# -- ranking, ambiguity and capacity -------------------------------------------------------------


@dataclass
class _Ranked:
    """Candidates sorted by plate then rank; ``start[g]:end[g]`` are plate ``plate[g]``'s."""

    cp: np.ndarray
    cv: np.ndarray
    cs: np.ndarray
    top: np.ndarray
    start: np.ndarray
    end: np.ndarray
    cost: np.ndarray

    @property
    def plate(self) -> np.ndarray:
        return self.cp[self.start]


def mount_cost(plate: np.ndarray, vehicle: np.ndarray) -> np.ndarray:
    """How unlike a mounted plate a plate is on a vehicle (element-wise, xyxy rows): its centre's
    distance from the vehicle's vertical midline, in vehicle widths, plus how far it sits above the
    vehicle's lower part, in vehicle heights. 0 for a plate low and centred, as front and rear
    plates are; a plate that only happens to lie inside a farther car's box scores worse."""
    vw = np.maximum(vehicle[:, 2] - vehicle[:, 0], 1e-9)
    vh = np.maximum(vehicle[:, 3] - vehicle[:, 1], 1e-9)
    dx = np.abs((plate[:, 0] + plate[:, 2]) / 2 - (vehicle[:, 0] + vehicle[:, 2]) / 2) / vw
    rise = (vehicle[:, 3] - plate[:, 3]) / vh
    return dx + np.clip(rise - LOW_PART, 0, None)


def _group_pairs(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j), i != j, of candidate positions within one plate's group."""
    size = end - start
    per = size * size
    g = np.repeat(np.arange(len(start)), per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    i, j = start[g] + k // np.maximum(size[g], 1), start[g] + k % np.maximum(size[g], 1)
    keep = i != j
    return i[keep], j[keep]


def _rank(
    cp: np.ndarray, cv: np.ndarray, cs: np.ndarray, size: np.ndarray, margin: float, xyxy: np.ndarray
) -> _Ranked:
    order = np.lexsort((-cs, cp))
    cp, cv, cs = cp[order], cv[order], cs[order]
    start = np.flatnonzero(np.r_[True, cp[1:] != cp[:-1]]) if len(cp) else np.zeros(0, np.int64)
    group = np.cumsum(np.r_[False, cp[1:] != cp[:-1]]) if len(cp) else start
    end = np.r_[start[1:], len(cp)]
    top = cs >= cs[start][group] - margin - _EPS
    # among near-best candidates: a vehicle holding another near-best one (the truck around the
    # car) gives way to it; then the one the plate sits on as a mounted plate; then the smaller
    i, j = _group_pairs(start, end)
    holds = np.zeros(len(cp), dtype=bool)
    inner = top[i] & top[j] & (share_inside(xyxy[cv[j]], xyxy[cv[i]]) >= NESTED)
    holds[i[inner]] = True
    cost = mount_cost(xyxy[cp], xyxy[cv])
    # a plate with one candidate (most of them) is ranked already: sort only the others' groups
    several = np.flatnonzero(np.repeat(end - start > 1, end - start))
    order = np.arange(len(cp))
    if len(several):
        keys = (cv, size[cv], np.where(top, cost, -cs), holds & top, ~top, cp)
        order[several] = several[np.lexsort(tuple(k[several] for k in keys))]
    return _Ranked(cp[order], cv[order], cs[order], top[order], start, end, cost[order])


def _ambiguity(r: _Ranked, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per plate: whether a near-best rival is not nested with the first choice, and that rival."""
    group = np.repeat(np.arange(len(r.start)), r.end - r.start)
    first = r.cv[r.start][group]
    a, b = xyxy[first], xyxy[r.cv]
    nested = (share_inside(a, b) >= NESTED) | (share_inside(b, a) >= NESTED)
    # a rival the mount position does not settle: about as low and central on its vehicle
    close = r.cost <= r.cost[r.start][group] + MOUNT_MARGIN
    rival = np.flatnonzero(r.top & (r.cv != first) & ~nested & close)
    groups, at = np.unique(group[rival], return_index=True)
    ambiguous = np.zeros(len(r.start), dtype=bool)
    ambiguous[groups] = True
    rival_of = np.full(len(r.start), -1, dtype=np.int64)
    rival_of[groups] = r.cv[rival[at]]
    return ambiguous, rival_of


def _assign(
    r: _Ranked, load: np.ndarray, image: np.ndarray, max_plates: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per plate: the candidate index taken, and whether it overloads its vehicle.

    ``load`` holds the kept links per vehicle row; it is updated in place.
    """
    taken = r.start.copy()
    over = np.zeros(len(r.start), dtype=bool)
    np.add.at(load, r.cv[taken], 1)
    full = np.unique(image[np.flatnonzero(load > max_plates)])
    if not len(full):
        return taken, over
    np.subtract.at(load, r.cv[taken], 1)
    img_of = image[r.plate]
    lo, hi = np.searchsorted(img_of, full), np.searchsorted(img_of, full, side="right")
    for g0, g1 in zip(lo.tolist(), hi.tolist()):
        _solve_image(r, range(g0, g1), load, max_plates, taken, over)
    return taken, over


def _solve_image(
    r: _Ranked, groups: range, load: np.ndarray, max_plates: int, taken: np.ndarray, over: np.ndarray
) -> None:
    # strongest plates choose first, so a plate barely inside a vehicle yields to one fully inside
    best = [float(r.cs[r.start[g] : r.end[g]].max()) for g in groups]
    for _, g in sorted(zip(best, groups), key=lambda bg: (-bg[0], bg[1])):
        s, e = int(r.start[g]), int(r.end[g])
        room = np.flatnonzero(load[r.cv[s:e]] < max_plates)
        taken[g] = s + room[0] if len(room) else s
        over[g] = not len(room)
        load[r.cv[taken[g]]] += 1


def _runner_up(r: _Ranked, taken: np.ndarray, ambiguous: np.ndarray, rival: np.ndarray) -> np.ndarray:
    nxt = np.where(r.end - r.start > 1, r.cv[np.minimum(r.start + 1, len(r.cv) - 1)], -1)
    other = np.where(taken != r.start, r.cv[r.start], nxt)
    return np.where(ambiguous, rival, other)


# -- the whole -----------------------------------------------------------------------------------


def _check_options(min_inside: float, max_plates: int, margin: float) -> None:
    if not 0 < min_inside <= 1:
        raise UsageError(f"min_inside must be in (0, 1]; got {min_inside}")
    if int(max_plates) != max_plates or max_plates < 1:
        raise UsageError(f"max_plates must be a whole number >= 1; got {max_plates}")
    if not 0 <= margin <= 1:
        raise UsageError(f"margin must be in [0, 1]; got {margin}")


def link_plates(
    ds: Dataset,
    *,
    parents: Sequence[str] | None = None,
    children: Sequence[str] | None = None,
    min_inside: float = MIN_INSIDE,
    max_plates: int = MAX_PLATES,
    margin: float = MARGIN,
    relink: bool = False,
    strict: bool = True,
) -> LinkResult:
    """Link every plate of ``ds`` to the vehicle it is mounted on, by the rules of this module.

    ``parents``/``children`` name the vehicle and plate classes (see :func:`with_roles`); the
    returned data set has those roles and the new ``parent``/``link_score`` columns.
    ``strict=False`` takes a data set read leniently (``svmlp.read(strict=False)``) that breaks
    the model's rules: its linked copy is not refused for what its reading already recorded.

    >>> from svmlp.synth import generate_annotations
    >>> ds = generate_annotations(3, seed=0)
    >>> out = link_plates(ds, relink=True).dataset
    >>> bool((out.boxes.parent == ds.boxes.parent).all())
    True
    """
    _check_options(min_inside, max_plates, margin)
    ds = with_roles(ds, parents=parents, children=children, strict=strict)
    b, n = ds.boxes, len(ds.boxes)
    parent = np.full(n, -1, dtype=np.int64) if relink else b.parent.copy()
    score = np.where(parent >= 0, b.link_score, np.nan)
    kept = parent >= 0
    plates, vehicles = np.flatnonzero(_eligible(ds, "child")), np.flatnonzero(_eligible(ds, "parent"))
    shapes = CornerShapes(b.xyxy, b.corners, plates)
    pairs = _pairs(b.image, plates, vehicles, shapes, len(ds.images))
    cp, cv, cs = _candidates(shapes, pairs, min_inside)
    candidates = np.bincount(cp, minlength=n)
    free = ~kept[cp]
    r = _rank(cp[free], cv[free], cs[free], area(b.xyxy), margin, b.xyxy)
    ambiguous, rival = _ambiguity(r, b.xyxy)
    taken, over = _assign(r, np.bincount(parent[kept], minlength=n), b.image, max_plates)
    rows = r.plate
    parent[rows], score[rows] = r.cv[taken], r.cs[taken]
    code = np.full(n, _CODE[NOT_A_PLATE], dtype=np.int8)
    code[plates] = _CODE[ORPHAN]
    code[rows] = np.where(over, _CODE[OVER_CAPACITY], np.where(ambiguous, _CODE[AMBIGUOUS], _CODE[LINKED]))
    code[kept] = _CODE[KEPT]
    second = np.full(n, -1, dtype=np.int64)
    second[rows] = _runner_up(r, taken, ambiguous, rival)
    linked = ds.relinked(parent, score, findings=STRICT if strict else Findings(strict=False))
    return LinkResult(linked, code, candidates, second)
