"""Linking and the audit measure "inside" the same way, so they never disagree on a plate.

Both go through :class:`svmlp.model.geometry.CornerShapes`: a plate's corner polygon where it has
valid corners, its box otherwise. Until they shared it, the audit measured boxes only: a plate
whose corners lie in its car while its box pokes out was linked at share 1 and then flagged as
"only 50% inside its vehicle".
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import reference_share
from hypothesis import given
from hypothesis import strategies as st

from svmlp.audit import load_config, run_audit
from svmlp.audit.issues import Issue
from svmlp.links import NOT_A_PLATE, ORPHAN, link_plates
from svmlp.model import BoxTable, Category, Dataset, ImageTable

V, P = 0, 1
CATS = (Category(1, "vehicle", role="parent"), Category(2, "plate", role="child"))
NO_CORNERS = [[np.nan, np.nan]] * 4
TIE = 1e-9  # a share this close to a threshold is decided by rounding, not by the measure


def scene(boxes: list[tuple], corners: list, n_images: int = 2) -> Dataset:
    """Boxes as (category row, x0, y0, x1, y1, image[, parent row])."""
    return Dataset(
        CATS,
        ImageTable.build(
            id=range(n_images),
            file_name=[f"{i}.jpg" for i in range(n_images)],
            split="train",
            width=[400] * n_images,
            height=[400] * n_images,
        ),
        BoxTable.build(
            id=range(len(boxes)),
            image=[b[5] for b in boxes],
            category=[b[0] for b in boxes],
            xyxy=[b[1:5] for b in boxes],
            parent=[b[6] if len(b) > 6 else -1 for b in boxes],
            corners=corners,
        ),
    )


def audit(ds: Dataset, **thresholds: float) -> list[Issue]:
    return run_audit(ds, config=load_config(overrides=thresholds), scan=False).issues


@st.composite
def scenes(draw: st.DrawFn) -> Dataset:
    """Two images of up to 3 cars and 5 plates, each plate about a car's edges (partly in, partly
    out), most with corners that stray up to 10 px from their box's, so that polygon and box
    shares differ. Half-pixel coordinates: shapely's reference loses digits on sub-normal slivers."""
    half = lambda lo, hi: st.integers(int(2 * lo), int(2 * hi)).map(lambda k: k / 2)  # noqa: E731
    boxes, corners = [], []
    for image in (0, 1):
        cars = []
        for _ in range(draw(st.integers(0, 3))):
            x0, y0 = draw(half(0, 150)), draw(half(0, 150))
            cars.append((x0, y0, x0 + draw(half(20, 120)), y0 + draw(half(15, 90))))
            boxes.append((V, *cars[-1], image))
            corners.append(NO_CORNERS)
        for _ in range(draw(st.integers(0, 5))):
            cx0, cy0, cx1, cy1 = draw(st.sampled_from(cars)) if cars else (0, 0, 200, 200)
            w, h = draw(half(0, 40)), draw(half(0, 15))
            x0, y0 = draw(half(cx0 - w, cx1)), draw(half(cy0 - h, cy1))
            boxes.append((P, x0, y0, x0 + w, y0 + h, image))
            quad = [
                [x + draw(half(-10, 10)), y + draw(half(-10, 10))]
                for x, y in ((x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h))
            ]
            corners.append(quad if draw(st.integers(0, 3)) else NO_CORNERS)
    return scene(boxes, corners)


@given(scenes(), st.floats(0.05, 1.0), st.floats(0.05, 1.0))
def test_a_plate_linked_at_t_has_share_t_in_the_audit_and_is_flagged_below_its_threshold(
    ds: Dataset, t: float, flag_below: float
) -> None:
    linked = link_plates(ds, min_inside=t, max_plates=5, relink=True).dataset
    b = linked.boxes
    rows = np.flatnonzero(b.parent >= 0)
    share = {int(p): reference_share(linked, p, int(b.parent[p])) for p in rows}
    # the linker's share is the audit's: at its own threshold the audit flags no plate it linked
    issues = audit(linked, min_inside=t, plate_inside_parent=t)
    at_t = {i.box for i in issues if i.check == "plate_outside_vehicle"}
    for p, s in share.items():
        assert s >= t - TIE
        assert p not in at_t or s < t + TIE
    # and at any threshold, exactly the plates whose share is below it, scored 1 - share
    issues = audit(linked, min_inside=t, plate_inside_parent=flag_below)
    flagged = {i.box: i.score for i in issues if i.check == "plate_outside_vehicle"}
    for p, s in share.items():
        if abs(s - flag_below) < TIE:
            continue
        assert (p in flagged) == (s < flag_below), (p, s, flag_below)
        if p in flagged:
            assert flagged[p] == pytest.approx(1 - s, abs=1e-9)


@given(scenes(), st.floats(0.05, 1.0))
def test_an_orphan_is_reported_with_the_share_that_made_it_one(ds: Dataset, t: float) -> None:
    result = link_plates(ds, min_inside=t, max_plates=5, relink=True)
    b = ds.boxes
    orphans = {i.box: i.score for i in audit(ds, min_inside=t) if i.check == "orphan_plate"}
    assert set(orphans) == set(np.flatnonzero(result.status == ORPHAN).tolist())
    for p, score in orphans.items():
        cars = [v for v in np.flatnonzero((b.image == b.image[p]) & (b.category == V))]
        best = max((reference_share(ds, p, v) for v in cars), default=0.0)
        assert best < t + TIE and score == pytest.approx(1 - best, abs=1e-9)
    assert all(result.status[p] != NOT_A_PLATE for p in orphans)


def test_corners_inside_though_the_box_pokes_out() -> None:
    quad = [[60, 40], [99, 45], [99, 55], [60, 60]]  # in the car; its box [60, 40, 140, 60] half out
    ds = scene([(V, 0, 0, 100, 100, 0), (P, 60, 40, 140, 60, 0)], [NO_CORNERS, quad], n_images=1)
    linked = link_plates(ds, min_inside=0.6).dataset
    assert linked.boxes.parent.tolist() == [-1, 0] and linked.boxes.link_score[1] == 1.0
    assert not [i for i in audit(linked) if i.check in ("plate_outside_vehicle", "orphan_plate")]
    # the same plate without its corners is half outside: linked at 0.5, flagged by the audit
    bare = scene([(V, 0, 0, 100, 100, 0), (P, 60, 40, 140, 60, 0, 0)], [NO_CORNERS] * 2, n_images=1)
    (issue,) = [i for i in audit(bare) if i.check == "plate_outside_vehicle"]
    assert issue.box == 1 and issue.score == pytest.approx(0.5)
