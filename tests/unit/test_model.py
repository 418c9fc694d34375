from __future__ import annotations

import numpy as np
import pytest

from svmlp import AnnotationError
from svmlp.model import BoxTable, Category, Dataset, ImageTable, role_for

CATS = [Category(1, "car", role="parent"), Category(2, "plate", role="child"), Category(5, "dog")]


def _images(n: int = 2, split: object = "train") -> ImageTable:
    return ImageTable.build(
        id=np.arange(1, n + 1),
        file_name=[f"{i}.jpg" for i in range(n)],
        split=split,
        width=[100] * n,
        height=[80] * n,
    )


def _boxes(**cols: object) -> BoxTable:
    base = dict(
        id=[10, 11, 12],
        image=[1, 0, 0],
        category=[1, 0, 1],
        xyxy=[[1, 1, 5, 5], [0, 0, 50, 40], [10, 30, 20, 35]],
        parent=[-1, -1, 1],
    )
    base.update(cols)
    return BoxTable.build(**base)


def test_boxes_are_grouped_by_image_and_parents_follow() -> None:
    ds = Dataset(CATS, _images(), _boxes())
    assert ds.boxes.image.tolist() == [0, 0, 1]
    assert ds.boxes.id.tolist() == [11, 12, 10]
    assert ds.boxes.parent.tolist() == [-1, 0, -1]
    assert ds.offsets.tolist() == [0, 2, 3]
    rec = ds.boxes_of(0)[1]
    assert (rec.id, rec.parent, rec.category) == (12, 11, "plate")


def test_select_remaps_links_and_split_filters() -> None:
    ds = Dataset(CATS, _images(3, ["train", "val", "train"]), _boxes(image=[2, 0, 0]))
    train = ds.split("train")
    assert len(train) == 2 and train.boxes.parent.tolist() == [-1, 0, -1]
    only_plate = ds.select(np.array([True, False, False]))
    assert len(only_plate.boxes) == 2
    with pytest.raises(AnnotationError, match="split.* test not in this data set"):
        ds.split("test")


@pytest.mark.parametrize(
    "images,boxes,match",
    [
        (dict(id=[1, 1]), {}, "image id 1 appears twice in split train"),
        (dict(file_name=["a.jpg", "a.jpg"]), {}, "image file 'a.jpg' appears twice"),
        ({}, dict(id=[10, 10, 12]), "box id 10 appears twice"),
        ({}, dict(xyxy=[[1, 1, 5, np.nan], [0, 0, 50, 40], [10, 30, 20, 35]]), "not finite"),
        ({}, dict(xyxy=[[5, 1, 1, 5], [0, 0, 50, 40], [10, 30, 20, 35]]), r"x1 < x0"),
        ({}, dict(parent=[-1, -1, 0]), "has a parent in another image"),
        ({}, dict(parent=[-1, 2, -1]), "not a plate"),
        ({}, dict(parent=[-1, -1, 2]), "its own parent"),
        ({}, dict(category=[1, 1, 1], parent=[-1, -1, 1]), "whose category is not a vehicle"),
        ({}, dict(link_score=[np.nan, np.nan, 1.5]), r"link score 1\.5 is outside"),
        (dict(width=[-1, 5]), {}, "negative width"),
    ],
)
def test_invariants(images: dict, boxes: dict, match: str) -> None:
    base = dict(id=[1, 2], file_name=["a.jpg", "b.jpg"], split="train", width=[100, 100], height=[80, 80])
    base.update(images)
    with pytest.raises(AnnotationError, match=match):
        Dataset(CATS, ImageTable.build(**base), _boxes(**boxes))


def test_same_ids_in_different_splits_are_fine() -> None:
    ds = Dataset(
        CATS,
        ImageTable.build(id=[1, 1], file_name=["a.jpg", "a.jpg"], split=["train", "val"]),
        BoxTable.build(id=[1, 1], image=[0, 1], category=[0, 0], xyxy=[[0, 0, 1, 1]] * 2),
    )
    assert ds.splits == ["train", "val"]


def test_duplicate_categories_rejected() -> None:
    with pytest.raises(AnnotationError, match="category id 1 appears twice"):
        Dataset([Category(1, "a"), Category(1, "b")], _images())
    with pytest.raises(AnnotationError, match="category name 'a' appears twice"):
        Dataset([Category(1, "a"), Category(2, "a")], _images())


def test_source_prefixes_messages() -> None:
    with pytest.raises(AnnotationError, match=r"^x/y\.json: image id 1 appears twice"):
        Dataset(CATS, ImageTable.build(id=[1, 1], file_name=["a", "b"], split="train"), source="x/y.json")


@pytest.mark.parametrize(
    "name,role",
    [
        ("License Plate", "child"),
        ("licence-plate", "child"),
        ("LP", "child"),
        ("car", "parent"),
        ("Small_Vehicle", "parent"),
        ("person", None),
    ],
)
def test_role_aliases(name: str, role: str | None) -> None:
    assert role_for(name) == role


def test_role_overrides_win() -> None:
    assert role_for("car", {"car": None}) is None
    assert role_for("auto", {"auto": "parent"}) == "parent"


def test_displayed_header_size_turns_with_exif() -> None:
    im = ImageTable.build(
        id=[1, 2],
        file_name=["a", "b"],
        split="train",
        header_width=[640, 640],
        header_height=[480, 480],
        orientation=[1, 6],
    )
    w, h = im.displayed_header_size()
    assert w.tolist() == [640, 480] and h.tolist() == [480, 640]
