"""SVMLPDataset: targets, links, label maps, workers, errors, EXIF, the cache and memory."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader  # noqa: E402

import svmlp  # noqa: E402
from svmlp.errors import ImageError, UsageError  # noqa: E402
from svmlp.model import BoxTable, Category, Dataset, ImageTable  # noqa: E402
from svmlp.synth import generate  # noqa: E402
from svmlp.torch import ImageSkippedWarning, LabelMap, SVMLPDataset, collate, collate_batched  # noqa: E402
from svmlp.torch import transforms as T  # noqa: E402

CATS = [Category(1, "vehicle", role="parent"), Category(2, "plate", role="child"), Category(5, "person")]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """40 synthetic scenes (JPEGs on disk), negatives and unlabelled images among them."""
    return generate(tmp_path_factory.mktemp("scenes"), 40, seed=4, negatives=0.1, unlabelled=0.1)


def _tiny(
    tmp: Path,
    boxes: list[tuple[int, list[float], int, bool]],
    *,
    size: tuple[int, int] = (64, 48),
    n: int = 2,
    ext: str = "png",
    write: bool = True,
) -> Dataset:
    """``n`` images (noise, unless ``write`` is False); boxes as (category row, xyxy, parent row,
    crowd), all on image 0."""
    rng = np.random.default_rng(0)
    for k in range(n if write else 0):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
            tmp / f"im{k}.{ext}"
        )
    images = ImageTable.build(
        id=list(range(10, 10 + n)),
        file_name=[f"im{k}.{ext}" for k in range(n)],
        split="train",
        width=[size[0]] * n,
        height=[size[1]] * n,
    )
    bt = BoxTable.build(
        id=list(range(1, len(boxes) + 1)),
        image=[0] * len(boxes),
        category=[b[0] for b in boxes],
        xyxy=np.array([b[1] for b in boxes], dtype=float).reshape(-1, 4),
        parent=[b[2] for b in boxes],
        iscrowd=[b[3] for b in boxes],
    )
    return Dataset(CATS, images, bt, roots={"train": tmp})


def test_targets_have_every_key_with_its_type(scenes: Dataset) -> None:
    ds = SVMLPDataset(scenes, split="train")
    image, t = ds[0]
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    assert t["boxes"].dtype == torch.float32 and t["boxes"].shape[1] == 4
    assert t["labels"].dtype == t["parent"].dtype == t["iscrowd"].dtype == torch.int64
    assert t["orig_size"].tolist() == [480, 640] and t["size"].tolist() == list(image.shape[1:])
    assert t["matrix"].dtype == torch.float64 and torch.equal(t["matrix"], torch.eye(3, dtype=torch.float64))
    assert t["split"] == "train" and t["file_name"].endswith(".jpg")
    assert isinstance(t["image_id"], int)
    # links: a plate's parent is a vehicle of the same image
    parents = t["parent"][t["parent"] >= 0]
    assert len(parents) and (t["labels"][parents] == ds.label_map.parent_indices()[0]).all()


def test_empty_images_give_zero_by_four_boxes(scenes: Dataset) -> None:
    ds = SVMLPDataset(scenes)
    empty = [i for i in range(len(ds)) if ds._box_offsets[i] == ds._box_offsets[i + 1]]
    assert empty, "the fixture has verified negatives"
    for tf in (None, T.eval_preset(128), T.train_preset(128)):
        ds.transforms = tf
        ds.load_side = getattr(tf, "load_size", None)
        ds.set_epoch(0)
        _, t = ds[empty[0]]
        if tf is None or "Mosaic" not in repr(tf):
            assert t["boxes"].shape == (0, 4) and t["boxes"].dtype == torch.float32
            assert t["labels"].shape == t["parent"].shape == (0,)


def test_unlabelled_images_are_left_out_unless_asked(scenes: Dataset) -> None:
    n_unlabelled = int((~scenes.images.labelled.astype(bool)).sum())
    assert n_unlabelled
    assert len(SVMLPDataset(scenes)) == len(scenes) - n_unlabelled
    assert len(SVMLPDataset(scenes, include_unlabelled=True)) == len(scenes)


def test_one_label_map_for_every_split_saved_and_loaded(scenes: Dataset, tmp_path: Path) -> None:
    maps = {s: SVMLPDataset(scenes, split=s).label_map for s in scenes.splits}
    assert len(set(maps.values())) == 1
    lm = maps["train"]
    lm.save(tmp_path / "labels.json")
    assert LabelMap.load(tmp_path / "labels.json") == lm
    assert SVMLPDataset(scenes, split="val", label_map=tmp_path / "labels.json").label_map == lm
    other = LabelMap((0, 1), ("vehicle", "plate"), ("parent", "child"))
    with pytest.raises(UsageError, match="has id 0 in the data set|has id"):
        SVMLPDataset(scenes, label_map=other)
    (tmp_path / "bad.json").write_text('{"format": "nope"}')
    with pytest.raises(UsageError, match="bad.json: not a label map"):
        LabelMap.load(tmp_path / "bad.json")


def test_classes_keep_only_those_and_their_links(tmp_path: Path) -> None:
    ds = _tiny(
        tmp_path,
        [(0, [0, 0, 40, 40], -1, False), (1, [10, 30, 20, 35], 0, False), (2, [40, 0, 60, 40], -1, False)],
    )
    only_plates = SVMLPDataset(ds, classes=["plate"])
    _, t = only_plates[0]
    assert only_plates.label_map.names == ("plate",)
    assert t["labels"].tolist() == [0] and t["parent"].tolist() == [-1]
    _, t = SVMLPDataset(ds, classes=["vehicle", "plate"])[0]
    assert t["labels"].tolist() == [0, 1] and t["parent"].tolist() == [-1, 0]
    with pytest.raises(UsageError, match=r"classes \['bus'\] are not in the data set"):
        SVMLPDataset(ds, classes=["bus"])


def test_crowd_boxes_are_kept_and_the_batched_collate_leaves_them_out(tmp_path: Path) -> None:
    ds = _tiny(
        tmp_path,
        [
            (0, [0, 0, 30, 30], -1, True),
            (1, [5, 20, 15, 25], 0, False),
            (0, [30, 0, 60, 40], -1, False),
            (1, [40, 30, 50, 35], 2, False),
        ],
    )
    data = SVMLPDataset(ds, transforms=T.eval_preset(64))
    _, t = data[0]
    assert t["iscrowd"].tolist() == [1, 0, 0, 0]
    images, targets, infos = collate_batched([data[0], data[1], data[0]])
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.uint8
    assert targets.shape == (6, 7)
    assert targets[:, 0].tolist() == [0, 0, 0, 2, 2, 2]
    # rows: plate (vehicle was the crowd box: no parent), vehicle, plate → row of that vehicle
    assert targets[:, 6].tolist() == [-1, -1, 1, -1, -1, 4]
    assert infos[1]["image_id"] == 11 and "boxes" not in infos[0]
    imgs, tgts = collate([data[0], data[1]])
    assert len(imgs) == len(tgts) == 2


def test_batched_collate_pads_mixed_sizes_without_moving_boxes(scenes: Dataset) -> None:
    data = SVMLPDataset(scenes, transforms=T.Resize(100))
    a, b = data[0], data[1]
    b = (b[0][:, :50, :80], b[1])
    images, targets, _ = collate_batched([a, b])
    assert images.shape[2:] == (max(a[0].shape[1], 50), max(a[0].shape[2], 80))
    assert torch.equal(images[1, :, :50, :80], b[0]) and (images[1, :, 50:, :] == 114).all()
    assert torch.equal(targets[targets[:, 0] == 0, 2:6], a[1]["boxes"][a[1]["iscrowd"] == 0])


def _items(ds: SVMLPDataset, workers: int, **kw: object) -> list[tuple[torch.Tensor, dict]]:
    loader = DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate, **kw)
    return [item for images, targets in loader for item in zip(images, targets)]


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0])
        and torch.equal(x[1]["boxes"], y[1]["boxes"])
        and torch.equal(x[1]["parent"], y[1]["parent"])
        for x, y in zip(a, b)
    )


def test_seeded_epochs_are_reproducible_in_any_worker(scenes: Dataset) -> None:
    ds = SVMLPDataset(scenes, split="train", transforms=T.train_preset(96, degrees=5), seed=7)
    ds.set_epoch(3)
    alone = _items(ds, 0)
    assert _same(alone, _items(ds, 2))
    assert _same(alone, _items(ds, 2, multiprocessing_context="spawn"))
    ds.set_epoch(4)
    assert not _same(alone, _items(ds, 0))
    # persistent workers see a new epoch too
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, persistent_workers=True)
    ds.set_epoch(3)
    first = [it for images, targets in loader for it in zip(images, targets)]
    ds.set_epoch(4)
    second = [it for images, targets in loader for it in zip(images, targets)]
    assert _same(first, alone) and not _same(first, second)


def test_unseeded_loads_differ_each_time(scenes: Dataset) -> None:
    ds = SVMLPDataset(scenes, transforms=T.train_preset(64))
    assert not torch.equal(ds[0][0], ds[0][0])


def test_the_dataset_pickles_with_no_per_sample_objects(scenes: Dataset) -> None:
    ds = SVMLPDataset(scenes, transforms=T.eval_preset(64), seed=1)
    back = pickle.loads(pickle.dumps(ds))
    assert torch.equal(back[3][0], ds[3][0]) and back[3][1]["file_name"] == ds[3][1]["file_name"]
    objects = [k for k, v in vars(ds).items() if isinstance(v, np.ndarray) and v.dtype == object]
    assert all(len(getattr(ds, k)) <= len(scenes.splits) + 1 for k in objects)  # per split, not per image


def test_a_missing_image_is_an_error_naming_it_even_from_a_worker(scenes: Dataset, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(scenes.roots["train"].parent, root)
    ds = scenes.replace(roots={s: root / s for s in scenes.splits}).split("train")
    victim = root / "train" / str(ds.images.file_name[2])
    victim.unlink()
    data = SVMLPDataset(ds)
    with pytest.raises(ImageError, match=f"{victim.name}: image file not found"):
        data[2]
    with pytest.raises(ImageError, match=victim.name):
        # one worker: after a worker's error, torch's DataLoader takes 5 s per worker to shut down
        _items(data, 1)
    skipping = SVMLPDataset(ds, on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = _items(skipping, 0) + _items(skipping, 0)
    skipped = [w for w in caught if issubclass(w.category, ImageSkippedWarning)]
    assert len(skipped) == 1 and victim.name in str(skipped[0].message)
    assert len(items) == 2 * len(skipping)
    assert victim.name not in {t["file_name"] for _, t in items}


def test_a_truncated_or_wrongly_sized_image_is_an_error(tmp_path: Path) -> None:
    ds = _tiny(tmp_path, [(0, [0, 0, 30, 30], -1, False)], size=(64, 48))
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "im0.jpg")
    data = (tmp_path / "im0.jpg").read_bytes()
    (tmp_path / "im0.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"im0.png: cannot decode"):
        SVMLPDataset(ds)[0]
    Image.fromarray(np.zeros((40, 64, 3), np.uint8)).save(tmp_path / "im1.png")
    with pytest.raises(
        ImageError, match=r"im1.png: the annotations are for a 64×48 image but the file is 64×40"
    ):
        SVMLPDataset(ds)[1]


def _exif_image(path: Path, orientation: int) -> None:
    """A 120×60 stored JPEG: left half red, right half blue, with that EXIF orientation."""
    pixels = np.zeros((60, 120, 3), np.uint8)
    pixels[:, :60, 0] = 255
    pixels[:, 60:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif, quality=95)


def test_exif_orientation_puts_pixels_in_the_frame_of_the_boxes(tmp_path: Path) -> None:
    _exif_image(tmp_path / "im0.jpg", 6)  # shown turned 90° clockwise: 60×120, red on top
    _exif_image(tmp_path / "im1.jpg", 6)
    ds = _tiny(tmp_path, [(0, [0, 0, 60, 60], -1, False)], size=(60, 120), ext="jpg", write=False)
    image, t = SVMLPDataset(ds)[0]
    assert image.shape == (3, 120, 60)
    top, bottom = image[:, :60].float().mean(dim=(1, 2)), image[:, 60:].float().mean(dim=(1, 2))
    assert top[0] > 200 and bottom[2] > 200  # the box (top half) lies on the red half
    # labels drawn on the stored pixels (their size says so): the pixels are used as stored
    stored = _tiny(tmp_path, [(0, [0, 0, 60, 60], -1, False)], size=(120, 60), ext="jpg", write=False)
    image, _ = SVMLPDataset(stored)[0]
    assert image.shape == (3, 60, 120) and image[0, :, :60].float().mean() > 200


def test_draft_decoding_matches_a_full_decode(tmp_path: Path) -> None:
    from svmlp.torch.decode import decode

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (27, 48, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((1920, 1080), Image.Resampling.BICUBIC))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    fast, frame = decode(tmp_path / "big.jpg", (1920, 1080), 320)
    with Image.open(tmp_path / "big.jpg") as im:
        full = np.asarray(im.convert("RGB").resize((320, 180), Image.Resampling.BILINEAR))
    assert frame == (1920, 1080) and fast.shape == full.shape == (180, 320, 3)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 3.0


def test_the_cache_fills_in_the_first_epoch_and_changes_nothing(scenes: Dataset, tmp_path: Path) -> None:
    plain = SVMLPDataset(scenes, split="train", transforms=T.train_preset(96), seed=3)
    cached = SVMLPDataset(
        scenes, split="train", transforms=T.train_preset(96), seed=3, cache=tmp_path / "cache"
    )
    assert cached.cache is not None and cached.cache.filled() == 0
    for ds in (plain, cached):
        ds.set_epoch(0)
    assert _same(_items(plain, 0), _items(cached, 2))
    assert cached.cache.filled() == len(cached)
    again = SVMLPDataset(
        scenes, split="train", transforms=T.train_preset(96), seed=3, cache=tmp_path / "cache"
    )
    assert again.cache.filled() == len(again)  # a later run finds it
    again.set_epoch(0)
    assert _same(_items(plain, 0), _items(again, 0))
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 1


@pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker processes")
def test_memory_stays_flat_over_epochs_with_four_workers(scenes: Dataset) -> None:
    import psutil  # a dev dependency (pyproject.toml)

    ds = SVMLPDataset(scenes, transforms=T.train_preset(64), seed=0)
    loader = DataLoader(ds, batch_size=4, num_workers=4, collate_fn=collate, persistent_workers=True)
    me = psutil.Process()
    rss = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        for _ in loader:
            pass
        rss.append(sum(c.memory_info().rss for c in me.children()))
    assert len(me.children()) >= 4
    growth = rss[2] - rss[0]
    assert growth < 16 * 2**20, f"workers grew by {growth / 2**20:.1f} MiB from epoch 1 to 3: {rss}"


def test_bad_usage(scenes: Dataset) -> None:
    with pytest.raises(UsageError, match="on_error must be"):
        SVMLPDataset(scenes, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(svmlp.AnnotationError, match="split"):
        SVMLPDataset(scenes, split="nope")
    with pytest.raises(IndexError):
        SVMLPDataset(scenes)[10_000]


def test_collates_pack_a_batch_into_a_few_storages(scenes: Dataset) -> None:
    data = SVMLPDataset(scenes, transforms=T.eval_preset(64))
    batch = [data[i] for i in range(5)]
    images, targets = collate(batch)
    storages = {t.untyped_storage().data_ptr() for t in images}
    storages |= {
        t[k].untyped_storage().data_ptr() for t in targets for k in ("boxes", "labels", "parent", "matrix")
    }
    assert len(storages) == 4  # images, float32 boxes, int64 columns, float64 matrices
    for (image, target), got, want in zip(batch, images, targets):
        assert torch.equal(got, image) and torch.equal(want["boxes"], target["boxes"])
        assert want["file_name"] == target["file_name"]


def test_label_offset_for_torchvision_detectors(scenes: Dataset) -> None:
    """torchvision's detection models keep label 0 for the background."""
    plain = SVMLPDataset(scenes, split="train", seed=0)
    shifted = SVMLPDataset(scenes, split="train", seed=0, label_offset=1)
    for k in range(3):
        a, b = plain[k][1]["labels"], shifted[k][1]["labels"]
        assert torch.equal(b, a + 1)
    assert all(bool((shifted[k][1]["labels"] >= 1).all()) for k in range(len(shifted)))
    with pytest.raises(svmlp.UsageError, match="label_offset"):
        SVMLPDataset(scenes, label_offset=-1)
