"""Pascal VOC as people have it (issue 14): Kaggle's ``annotations/`` beside ``images/``, stale
``<filename>`` and ``<size>``, Roboflow's split folders, 0-based exports, images with no XML.

Every case is read with auto-detection, from Python and from the command line; the notes are
asserted, nothing is dropped or merged silently, and the source is hashed before and after.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp.audit import run_audit
from svmlp.cli import main
from svmlp.formats import FORMATS

Box = tuple[str, Sequence[object]]


def xml(
    filename: str | None,
    objects: Sequence[Box] = (),
    *,
    size: tuple[int, int] | None = None,
    path: str | None = None,
    svmlp_id: int | None = None,
) -> str:
    """A VOC annotation as tools write it; coordinates are written exactly as given."""
    parts = ["<annotation><folder>images</folder>"]
    if filename is not None:
        parts.append(f"<filename>{filename}</filename>")
    if path is not None:
        parts.append(f"<path>{path}</path>")
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    if svmlp_id is not None:
        parts.append(f'<svmlp id="{svmlp_id}"/>')
    for name, (x0, y0, x1, y1) in objects:
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>\n"


def image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A small image with a pattern of its own (identical images would be findings too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = int(hashlib.sha256(path.name.encode()).hexdigest()[:8], 16)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).resize(size, Image.NEAREST).save(path)
    return path


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its content's hash: the source must not change."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


CAR = ("car", (5, 6, 40, 30))
PLATE = ("plate", (12, 20, 24, 26))


def read_all_ways(src: Path, capsys: pytest.CaptureFixture[str], **options: object) -> svmlp.Dataset:
    """Auto-detected as VOC; read from Python; the CLI's stats print the same notes; the source
    unchanged."""
    before = digest(src)
    assert svmlp.detect(src) == "voc"
    ds = svmlp.read(src, **options)
    capsys.readouterr()
    argv = ["stats", str(src), *(f"--voc-origin={options['origin']}" for _ in ["o"] if "origin" in options)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert [ln.removeprefix("note: ") for ln in err.splitlines() if ln.startswith("note: ")] == ds.notes
    assert digest(src) == before
    return ds


def names_of(ds: svmlp.Dataset) -> dict[str, tuple[str, bool, str]]:
    im = ds.images
    assert im.label_file is not None
    return {
        n: (s, bool(lab), Path(lf).name if lf else "")
        for n, s, lab, lf in zip(
            im.file_name.tolist(), im.split.tolist(), im.labelled.tolist(), im.label_file.tolist()
        )
    }


def note(ds: svmlp.Dataset, words: str) -> str:
    found = [n for n in ds.notes if words in n]
    assert len(found) == 1, ds.notes
    return found[0]


# -- the Kaggle layout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "images"),
    [("annotations", "images"), ("Annotations", "images"), ("annotations", "JPEGImages")],
)
def test_kaggle_layout_finds_images_in_the_sibling_folder(
    annotations: str, images: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "plates"
    put(src / annotations / "Cars0.xml", xml("Cars0.png", [CAR, PLATE], size=(64, 48)))
    put(src / annotations / "Cars1.xml", xml("Cars1.png", [CAR], size=(64, 48)))
    image(src / images / "Cars0.png")
    image(src / images / "Cars1.png")
    assert FORMATS["voc"].sniff(src) is not None
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {
        "Cars0.png": ("train", True, "Cars0.xml"),
        "Cars1.png": ("train", True, "Cars1.xml"),
    }
    assert ds.roots == {"train": src / images}
    assert ds.image_path(0) == src / images / "Cars0.png"
    assert (ds.images.header_width > 0).all()  # the images were found and their headers read
    assert ds.notes == []
    assert ds.images.label_file is not None
    assert ds.images.label_file.tolist() == [
        str(src / annotations / "Cars0.xml"),
        str(src / annotations / "Cars1.xml"),
    ]


def test_kaggle_layout_converts_with_its_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "plates"
    put(src / "annotations" / "Cars0.xml", xml("Cars0.png", [CAR, PLATE], size=(64, 48)))
    image(src / "images" / "Cars0.png")
    before = digest(src)
    for fmt in ("coco", "yolo", "voc"):
        assert main(["convert", str(src), "--to", fmt, "-o", str(tmp_path / fmt)]) == 0, (
            capsys.readouterr().err
        )
        back = svmlp.read(tmp_path / fmt)
        assert back.images.file_name.tolist() == ["Cars0.png"] and len(back.boxes) == 2
    assert digest(src) == before


# -- stale <filename> -------------------------------------------------------------------------------


def test_augmented_copies_that_keep_the_originals_name_take_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "kaggle"
    for stem in ("photo12", "photo12_aug1", "photo12_aug2"):
        put(src / "annotations" / f"{stem}.xml", xml("photo12.png", [CAR], size=(64, 48)))
        image(src / "images" / f"{stem}.png")
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {
        "photo12.png": ("train", True, "photo12.xml"),
        "photo12_aug1.png": ("train", True, "photo12_aug1.xml"),
        "photo12_aug2.png": ("train", True, "photo12_aug2.xml"),
    }
    text = note(ds, "found by their annotation file's own name")
    assert text.startswith("2 image(s)") and "photo12_aug1.xml says 'photo12.png'" in text


def test_a_filename_naming_a_missing_image_falls_back_to_the_stem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "kaggle"
    put(src / "annotations" / "photo3_aug1.xml", xml("photo3.jpg", [CAR], size=(64, 48)))
    put(src / "annotations" / "photo4.xml", xml(None, [CAR], size=(64, 48)))  # no <filename> at all
    put(src / "annotations" / "photo5.xml", xml("photo5", [CAR], size=(64, 48)))  # no extension
    for stem in ("photo3_aug1", "photo4", "photo5"):
        image(src / "images" / f"{stem}.jpg")
    ds = read_all_ways(src, capsys)
    assert sorted(ds.images.file_name.tolist()) == ["photo3_aug1.jpg", "photo4.jpg", "photo5.jpg"]
    assert ds.images.labelled.all()
    assert note(ds, "found by their annotation file's own name").startswith("1 image(s)")


def test_path_is_used_when_filename_misses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "kaggle"
    put(
        src / "annotations" / "x.xml",
        xml("gone.jpg", [CAR], size=(64, 48), path="C:\\Users\\me\\data\\real name.jpg"),
    )
    image(src / "images" / "real name.jpg")
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {"real name.jpg": ("train", True, "x.xml")}


def test_an_existing_named_image_wins_and_the_stem_image_stays_unlabelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "kaggle"
    put(src / "annotations" / "a.xml", xml("b.jpg", [CAR], size=(64, 48)))
    image(src / "images" / "a.jpg")
    image(src / "images" / "b.jpg")
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {"b.jpg": ("train", True, "a.xml"), "a.jpg": ("train", False, "")}
    assert "a.xml labels 'b.jpg', not 'a.jpg'" in note(ds, "although an image of their own name exists")
    assert note(ds, "have no annotation file").startswith("1 image(s)")


def test_two_files_for_one_image_are_never_merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "kaggle"
    put(src / "annotations" / "a.xml", xml("a.jpg", [CAR], size=(64, 48)))
    put(src / "annotations" / "copy.xml", xml("a.jpg", [PLATE], size=(64, 48)))  # no copy.jpg
    image(src / "images" / "a.jpg")
    before = digest(src)
    with pytest.raises(svmlp.AnnotationError, match=r"copy\.xml: labels image 'a\.jpg', as .*a\.xml does"):
        svmlp.read(src)
    assert main(["stats", str(src)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    lenient = svmlp.read(src, strict=False)  # the audit's way: a finding, both files kept
    assert "duplicate_file" in {check for check, _ in lenient.read_issues}
    assert sorted(lenient.images.label_file.tolist()) == [
        str(src / "annotations" / n) for n in ("a.xml", "copy.xml")
    ]
    assert digest(src) == before


def test_a_training_file_never_silently_labels_a_validation_image(tmp_path: Path) -> None:
    """Devkit lists: an augmented copy in train.txt whose <filename> names the val image."""
    src = tmp_path / "devkit"
    put(src / "Annotations" / "p1.xml", xml("p1.jpg", [CAR], size=(64, 48)))
    put(src / "Annotations" / "p1_aug.xml", xml("p1.jpg", [CAR], size=(64, 48)))  # p1_aug.jpg is missing
    put(src / "ImageSets" / "Main" / "val.txt", "p1\n")
    put(src / "ImageSets" / "Main" / "train.txt", "p1_aug\n")
    image(src / "JPEGImages" / "p1.jpg")
    with pytest.raises(svmlp.AnnotationError, match=r"in splits train and val"):
        svmlp.read(src)
    image(src / "JPEGImages" / "p1_aug.jpg")  # with its own image, each file takes its own
    ds = svmlp.read(src)
    assert names_of(ds) == {"p1.jpg": ("val", True, "p1.xml"), "p1_aug.jpg": ("train", True, "p1_aug.xml")}


# -- stale <size> -----------------------------------------------------------------------------------


def stale_sizes(src: Path) -> Path:
    """Three images saved at half the size their XML states (boxes fit the real size), one right."""
    for k in range(3):
        put(src / "annotations" / f"s{k}.xml", xml(f"s{k}.jpg", [("car", (2, 2, 60, 40))], size=(128, 96)))
        image(src / "images" / f"s{k}.jpg", (64, 48))
    put(src / "annotations" / "ok.xml", xml("ok.jpg", [("car", (2, 2, 60, 40))], size=(64, 48)))
    image(src / "images" / "ok.jpg", (64, 48))
    return src


def test_a_stale_size_keeps_the_real_one_and_records_the_stated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = stale_sizes(tmp_path / "stale")
    ds = read_all_ways(src, capsys)
    im = ds.images
    assert (im.width.tolist(), im.height.tolist()) == ([64] * 4, [48] * 4)
    assert im.stored_width is not None and im.stored_height is not None
    assert (im.stored_width.tolist(), im.stored_height.tolist()) == ([0, 128, 128, 128], [0, 96, 96, 96])
    text = note(ds, "<size> in their annotation file differs")
    assert text.startswith("3 image(s)") and "<size> 128x96, image 64x48" in text and "s0.xml" in text
    # --no-probe: nothing read from the images, the stated size is all there is
    assert svmlp.read(src, probe=False).images.width.tolist() == [64, 128, 128, 128]


@pytest.mark.parametrize("scan", [True, False])
def test_audit_reports_each_stale_size_once_and_no_border_against_it(tmp_path: Path, scan: bool) -> None:
    src = stale_sizes(tmp_path / "stale")
    # a box past both the real and the stated size: the real size is still its frame
    put(src / "annotations" / "s0.xml", xml("s0.jpg", [("car", (2, 2, 140, 40))], size=(128, 96)))
    report = run_audit(svmlp.read(src, strict=False), scan=scan)
    sizes = [i for i in report.issues if i.check == "size_mismatch"]
    names = sorted(str(report.dataset.images.file_name[i.image]) for i in sizes)
    assert names == ["s0.jpg", "s1.jpg", "s2.jpg"]
    assert all("128×96" in i.message and "64×48" in i.message for i in sizes)
    border = [i for i in report.issues if i.check == "box_past_border"]
    # measured against the real 64x48: only the box that reaches x = 140 is past it
    assert [str(report.dataset.images.file_name[i.image]) for i in border] == ["s0.jpg"]
    assert "64×48 image" in border[0].message


def test_audit_cli_on_stale_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = stale_sizes(tmp_path / "stale")
    before = digest(src)
    assert main(["audit", str(src)]) == 1
    out = capsys.readouterr().out
    found = out.split("no issues:")[0]
    assert "size_mismatch" in found and "box_past_border" not in found
    assert digest(src) == before


def test_an_image_resized_after_labelling_keeps_the_stated_size(tmp_path: Path) -> None:
    """Boxes past the file but inside the stated size: the stated size is the boxes' frame."""
    src = tmp_path / "resized"
    put(src / "annotations" / "r.xml", xml("r.jpg", [("car", (10, 10, 120, 90))], size=(128, 96)))
    image(src / "images" / "r.jpg", (64, 48))
    ds = svmlp.read(src)
    assert (ds.images.width[0], ds.images.height[0]) == (128, 96) and ds.images.stored_width is None
    assert "resized after labelling" in note(ds, "reach past the file")
    report = run_audit(ds)
    assert [i.check for i in report.issues if i.check in ("size_mismatch", "box_past_border")] == [
        "size_mismatch"
    ]


# -- Roboflow's split folders ------------------------------------------------------------------------


def roboflow(src: Path) -> Path:
    """train/, valid/, test/, each with its images and XML files (0-based decimals, as exported)."""
    for split, stems in (("train", ["t1", "t2"]), ("valid", ["v1"]), ("test", ["e1"])):
        for stem in stems:
            put(
                src / split / f"{stem}_jpg.rf.abc.xml",
                xml(f"{stem}_jpg.rf.abc.jpg", [("car", ("0.0", "3.5", "40.0", "30.0"))], size=(64, 48)),
            )
            image(src / split / f"{stem}_jpg.rf.abc.jpg")
    put(src / "README.roboflow.txt", "exported from roboflow\n")
    return src


def test_roboflow_split_folders_become_splits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = roboflow(tmp_path / "rf")
    assert "split folders" in FORMATS["voc"].sniff(src).why  # type: ignore[union-attr]
    ds = read_all_ways(src, capsys)
    assert ds.splits == ["train", "val", "test"]
    assert {n: s for n, (s, _, _) in names_of(ds).items()} == {
        "t1_jpg.rf.abc.jpg": "train",
        "t2_jpg.rf.abc.jpg": "train",
        "v1_jpg.rf.abc.jpg": "val",
        "e1_jpg.rf.abc.jpg": "test",
    }
    assert ds.roots == {"train": src / "train", "val": src / "valid", "test": src / "test"}
    # decimals with a 0: the 0-based convention, inferred and said
    assert ds.boxes.xyxy[0].tolist() == [0.0, 3.5, 40.0, 30.0]
    assert "--voc-origin 1" in note(ds, "read as 0-based coordinates (inferred")


def test_a_split_folder_never_borrows_another_splits_image(tmp_path: Path) -> None:
    src = roboflow(tmp_path / "rf")
    # a training copy whose <filename> names the validation image: not looked for in valid/
    put(src / "train" / "v1_aug.xml", xml("v1_jpg.rf.abc.jpg", [CAR], size=(64, 48)))
    ds = svmlp.read(src)
    row = ds.images.label_file.tolist().index(str(src / "train" / "v1_aug.xml"))  # type: ignore[union-attr]
    assert ds.images.split[row] == "train" and ds.image_path(row) == src / "train" / "v1_jpg.rf.abc.jpg"
    assert not ds.image_path(row).exists()  # type: ignore[union-attr]  # missing: the audit says so


@pytest.mark.parametrize("shared", [False, True])
def test_split_folders_inside_annotations(
    shared: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``annotations/train/`` and ``annotations/valid/``, images per split or in one folder."""
    src = tmp_path / "k"
    for split, stem in (("train", "a"), ("valid", "b")):
        put(src / "annotations" / split / f"{stem}.xml", xml(f"{stem}.jpg", [CAR], size=(64, 48)))
        image(src / "images" / ("" if shared else split) / f"{stem}.jpg")
    image(src / "images" / ("" if shared else "train") / "c.jpg")  # no XML
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {
        "a.jpg": ("train", True, "a.xml"),
        "b.jpg": ("val", True, "b.xml"),
        "c.jpg": ("unlisted" if shared else "train", False, ""),
    }
    if shared:  # a training file naming the validation image is refused, not merged
        put(src / "annotations" / "train" / "b_aug.xml", xml("b.jpg", [CAR], size=(64, 48)))
        with pytest.raises(
            svmlp.AnnotationError,
            match=r"labels image 'b\.jpg', as .*b_aug\.xml does, in splits train and val",
        ):
            svmlp.read(src)


def test_a_layout_and_split_folders_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = roboflow(tmp_path / "rf")
    put(src / "annotations" / "t1.xml", xml("t1.jpg", [CAR]))
    with pytest.raises(svmlp.AnnotationError, match=r"holds annotations/ and split folders .*train/"):
        svmlp.read(src)
    assert main(["stats", str(src)]) == 2
    assert "Traceback" not in capsys.readouterr().err


# -- the origin -------------------------------------------------------------------------------------


def test_whole_numbers_with_a_zero_are_read_0_based_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "zero"
    put(src / "annotations" / "a.xml", xml("a.jpg", [("car", (0, 4, 30, 20))], size=(64, 48)))
    put(src / "annotations" / "b.xml", xml("b.jpg", [("car", (5, 6, 30, 20))], size=(64, 48)))
    image(src / "images" / "a.jpg")
    image(src / "images" / "b.jpg")
    ds = read_all_ways(src, capsys)
    assert ds.boxes.xyxy.tolist() == [[0, 4, 30, 20], [5, 6, 30, 20]]
    assert "1 of 2 annotation file(s) have xmin or ymin 0" in note(
        ds, "read as 0-based coordinates (inferred"
    )
    # an explicit origin overrides the inference, and says nothing
    one = read_all_ways(src, capsys, origin=1)
    assert one.boxes.xyxy.tolist() == [[-1, 3, 30, 20], [4, 5, 30, 20]] and one.notes == []


def test_decimals_alone_are_noted_not_acted_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "dec"
    put(src / "a.xml", xml("a.jpg", [("car", ("5.0", "6.0", "30.0", "20.0"))], size=(64, 48)))
    image(src / "a.jpg")
    ds = read_all_ways(src, capsys)
    assert ds.boxes.xyxy.tolist() == [[4, 5, 30, 20]]
    assert "--voc-origin 0" in note(ds, "write coordinates as decimals")
    assert read_all_ways(src, capsys, origin=0).boxes.xyxy.tolist() == [[5, 6, 30, 20]]


def test_a_zero_among_files_written_two_ways_is_only_noted(tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    put(src / "a.xml", xml("a.jpg", [("car", ("0.0", "6.0", "30.0", "20.0"))], size=(64, 48)))
    put(src / "b.xml", xml("b.jpg", [("car", (5, 6, 30, 20))], size=(64, 48)))
    ds = svmlp.read(src)
    assert ds.boxes.xyxy[:, 0].tolist() == [-1, 4]
    assert "--voc-origin 0" in note(ds, "two tools?")


def test_files_svmlp_wrote_are_never_reinterpreted(tmp_path: Path) -> None:
    """svmlp writes a box a pixel past the left border as xmin 0; that is no 0-based sign."""
    src = tmp_path / "ours"
    put(src / "a.xml", xml("a.jpg", [("car", (0, 4, 30, 20))], size=(64, 48), svmlp_id=3))
    ds = svmlp.read(src)
    assert ds.boxes.xyxy.tolist() == [[-1, 3, 30, 20]] and ds.notes == []


def test_origin_must_be_0_or_1(tmp_path: Path) -> None:
    src = put(tmp_path / "a.xml", xml("a.jpg", [CAR])).parent
    with pytest.raises(svmlp.UsageError, match="origin must be 0 or 1"):
        svmlp.read(src, origin=2)


# -- images with no XML --------------------------------------------------------------------------------


def test_images_without_xml_in_a_flat_folder_are_unlabelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "flat"
    put(src / "a.xml", xml("a.jpg", [CAR], size=(64, 48)))
    for name in ("a.jpg", "b.jpg", "c.png"):
        image(src / name)
    put(src / "notes.txt", "not an image\n")
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {
        "a.jpg": ("train", True, "a.xml"),
        "b.jpg": ("train", False, ""),
        "c.png": ("train", False, ""),
    }
    assert note(ds, "have no annotation file").startswith("2 image(s)")
    issues = run_audit(svmlp.read(src, strict=False)).issues
    assert sorted(str(ds.images.file_name[i.image]) for i in issues if i.check == "unlabelled_image") == [
        "b.jpg",
        "c.png",
    ]


@pytest.mark.parametrize("where", ["images", "annotations"])
def test_xml_files_with_images_in_another_place(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``*.xml`` at the top with ``images/`` beside them; ``annotations/`` holding the images too."""
    src = tmp_path / "d"
    folder = src / "annotations" if where == "annotations" else src
    put(folder / "a.xml", xml("a.jpg", [CAR], size=(64, 48)))
    image((src / where) / "a.jpg")
    ds = read_all_ways(src, capsys)
    assert names_of(ds) == {"a.jpg": ("train", True, "a.xml")} and ds.notes == []
    assert ds.image_path(0) == src / where / "a.jpg"


def test_devkit_images_with_no_xml_are_unlabelled_in_split_unlisted(tmp_path: Path) -> None:
    src = tmp_path / "devkit"
    put(src / "Annotations" / "a.xml", xml("a.jpg", [CAR], size=(64, 48)))
    put(src / "ImageSets" / "Main" / "train.txt", "a\n")
    image(src / "JPEGImages" / "a.jpg")
    image(src / "JPEGImages" / "z.jpg")
    ds = svmlp.read(src)
    assert names_of(ds) == {"a.jpg": ("train", True, "a.xml"), "z.jpg": ("unlisted", False, "")}
    assert "(split unlisted)" in note(ds, "have no annotation file")


# -- the devkit tree, nested ---------------------------------------------------------------------------


@pytest.mark.parametrize("nest", ["VOC2012", "VOCdevkit/VOC2007"])
def test_a_nested_devkit_tree_is_detected(
    nest: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "voc" / nest
    put(root / "Annotations" / "a.xml", xml("a.jpg", [CAR], size=(64, 48)))
    put(root / "ImageSets" / "Main" / "val.txt", "a\n")
    image(root / "JPEGImages" / "a.jpg")
    assert nest in FORMATS["voc"].sniff(tmp_path / "voc").why  # type: ignore[union-attr]
    ds = read_all_ways(tmp_path / "voc", capsys)
    assert names_of(ds) == {"a.jpg": ("val", True, "a.xml")}


def test_two_devkit_years_are_refused_with_a_choice(tmp_path: Path) -> None:
    for year in ("VOC2007", "VOC2012"):
        put(tmp_path / "VOCdevkit" / year / "Annotations" / "a.xml", xml("a.jpg", [CAR]))
    assert svmlp.detect(tmp_path) == "voc"
    with pytest.raises(
        svmlp.AnnotationError, match=r"holds 2 VOC trees \(VOC2007, VOC2012\); read one at a time"
    ):
        svmlp.read(tmp_path)


def _walk(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file())


def test_label_file_names_the_xml_as_the_user_typed_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path / "d" / "annotations" / "a.xml", xml("a.jpg", [CAR]))
    image(tmp_path / "d" / "images" / "a.jpg")
    monkeypatch.chdir(tmp_path)
    ds = svmlp.read("d")
    assert ds.images.label_file is not None and ds.images.label_file.tolist() == ["d/annotations/a.xml"]
    assert np.array_equal(ds.images.labelled, [True])
    assert sorted(p.name for p in _walk(tmp_path / "d")) == ["a.jpg", "a.xml"]


def test_a_single_xml_file_names_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(svmlp.AnnotationError, match=r"a\.xml: VOC is read a folder at a time; give svmlp"):
        svmlp.read(tmp_path / "a.xml")
