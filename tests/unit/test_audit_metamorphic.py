"""Every ranked audit finding's score moves the right way when the flaw grows (metamorphic tests).

A score ranks findings (1 = surely wrong): a suite that only asks "is it flagged?" passes with a
score turned into its complement. Each test here makes one flaw worse step by step, on an
in-memory data set, and asks that the finding's score rises strictly (or, for a duplicate box,
falls as the two boxes move apart). Checks whose score is a constant (degenerate_box,
identical_images_*) or that have none (vehicle_without_plate, plate_aspect, …) rank nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from svmlp.audit import load_config, run_audit
from svmlp.audit.checks_hygiene import check_hygiene
from svmlp.audit.context import Context
from svmlp.audit.scan import ImageScan
from svmlp.model import BoxTable, Category, Dataset, ImageTable
from svmlp.model.predictions import Predictions

CATS = (Category(1, "vehicle", role="parent"), Category(2, "plate", role="child"))
V, P = 0, 1
CAR = [10, 10, 110, 80]


def dataset(boxes: Sequence[tuple[int, int, Sequence[float], int]], *, n: int = 1) -> Dataset:
    """Images of 200×100; boxes as (image, category row, xyxy, parent row)."""
    return Dataset(
        CATS,
        ImageTable.build(
            id=range(1, n + 1),
            file_name=[f"im{i}.jpg" for i in range(n)],
            split="train",
            width=[200] * n,
            height=[100] * n,
        ),
        BoxTable.build(
            id=range(1, len(boxes) + 1),
            image=[b[0] for b in boxes],
            category=[b[1] for b in boxes],
            xyxy=np.array([b[2] for b in boxes], dtype=float).reshape(-1, 4),
            parent=[b[3] for b in boxes],
        ),
    )


def score(
    ds: Dataset, check: str, box: int, *, predictions: Predictions | None = None, **cfg: float
) -> float:
    """The score of ``check``'s one finding on box row ``box`` (-1: on the image, no box)."""
    report = run_audit(ds, config=load_config(overrides=cfg), predictions=predictions, scan=False)
    found = [i.score for i in report.issues if i.check == check and i.box == box]
    assert len(found) == 1, f"{check} on box {box}: {found}"
    assert found[0] is not None and 0 <= found[0] <= 1
    return float(found[0])


def rising(values: Sequence[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


# -- relations -----------------------------------------------------------------------------------


def test_plate_further_out_of_its_vehicle_scores_higher() -> None:
    # a linked plate 30 px wide sliding out of the car's right edge (x = 110): 25/30 .. 5/30 inside
    steps = [
        score(dataset([(0, V, CAR, -1), (0, P, [x, 60, x + 30, 70], 0)]), "plate_outside_vehicle", 1)
        for x in (85, 90, 95, 100, 105)
    ]
    assert rising(steps), steps


def test_orphan_further_from_every_vehicle_scores_higher() -> None:
    # an unlinked plate with less than half of itself in the car, then none of it
    steps = [
        score(dataset([(0, V, CAR, -1), (0, P, [x, 60, x + 30, 70], -1)]), "orphan_plate", 1)
        for x in (97, 100, 104, 120)
    ]
    assert rising(steps), steps


def test_larger_plate_for_its_vehicle_scores_higher() -> None:
    car = [10, 10, 60, 40]  # 1500 px²; plates from 52 % of it up
    steps = [
        score(dataset([(0, V, car, -1), (0, P, [12, 12, 12 + w, 38], 0)]), "plate_too_large", 1)
        for w in (30, 35, 40, 46)
    ]
    assert rising(steps), steps


def test_more_plates_on_one_vehicle_scores_higher() -> None:
    def carrying(k: int) -> Dataset:
        plates = [(0, P, [12 + 12 * j, 60, 22 + 12 * j, 66], 0) for j in range(k)]
        return dataset([(0, V, [10, 10, 190, 80], -1), *plates])

    steps = [score(carrying(k), "too_many_plates", 0) for k in (3, 4, 6)]
    assert rising(steps), steps


def _linked_set(odd_plate: Sequence[float]) -> Dataset:
    """25 images of a car and its plate of a usual size (a little spread), and one odd plate."""
    rng = np.random.default_rng(0)
    boxes = []
    for i in range(25):
        w, h = 30 + rng.uniform(-2, 2), 10 + rng.uniform(-1, 1)
        boxes += [(i, V, CAR, -1), (i, P, [50, 60, 50 + w, 60 + h], 2 * i)]
    return dataset([*boxes, (25, V, CAR, -1), (25, P, odd_plate, 50)], n=26)


def test_plate_size_further_from_the_norm_scores_higher() -> None:
    steps = [
        score(_linked_set([50, 60, 50 + w, 60 + w / 3]), "plate_size_outlier", 51) for w in (9, 6, 4, 2.5)
    ]
    assert rising(steps), steps


def _classes_set(odd: Sequence[float], odd_category: int) -> Dataset:
    """30 images of a car and its plate (sizes spread a little), and one odd unlinked box."""
    rng = np.random.default_rng(1)
    boxes = []
    for i in range(30):
        s = rng.uniform(0.9, 1.1, 4)
        car = [10, 10, 10 + 100 * s[0], 10 + 70 * s[1]]
        boxes += [(i, V, car, -1), (i, P, [50, 60, 50 + 30 * s[2], 60 + 10 * s[3]], 2 * i)]
    return dataset([*boxes, (30, odd_category, odd, -1)], n=31)


def test_plate_box_more_like_a_vehicle_scores_higher() -> None:
    # a box labelled plate, growing from plate-like towards a car's size and shape
    steps = [
        score(_classes_set([10, 10, 10 + w, 10 + 0.7 * w], P), "class_confusion", 60) for w in (70, 85, 100)
    ]
    assert rising(steps), steps


def test_vehicle_box_more_like_a_plate_scores_higher() -> None:
    # a box labelled vehicle, shrinking from car-like towards a plate's size and shape
    steps = [
        score(_classes_set([120, 10, 120 + w, 10 + w / 3], V), "class_confusion", 60) for w in (45, 38, 31)
    ]
    assert rising(steps), steps


def _mixed_sizes_set(odd_w: float, odd_h: float) -> Dataset:
    """30 cars from small to large, each with its plate low and centred; in one more car, a box
    labelled vehicle where a plate is mounted (vehicle sizes spread so widely that it is not far
    from the vehicles: only its place says "plate")."""
    rng = np.random.default_rng(2)
    boxes = []
    for i in range(30):
        s = (0.15, 0.3, 0.5, 0.75, 1.0)[i % 5] * rng.uniform(0.9, 1.1)
        car = [10, 10, 10 + 150 * s * rng.uniform(0.6, 1.4), 10 + 80 * s]
        cw, ch = car[2] - car[0], car[3] - car[1]
        pw, ph = 0.3 * cw * rng.uniform(0.8, 1.2), 0.1 * ch * rng.uniform(0.8, 1.2)
        x0, y0 = car[0] + (cw - pw) / 2, car[3] - 0.2 * ch
        boxes += [(i, V, car, -1), (i, P, [x0, y0, x0 + pw, y0 + ph], 2 * i)]
    odd = [85 - odd_w / 2, 80 - odd_h, 85 + odd_w / 2, 80]
    return dataset([*boxes, (30, V, [10, 10, 160, 90], -1), (30, V, odd, -1)], n=31)


def test_vehicle_box_inside_a_vehicle_more_like_a_plate_scores_higher() -> None:
    issues = [
        i for i in run_audit(_mixed_sizes_set(50, 14), scan=False).issues if i.check == "class_confusion"
    ]
    assert [i.box for i in issues] == [61] and "inside another vehicle" in issues[0].message
    steps = [score(_mixed_sizes_set(w, h), "class_confusion", 61) for w, h in ((50, 14), (45, 10), (45, 8))]
    assert rising(steps), steps


# -- geometry and duplicates ---------------------------------------------------------------------


def test_smaller_box_scores_higher_as_tiny() -> None:
    steps = [score(dataset([(0, V, [10, 10, 10 + s, 10 + s], -1)]), "tiny_box", 0) for s in (1.5, 1.0, 0.5)]
    assert rising(steps), steps


def test_box_further_past_the_border_scores_higher() -> None:
    steps = [
        score(dataset([(0, V, [x, 10, x + 100, 80], -1)]), "box_past_border", 0) for x in (-10, -30, -60)
    ]
    assert rising(steps), steps


def test_box_covering_more_of_the_image_scores_higher() -> None:
    steps = [score(dataset([(0, V, [0, 0, w, 100], -1)]), "whole_image_box", 0) for w in (197, 198.5, 200)]
    assert rising(steps), steps


def test_duplicate_further_from_its_twin_scores_lower() -> None:
    def pair(dx: float) -> Dataset:
        return dataset([(0, V, CAR, -1), (0, V, [10 + dx, 10, 110 + dx, 80], -1)])

    steps = [score(pair(dx), "duplicate_box", 1) for dx in (0, 1, 3, 6)]
    assert rising(steps[::-1]), steps


# -- split hygiene -------------------------------------------------------------------------------


def test_near_duplicate_with_fewer_differing_bits_scores_higher() -> None:
    images = ImageTable.build(id=[1, 2], file_name=["a.jpg", "b.jpg"], split="train")
    ds = Dataset(CATS, images, BoxTable.build(id=[], image=[], category=[], xyxy=np.zeros((0, 4))))

    def near(bits: int) -> float:
        h = np.array([0, (1 << bits) - 1], dtype=np.uint64)  # `bits` set bits apart
        scan = ImageScan(
            state=np.array(["ok", "ok"]),
            error=["", ""],
            width=np.zeros(2, np.int64),
            height=np.zeros(2, np.int64),
            orientation=np.ones(2, np.int64),
            sha256=["a" * 64, "b" * 64],
            phash=h,
            has_hash=np.ones(2, dtype=bool),
        )
        ctx = Context(ds, load_config(), scan=scan)
        (found,) = [i.score for i in check_hygiene(ctx) if i.check == "near_duplicates_within_split"]
        return float(found)

    steps = [near(bits) for bits in (4, 3, 1, 0)]
    assert rising(steps), steps


# -- predictions ---------------------------------------------------------------------------------


def _predictions(
    xyxy: Sequence[Sequence[float]], category: Sequence[int], conf: Sequence[float]
) -> Predictions:
    k = len(xyxy)
    return Predictions(
        image=np.zeros(k, dtype=np.int64),
        category=np.array(category),
        xyxy=np.array(xyxy, dtype=float),
        score=np.array(conf, dtype=float),
        notes=[],
    )


def test_prediction_further_from_its_box_scores_higher_as_misplaced() -> None:
    ds = dataset([(0, V, CAR, -1)])
    steps = [
        score(ds, "misplaced_box", 0, predictions=_predictions([[10 + dx, 10, 110 + dx, 80]], [V], [0.9]))
        for dx in (20, 35, 50, 70)
    ]
    assert rising(steps), steps


@pytest.mark.parametrize(
    ("check", "box", "pred", "category"),
    [
        ("missed_box", -1, [150, 20, 180, 30], P),  # nothing labelled there
        ("swapped_class", 1, [50, 60, 80, 70], V),  # a vehicle predicted on the plate
    ],
)
def test_more_confident_prediction_scores_higher(
    check: str, box: int, pred: list[float], category: int
) -> None:
    ds = dataset([(0, V, CAR, -1), (0, P, [50, 60, 80, 70], 0)])
    steps = [
        score(ds, check, box, predictions=_predictions([pred], [category], [c])) for c in (0.55, 0.7, 0.95)
    ]
    assert rising(steps), steps
