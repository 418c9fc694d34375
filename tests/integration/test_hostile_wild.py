"""Hostile data in the layouts the new readers take (DOTA, YOLO-OBB, VOC as Kaggle, Roboflow and
the devkit keep it), beyond the corpus of ``test_hostile.py``.

Each case is built in ``tmp_path``. The outcomes allowed are the same: a complete result, or exit 2
with one ``error:`` line naming the file (no traceback, nothing read from outside the data set
quoted), within moments and bounded memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svmlp.cli import main

SECRET = "SECRET-CANARY root:x:0:0:root:/root:/bin/bash"


def jpeg(path: Path, w: int = 64, h: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, format="JPEG", quality=80)
    return path


def yolo(src: Path, *, yaml: str | None = "train: images/train\nnames: [vehicle, plate]\n") -> Path:
    jpeg(src / "images" / "train" / "a.jpg")
    label = src / "labels" / "train" / "a.txt"
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("0 0.35 0.4 0.56 0.62\n1 0.39 0.54 0.16 0.08\n")
    if yaml is not None:
        (src / "data.yaml").write_text(yaml)
    return src


def voc(src: Path, *, sets: dict[str, str] | None = None) -> Path:
    (src / "Annotations").mkdir(parents=True, exist_ok=True)
    (src / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
        "<object><name>vehicle</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>44</xmax><ymax>34</ymax>"
        "</bndbox></object></annotation>"
    )
    jpeg(src / "JPEGImages" / "a.jpg")
    for split, text in (sets or {}).items():
        (src / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (src / "ImageSets" / "Main" / f"{split}.txt").write_text(text)
    return src


def dota(src: Path) -> Path:
    jpeg(src / "images" / "a.jpg")
    (src / "labelTxt").mkdir(parents=True, exist_ok=True)
    (src / "labelTxt" / "a.txt").write_text(
        "4 4 40 4 40 30 4 30 vehicle 0\n20 24 30 24 30 28 20 28 plate 0\n"
    )
    return src


def one_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command line; it must fail with exit 2 and one ``error:`` line, which is returned."""
    capsys.readouterr()
    rc = main(argv)
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert rc == 2, f"expected exit 2, got {rc}: {captured.err}"
    assert "Traceback" not in captured.err
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, lines
    assert "SECRET-CANARY" not in captured.out + captured.err
    return errors[0]


def _without_root_powers() -> list[str]:
    """A prefix that runs a command without the power to read any file (root ignores modes)."""
    if os.geteuid() != 0:
        return []
    setpriv = subprocess.run(["which", "setpriv"], capture_output=True, text=True).stdout.strip()
    if not setpriv:
        pytest.skip("running as root without setpriv (util-linux): cannot make a folder unreadable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def _stats_without_root(src: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_without_root_powers(), sys.executable, "-m", "svmlp", "stats", str(src), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- a folder the user may not enter --------------------------------------------------------------


def test_an_unreadable_folder_beside_the_data_does_not_stop_detection(tmp_path: Path) -> None:
    """``lost+found`` at the root of a mounted disk: DOTA's sniff looked for ``labelTxt/`` in it
    and a raw ``PermissionError`` stopped the detection of every format asked after DOTA (YOLO,
    COCO)."""
    src = yolo(tmp_path / "src")
    locked = src / "lost+found"
    locked.mkdir()
    locked.chmod(0)
    try:
        proc = _stats_without_root(src)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unreadable_split_folder_of_dota_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    dota(src / "train")
    locked = src / "val"
    locked.mkdir()
    locked.chmod(0)
    try:
        proc = _stats_without_root(src, "--from", "dota")
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "val: cannot look into this folder (Permission denied)" in proc.stderr, proc.stderr


# -- bounded reads --------------------------------------------------------------------------------


def test_an_image_set_list_of_gigabytes_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ImageSets/Main/val.txt`` was read whole, whatever its size (3 GB sparse: 15 GB of memory)."""
    src = voc(tmp_path / "src", sets={"train": "a\n"})
    with open(src / "ImageSets" / "Main" / "val.txt", "wb") as fh:
        fh.truncate(100 << 20)  # 100 MB, a few kB on disk
    error = one_error(capsys, ["stats", str(src)])
    assert "val.txt: is 104857600 bytes, more than the" in error, error


# -- names files linked out of the data set -------------------------------------------------------


def _outside_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\nSECRET-CANARY-2\n")
    return secret


@pytest.mark.parametrize("name", ["classes.txt", "obj.names", "labels/classes.txt"])
def test_a_names_file_linked_out_of_the_data_set_is_neither_read_nor_quoted(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its lines became class names, printed by ``stats`` and written into every output."""
    secret = _outside_secret(tmp_path)
    src = yolo(tmp_path / "src", yaml=None)
    os.symlink(secret, src / name)
    for argv in (
        ["stats", str(src)],
        ["convert", str(src), "--to", "yolo", "-o", str(tmp_path / "out"), "--images", "none"],
    ):
        error = one_error(capsys, argv)
        assert "names file is a symbolic link" in error and "outside the data set" in error, error
    assert not (tmp_path / "out").exists()


def test_a_label_map_linked_out_of_the_data_set_is_neither_read_nor_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = _outside_secret(tmp_path)
    src = voc(tmp_path / "src")
    os.symlink(secret, src / "labelmap.txt")
    error = one_error(capsys, ["stats", str(src)])
    assert "label map is a symbolic link" in error and "outside the data set" in error, error


@pytest.mark.parametrize(
    ("build", "name"), [(lambda s: yolo(s, yaml=None), "classes.txt"), (voc, "labelmap.txt")]
)
def test_a_names_file_that_is_a_fifo_is_named_not_skipped(
    build, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO was passed over as if absent: "no class names found", or a VOC set read without its
    label map's order."""
    src = build(tmp_path / "src")
    os.mkfifo(src / name)
    error = one_error(capsys, ["stats", str(src)])
    assert f"{name}: is a FIFO" in error, error


# -- stats on a names file of a million lines -----------------------------------------------------


@pytest.mark.timeout(300)
def test_stats_counts_many_classes_at_once() -> None:
    """A ``classes.txt`` of a million lines is 7 MB; ``compute_stats`` looped over the classes with
    whole-array numpy work each (half a minute); it now counts all classes at once. What is timed
    belongs to the benchmarks: this checks the counts of the first and the last class."""
    from svmlp.model import BoxTable, Dataset, ImageTable, categories_from_names
    from svmlp.stats import compute_stats

    n = 20_000
    cats = list(categories_from_names([f"c{k}" for k in range(n)]))
    images = ImageTable.build(
        id=np.arange(2), file_name=["a.jpg", "b.jpg"], split=["train", "val"], width=[64, 64], height=[48, 48]
    )
    boxes = BoxTable.build(
        id=np.arange(3),
        image=np.array([0, 0, 1]),
        category=np.array([0, n - 1, n - 1]),
        xyxy=np.array([[1.0, 1, 40, 40], [2, 2, 5, 5], [0, 0, 64, 48]]),
    )
    ds = Dataset(cats, images, boxes)
    stats = compute_stats(ds)
    last = stats["all"]["classes"][f"c{n - 1}"]
    assert (last["boxes"], last["images"], last["small"], last["large"]) == (2, 2, 1, 0)
    assert stats["splits"]["train"]["classes"]["c0"]["medium"] == 1
