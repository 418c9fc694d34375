"""The real data set, ../shared/data/plates-us-eu: 800 photos in YOLO, exported dirty.

Its ``dataset.yaml`` points at another machine's absolute paths, its classes are
``0 = license-plate, 1 = vehicle``. Expected counts are worked out here from the label files,
independently of svmlp. The round trips carry car→plate links (made here by containment), plate
text, a labelled empty image and an unlabelled image through every format.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import assert_same_dataset, kept_by
from roundtrip import FORMATS, clipped_to_frame, counts, round_trip

import svmlp

#: folder on disk → split name (the dataset.yaml keys)
FOLDERS = {"train": "train", "valid": "val", "test": "test"}
IMAGES = {"train": 675, "val": 90, "test": 35}
NAMES = ["license-plate", "vehicle"]
MOVED = "/Users/kamal/Desktop/thesis/thesis"


def _label_rows(path: Path) -> list[list[str]]:
    return [t for t in (line.split() for line in path.read_text(encoding="utf-8").splitlines()) if t]


@pytest.fixture(scope="session")
def labels(plates_dir: Path) -> dict[tuple[str, str], list[list[str]]]:
    """(split, image file name) → the rows of its label file, parsed here."""
    out = {}
    for folder, split in FOLDERS.items():
        for txt in sorted((plates_dir / folder / "labels").glob("*.txt")):
            out[split, txt.with_suffix(".jpg").name] = _label_rows(txt)
    return out


def _count(rows: dict[tuple[str, str], list[list[str]]]) -> Counter[tuple[str, str]]:
    return Counter((split, NAMES[int(t[0])]) for (split, _), rs in rows.items() for t in rs)


@pytest.fixture(scope="session")
def plates(plates_dir: Path) -> svmlp.Dataset:
    return svmlp.read(plates_dir)


def test_yaml_paths_from_another_machine_are_found_beside_it(plates: svmlp.Dataset, plates_dir: Path) -> None:
    config = yaml.safe_load((plates_dir / "dataset.yaml").read_text(encoding="utf-8"))
    assert config["train"].startswith(MOVED) and not Path(config["train"]).exists()
    assert plates.roots == {
        "train": plates_dir / "train/images",
        "val": plates_dir / "valid/images",
        "test": plates_dir / "test/images",
    }
    for key, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        said = [n for n in plates.notes if f"{MOVED}/{folder}/images" in n]
        assert (
            len(said) == 1 and "dataset.yaml" in said[0] and str(plates_dir / folder / "images") in said[0]
        ), key


def test_reading_the_yaml_file_equals_reading_the_folder(plates: svmlp.Dataset, plates_dir: Path) -> None:
    assert svmlp.detect(plates_dir) == "yolo"
    assert_same_dataset(svmlp.read(plates_dir / "dataset.yaml"), plates)


def test_images_categories_and_counts(plates: svmlp.Dataset, labels: dict) -> None:
    assert [(c.id, c.name, c.role) for c in plates.categories] == [
        (0, "license-plate", "child"),
        (1, "vehicle", "parent"),
    ]
    assert dict(Counter(plates.images.split.tolist())) == IMAGES
    assert plates.splits == ["train", "val", "test"]
    assert set(zip(plates.images.split.tolist(), plates.images.file_name.tolist(), strict=True)) == set(
        labels
    )
    assert plates.images.labelled.all()
    assert {(int(w), int(h)) for w, h in zip(plates.images.width, plates.images.height, strict=True)} == {
        (640, 640)
    }
    assert counts(plates) == _count(labels)
    assert len(plates.boxes) == sum(len(r) for r in labels.values())


def test_boxes_are_the_label_numbers_scaled(plates: svmlp.Dataset, labels: dict) -> None:
    keys = list(zip(plates.images.split.tolist(), plates.images.file_name.tolist(), strict=True))
    expected = np.zeros((len(plates.boxes), 4))
    classes = np.zeros(len(plates.boxes), np.int64)
    for i, key in enumerate(keys):
        lo, hi = plates.offsets[i], plates.offsets[i + 1]
        rows = np.array([[float(v) for v in t] for t in labels[key]]).reshape(-1, 5)
        assert hi - lo == len(rows), key
        classes[lo:hi] = rows[:, 0]
        cxcy, wh = rows[:, 1:3] * 640, rows[:, 3:5] * 640
        expected[lo:hi] = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)
    np.testing.assert_array_equal(plates.boxes.category, classes)
    np.testing.assert_allclose(plates.boxes.xyxy, expected, rtol=0, atol=1e-9)


# -- round trips ---------------------------------------------------------------------------------


def _with_links(ds: svmlp.Dataset) -> svmlp.Dataset:
    """Each plate linked to the smallest vehicle holding at least half of it; score = that share."""
    b = ds.boxes.take(np.arange(len(ds.boxes)))
    plate, vehicle = ds.role_mask("child"), ds.role_mask("parent")
    xyxy, off = b.xyxy, ds.offsets
    area = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    for i in range(len(ds)):
        rows = np.arange(off[i], off[i + 1])
        cars = rows[vehicle[rows]]
        for p in rows[plate[rows]]:
            lo, hi = np.maximum(xyxy[p, :2], xyxy[cars, :2]), np.minimum(xyxy[p, 2:], xyxy[cars, 2:])
            share = np.prod(np.clip(hi - lo, 0, None), axis=1) / max(area[p], 1e-12)
            ok = share >= 0.5
            if ok.any():
                best = cars[ok][np.argmin(area[cars[ok]])]
                b.parent[p], b.link_score[p] = best, round(float(share[cars == best][0]), 6)
    return ds.replace(boxes=b)


@pytest.fixture(scope="session")
def rich(plates: svmlp.Dataset) -> tuple[svmlp.Dataset, list[tuple[str, str]]]:
    """The data set with links and plate text; its first image emptied, its second unlabelled."""
    linked = _with_links(plates)
    keep = linked.boxes.image >= 2
    boxes = linked.boxes.take_with_parents(np.flatnonzero(keep), len(linked.boxes))
    plate_rows = np.flatnonzero(boxes.parent >= 0)[:5]
    text = np.full(len(boxes), "", dtype=object)
    text[plate_rows] = [f"AB 12{k} & <CD>" for k in range(5)]  # XML and JSON specials on purpose
    boxes.text = text.astype(str)
    images = linked.images.take(np.arange(len(linked)))
    images.labelled[1] = False
    ds = linked.replace(images=images, boxes=boxes)
    emptied = [(ds.image(i).split, ds.image(i).file_name) for i in (0, 1)]
    return ds, emptied


def test_links_were_made(rich: tuple[svmlp.Dataset, list]) -> None:
    ds, _ = rich
    plates_n = int(ds.role_mask("child").sum())
    linked = int((ds.boxes.parent >= 0).sum())
    assert 0.5 * plates_n < linked <= plates_n  # most plates sit on a vehicle, a few are orphans
    assert ds.image(0).labelled and ds.boxes_of(0) == [] and not ds.image(1).labelled


def _scores(ds: svmlp.Dataset) -> dict[tuple[str, str, int], float]:
    """Link score of every linked box, by (split, image file name, box id)."""
    out = {}
    for i in range(len(ds)):
        im = ds.image(i)
        out.update(
            {(im.split, im.file_name, b.id): b.link_score for b in ds.boxes_of(i) if b.parent is not None}
        )
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt: str, rich: tuple[svmlp.Dataset, list], labels: dict, tmp_path: Path) -> None:
    ds, emptied = rich
    back, report = round_trip(ds, fmt, tmp_path, images="none")
    # exact counts per class and split: the label files' own, less the two images emptied here
    expected = _count({k: v for k, v in labels.items() if k not in emptied})
    assert counts(back) == expected
    assert dict(Counter(back.images.split.tolist())) == IMAGES
    assert report.links == int((ds.boxes.parent >= 0).sum())
    # ids (image and box, via the sidecar for YOLO and VOC), category ids, links, text, states
    source = clipped_to_frame(ds) if svmlp.FORMATS[fmt].ROUND_TRIP.clamps else ds
    assert_same_dataset(source, back, **kept_by(fmt))
    assert _scores(back) == _scores(ds)


@pytest.mark.parametrize(("fmt", "mode"), [("yolo", "copy"), ("voc", "hardlink"), ("coco", "symlink")])
def test_written_images_are_found_again(fmt: str, mode: str, plates: svmlp.Dataset, tmp_path: Path) -> None:
    report = svmlp.write(plates, tmp_path / "out", format=fmt, images=mode)
    assert report.images_placed == len(plates)
    back = svmlp.read(tmp_path / "out")
    paths = [back.image_path(i) for i in range(len(back))]
    assert all(p is not None and p.is_file() for p in paths)
    assert {
        (int(w), int(h)) for w, h in zip(back.images.header_width, back.images.header_height, strict=True)
    } == {(640, 640)}

    # (coordinates are test_round_trip's business; here the images and what is keyed on them)
    def keyed(d: svmlp.Dataset) -> list[tuple[str, str, int]]:
        return sorted((im.split, im.file_name, im.id) for im in map(d.image, range(len(d))))

    assert keyed(back) == keyed(plates)
    assert counts(back) == counts(plates)


# -- broken and repaired dataset.yaml --------------------------------------------------------------


def test_yaml_alone_is_a_clear_error(plates_dir: Path, tmp_path: Path) -> None:
    """Only dataset.yaml, copied where its paths lead nowhere: one line naming the file and the path."""
    config = tmp_path / "dataset.yaml"
    config.write_bytes((plates_dir / "dataset.yaml").read_bytes())
    for target in (tmp_path, config):
        with pytest.raises(svmlp.AnnotationError) as info:
            svmlp.read(target)
        message = str(info.value)
        assert "\n" not in message
        assert str(config) in message and f"{MOVED}/train/images" in message, message


def test_paths_that_exist_are_used_as_written(
    plates_dir: Path, plates: svmlp.Dataset, tmp_path: Path
) -> None:
    config = tmp_path / "elsewhere" / "data.yaml"
    config.parent.mkdir()
    paths = {s: str(plates_dir / f / "images") for f, s in FOLDERS.items()}
    config.write_text(yaml.safe_dump({**paths, "nc": 2, "names": NAMES}), encoding="utf-8")
    ds = svmlp.read(config)
    assert ds.notes == []
    assert ds.roots == {s: Path(p) for s, p in paths.items()}
    assert counts(ds) == counts(plates)


def test_repaired_paths_never_put_one_image_in_several_splits(plates_dir: Path, tmp_path: Path) -> None:
    """dataset.yaml beside a bare images/ folder: train, val and test must not all become that folder.

    Each moved path falling back to its last component, ``images``, would put the one image in
    train, val and test at once (a leak between splits); it is refused, or each image kept once.
    """
    from PIL import Image

    (tmp_path / "dataset.yaml").write_bytes((plates_dir / "dataset.yaml").read_bytes())
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.jpg")
    try:
        ds = svmlp.read(tmp_path)
    except svmlp.AnnotationError as exc:
        assert "dataset.yaml" in str(exc)
        return
    paths = [ds.image_path(i) for i in range(len(ds))]
    assert len(set(paths)) == len(paths), f"one file in splits {ds.images.split.tolist()}"
