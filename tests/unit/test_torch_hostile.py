"""SVMLPDataset on hostile files: FIFOs, devices, names too long, broken EXIF, errors from workers.

Every case is built in tmp_path with real images (Pillow) and read through the real DataLoader.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from torch._utils import ExceptionWrapper  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from svmlp.errors import AnnotationError, ImageError, UsageError  # noqa: E402
from svmlp.model import BoxTable, Category, Dataset, ImageTable  # noqa: E402
from svmlp.torch import ImageSkippedWarning, LabelMap, SVMLPDataset, collate  # noqa: E402
from svmlp.torch import transforms as T  # noqa: E402
from svmlp.torch.cache import ImageCache  # noqa: E402
from svmlp.torch.decode import decode  # noqa: E402

CATS = [Category(1, "vehicle", role="parent"), Category(2, "plate", role="child")]
NOT_REGULAR = "not a regular file; svmlp reads regular files only"


def _dataset(root: Path, n: int = 3, *, folder: Path | None = None) -> Dataset:
    """``n`` 64×48 PNGs im0..im{n-1} of noise in ``root`` (a vehicle box on each), read from
    ``folder`` (default ``root``)."""
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / f"im{k}.png")
    images = ImageTable.build(
        id=list(range(1, n + 1)),
        file_name=[f"im{k}.png" for k in range(n)],
        split="train",
        width=[64] * n,
        height=[48] * n,
    )
    boxes = BoxTable.build(
        id=list(range(1, n + 1)),
        image=list(range(n)),
        category=[0] * n,
        xyxy=[[4, 4, 40, 30]] * n,
        parent=[-1] * n,
    )
    return Dataset(CATS, images, boxes, roots={"train": folder or root})


def _load(data: SVMLPDataset, workers: int) -> list:
    it = iter(DataLoader(data, batch_size=2, num_workers=workers, collate_fn=collate))
    try:
        return [t for _, targets in it for t in targets]
    finally:
        # torch's re-raise leaves the iterator in a reference cycle (the traceback's frames hold
        # it); freed by the garbage collector, it waits 5 s for each worker before killing it
        getattr(it, "_shutdown_workers", lambda: None)()


def _corrupt_exif_jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG whose EXIF block claims a tag far larger than the file: Pillow warns on reading it."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "x" * 40  # ImageDescription, stored past the IFD
    block = exif.tobytes()
    order = "big" if block.startswith(b"Exif\x00\x00MM") or block.startswith(b"MM") else "little"
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(buf, "JPEG", exif=block)
    data = bytearray(buf.getvalue())
    entry = data.find((0x010E).to_bytes(2, order) + (2).to_bytes(2, order))  # tag 0x010E, type ASCII
    assert entry > 0
    data[entry + 4 : entry + 8] = (0x7FFFFFF).to_bytes(4, order)  # its count: 128 MiB
    return bytes(data)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_fifo_or_device_is_an_image_error_naming_it_not_a_hang(kind: str, tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    victim = tmp_path / "im1.png"
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
        what = "a FIFO (named pipe)"
    else:
        victim.symlink_to("/dev/zero")
        what = "a character device"
    expected = f"{victim}: is {what}, {NOT_REGULAR}"
    data = SVMLPDataset(ds)
    with pytest.raises(ImageError) as caught:
        data[1]
    assert str(caught.value) == expected
    with pytest.raises(ImageError) as caught:
        _load(data, 2)
    assert str(caught.value) == expected
    skipping = SVMLPDataset(ds, on_error="skip")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        targets = _load(skipping, 0)
    assert len(targets) == 3 and "im1.png" not in {t["file_name"] for t in targets}
    assert [str(w.message) for w in seen if issubclass(w.category, ImageSkippedWarning)] == [
        f"skipped: {expected}"
    ]


@pytest.mark.timeout(60)
def test_skipping_a_fifo_in_workers_loads_every_other_image(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, 4)
    (tmp_path / "im2.png").unlink()
    os.mkfifo(tmp_path / "im2.png")
    targets = _load(SVMLPDataset(ds, on_error="skip", transforms=T.eval_preset(32)), 2)
    assert len(targets) == 4 and "im2.png" not in {t["file_name"] for t in targets}


@pytest.mark.timeout(60)
def test_a_worker_error_reaches_the_user_as_its_own_one_line_message(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, 4)
    (tmp_path / "im3.png").unlink()
    with pytest.raises(ImageError) as caught:
        _load(SVMLPDataset(ds), 2)
    exc = caught.value
    assert type(exc) is ImageError
    assert str(exc) == f"{tmp_path / 'im3.png'}: image file not found"
    assert "Traceback" not in str(exc) and "worker process" not in str(exc)
    assert exc.worker_traceback is not None and "in DataLoader worker process" in exc.worker_traceback


def _rewrapped(exc: BaseException, where: str = "in DataLoader worker process 3") -> BaseException:
    """``exc`` raised in a worker, as torch re-raises it in the main process."""
    try:
        raise exc
    except BaseException:
        wrapper = ExceptionWrapper(where=where)
    try:
        wrapper.reraise()
    except BaseException as back:
        return back
    raise AssertionError("reraise returned")


def test_the_original_message_is_kept_whatever_it_holds() -> None:
    # ': ' in the message, and the class name inside it
    msg = "/x/a: b.jpg: cannot decode the image (svmlp.errors.ImageError: nested)"
    back = _rewrapped(ImageError(msg))
    assert type(back) is ImageError and str(back) == msg
    # a chained exception: the traceback shows the cause first, the message is the last one's
    try:
        try:
            raise ValueError("svmlp.errors.ImageError: not this one")
        except ValueError:
            raise AnnotationError("labels.json: line 3\nis broken") from None
    except AnnotationError as exc:
        chained = exc
    chained.__context__ = ValueError("svmlp.errors.AnnotationError: nor this one")
    back = _rewrapped(chained, "in pin memory thread for device 0")
    assert type(back) is AnnotationError and str(back) == "labels.json: line 3 is broken"
    # raised with no message, and a subclass the test defines
    assert str(_rewrapped(UsageError())) == ""

    class LocalError(ImageError):
        pass

    assert str(_rewrapped(LocalError("a.jpg: gone"))) == "a.jpg: gone"
    # a message that only looks like torch's is left alone (collapsed to one line, as always)
    assert str(ImageError("Caught ImageError in x.\nOriginal Traceback (most recent call last):\nno")) == (
        "Caught ImageError in x. Original Traceback (most recent call last): no"
    )


def test_a_file_name_too_long_is_an_image_error_naming_it(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300 + ".png")
    with pytest.raises(ImageError, match=r"x{300}\.png: cannot open the image \(File name too long\)"):
        decode(long)
    folder = tmp_path / ("d" * 300)  # the data set's folder: every image path is too long
    ds = _dataset(tmp_path, 2, folder=folder)
    with pytest.raises(ImageError, match=r"d{300}/im0\.png: cannot open the image"):
        SVMLPDataset(ds)[0]
    with pytest.raises(ImageError, match="no image of this data set"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageSkippedWarning)
        SVMLPDataset(ds, on_error="skip")[0]


def test_other_open_errors_are_image_errors(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, 2)
    (tmp_path / "im0.png").unlink()
    (tmp_path / "im0.png").mkdir()
    with pytest.raises(ImageError, match=f"im0.png: is a folder, {NOT_REGULAR}"):
        SVMLPDataset(ds)[0]
    with pytest.raises(ImageError, match=r"im1.png/x.png: cannot open the image \(Not a directory\)"):
        decode(tmp_path / "im1.png" / "x.png")


def test_a_broken_exif_block_decodes_without_a_warning(tmp_path: Path) -> None:
    data = _corrupt_exif_jpeg()
    (tmp_path / "exif.jpg").write_bytes(data)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 200])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with Image.open(tmp_path / "exif.jpg") as im:
            im.getexif()
    assert any("EXIF" in str(w.message) or "Tag data" in str(w.message) for w in seen), "Pillow warns on it"
    with warnings.catch_warnings(record=True) as seen:
        pixels, frame = decode(tmp_path / "exif.jpg")
        with pytest.raises(ImageError, match="cut.jpg: cannot decode the image"):
            decode(tmp_path / "cut.jpg")
    assert pixels.shape == (48, 64, 3) and frame == (64, 48)
    assert [str(w.message) for w in seen] == []


@pytest.mark.timeout(60)
def test_a_label_map_must_be_a_regular_file_of_bounded_size(tmp_path: Path) -> None:
    lm = LabelMap.from_categories(CATS)
    lm.save(tmp_path / "labels.json")
    assert LabelMap.load(tmp_path / "labels.json") == lm
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(UsageError, match="fifo.json: is a FIFO \\(named pipe\\), not a regular label map"):
        LabelMap.load(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(UsageError, match="zero.json: is a character device"):
        SVMLPDataset(_dataset(tmp_path, 1), label_map=tmp_path / "zero.json")
    with open(tmp_path / "huge.json", "wb") as f:
        f.truncate(1 << 30)  # sparse: a gigabyte on no disk
    with pytest.raises(UsageError, match="huge.json: is 1073741824 bytes, more than"):
        LabelMap.load(tmp_path / "huge.json")
    (tmp_path / "deep.json").write_text("[" * 100_000)
    with pytest.raises(UsageError, match="deep.json: cannot read the label map"):
        LabelMap.load(tmp_path / "deep.json")
    (tmp_path / "latin.json").write_bytes(b'{"format": "\xe9"}')
    with pytest.raises(UsageError, match="latin.json: cannot read the label map"):
        LabelMap.load(tmp_path / "latin.json")


@pytest.mark.timeout(60)
def test_cache_files_must_be_regular_files_and_links_are_not_followed(tmp_path: Path) -> None:
    paths, sizes = [str(tmp_path / "a.png")], np.array([[8, 4]])
    cache = ImageCache(tmp_path / "cache", paths, sizes, 8)
    cache.put(0, np.full((4, 8, 3), 7, np.uint8))
    assert ImageCache(tmp_path / "cache", paths, sizes, 8).get(0) is not None  # the same key, kept
    data_path, state_path = cache.data_path, cache.state_path
    data_path.unlink()
    os.mkfifo(data_path)
    with pytest.raises(
        UsageError, match=r"images-\w+\.u8: image cache file is a FIFO \(named pipe\), not a regular"
    ):
        ImageCache(tmp_path / "cache", paths, sizes, 8)
    data_path.unlink()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    data_path.symlink_to(target)
    with pytest.raises(
        UsageError, match="is a symbolic link; svmlp does not follow links in its cache folder"
    ):
        ImageCache(tmp_path / "cache", paths, sizes, 8)
    assert target.read_text() == "keep me"
    # a file swapped in after the cache was made: refused when a worker maps it
    data_path.unlink()
    fresh = ImageCache(tmp_path / "cache", paths, sizes, 8)
    state_path.unlink()
    os.mkfifo(state_path)
    with pytest.raises(UsageError, match=r"images-\w+\.state: image cache file is a FIFO"):
        fresh.get(0)
