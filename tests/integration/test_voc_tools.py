"""VOC that VOC tools read: svmlp's output through the reading code of torchvision's
``VOCDetection`` and of the devkit evaluation's ``parse_rec`` (py-faster-rcnn's ``voc_eval.py``),
reproduced here without importing either; and the shared VOC fixtures through every verb.

torchvision (``torchvision/datasets/voc.py``): ``root/VOCdevkit/VOC2007``, ids from
``ImageSets/Main/<image_set>.txt``, ``JPEGImages/<id>.jpg``, ``Annotations/<id>.xml`` parsed by
``parse_voc_xml`` into nested dicts. ``voc_eval``: every listed id's XML, each ``<object>``'s
``name``, ``pose``, ``int(truncated)``, ``int(difficult)`` and ``int`` box corners.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import inspect
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp.cli import main
from svmlp.formats import voc
from svmlp.formats._images import place_images
from svmlp.formats._layout import atomic_output_dir

# -- the tools' reading code --------------------------------------------------------------------


def parse_voc_xml(node: ET.Element) -> dict[str, Any]:
    """torchvision's ``VOCDetection.parse_voc_xml``, as it is."""
    voc_dict: dict[str, Any] = {}
    children = list(node)
    if children:
        def_dic: dict[str, list[Any]] = collections.defaultdict(list)
        for dc in map(parse_voc_xml, children):
            for ind, v in dc.items():
                def_dic[ind].append(v)
        if node.tag == "annotation":
            def_dic["object"] = [def_dic["object"]]
        voc_dict = {node.tag: {ind: v[0] if len(v) == 1 else v for ind, v in def_dic.items()}}
    if node.text:
        text = node.text.strip()
        if not children:
            voc_dict[node.tag] = text
    return voc_dict


def voc_detection(root: Path, image_set: str, year: str = "2007") -> list[tuple[Image.Image, dict[str, Any]]]:
    """torchvision's ``VOCDetection(root, year, image_set)``: every (image, target) it yields."""
    voc_root = os.path.join(root, "VOCdevkit", f"VOC{year}")
    if not os.path.isdir(voc_root):
        raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
    split_f = os.path.join(voc_root, "ImageSets", "Main", image_set.rstrip("\n") + ".txt")
    with open(split_f) as f:
        file_names = [x.strip() for x in f.readlines()]
    images = [os.path.join(voc_root, "JPEGImages", x + ".jpg") for x in file_names]
    targets = [os.path.join(voc_root, "Annotations", x + ".xml") for x in file_names]
    out = []
    for img_path, target_path in zip(images, targets):
        img = Image.open(img_path).convert("RGB")
        out.append((img, parse_voc_xml(ET.parse(target_path).getroot())))
    return out


def parse_rec(filename: str) -> list[dict[str, Any]]:
    """``voc_eval.parse_rec`` (py-faster-rcnn, and the many detectors that copied it)."""
    tree = ET.parse(filename)
    objects = []
    for obj in tree.findall("object"):
        obj_struct: dict[str, Any] = {}
        obj_struct["name"] = obj.find("name").text  # type: ignore[union-attr]
        obj_struct["pose"] = obj.find("pose").text  # type: ignore[union-attr]
        obj_struct["truncated"] = int(obj.find("truncated").text)  # type: ignore[union-attr,arg-type]
        obj_struct["difficult"] = int(obj.find("difficult").text)  # type: ignore[union-attr,arg-type]
        bbox = obj.find("bndbox")
        obj_struct["bbox"] = [
            int(bbox.find("xmin").text),  # type: ignore[union-attr,arg-type]
            int(bbox.find("ymin").text),  # type: ignore[union-attr,arg-type]
            int(bbox.find("xmax").text),  # type: ignore[union-attr,arg-type]
            int(bbox.find("ymax").text),  # type: ignore[union-attr,arg-type]
        ]
        objects.append(obj_struct)
    return objects


def voc_eval_records(voc_root: Path, image_set: str) -> dict[str, list[dict[str, Any]]]:
    """What ``voc_eval`` loads: the ids of the image set, each id's ``parse_rec``."""
    with open(voc_root / "ImageSets" / "Main" / f"{image_set}.txt") as f:
        imagenames = [x.strip() for x in f.readlines()]
    return {name: parse_rec(str(voc_root / "Annotations" / f"{name}.xml")) for name in imagenames}


# -- svmlp's side -------------------------------------------------------------------------------------


def write_voc(ds: svmlp.Dataset, out: Path, layout: str) -> None:
    """``svmlp.write(ds, out, format="voc", layout=...)``; where the registry does not pass write
    options on yet, the same steps it takes (atomic folder, the plug-in's write, its images)."""
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(svmlp.write).parameters.values()):
        svmlp.write(ds, out, format="voc", layout=layout)
        return
    with atomic_output_dir(out) as tmp:
        voc.write(ds, tmp, layout=layout)
        place_images(ds, tmp, functools.partial(voc.image_destination, layout=layout), "copy")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> svmlp.Dataset:
    from svmlp.synth import generate_annotations, render

    ds = generate_annotations(24, seed=11, unlabelled=0.15, negatives=0.15)
    return render(ds, tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def devkit(synth: svmlp.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("devkit") / "out"
    write_voc(synth, out, "devkit")
    return out


def _rows(ds: svmlp.Dataset, split: str, labelled: bool) -> list[int]:
    return np.flatnonzero((ds.images.split == split) & (ds.images.labelled == labelled)).tolist()


def test_the_synthetic_set_has_what_the_checks_need(synth: svmlp.Dataset) -> None:
    assert {"train", "val"} <= set(synth.splits)
    assert (~synth.images.labelled).any()
    assert (synth.images.labelled & (np.diff(synth.offsets) == 0)).any()


def test_torchvision_voc_detection_reads_every_labelled_image(synth: svmlp.Dataset, devkit: Path) -> None:
    for split in synth.splits:
        got = voc_detection(devkit, split)
        rows = _rows(synth, split, True)
        assert len(got) == len(rows), split  # unlabelled images are in no list
        for (img, target), i in zip(got, rows):
            ann = target["annotation"]
            assert img.size == (int(ann["size"]["width"]), int(ann["size"]["height"]))
            assert img.size == (int(synth.images.width[i]), int(synth.images.height[i]))
            assert ann["filename"] == synth.images.file_name[i] and ann["segmented"] == "0"
            objects = [o for o in ann["object"] if o] if isinstance(ann["object"], list) else [ann["object"]]
            assert [o["name"] for o in objects] == [b.category for b in synth.boxes_of(i)]
            for o, b in zip(objects, synth.boxes_of(i)):
                assert set(o) >= {"name", "pose", "truncated", "difficult", "bndbox"}
                box = [int(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                assert box == [round(b.xyxy[0]) + 1, round(b.xyxy[1]) + 1, round(b.xyxy[2]), round(b.xyxy[3])]


def test_voc_eval_parse_rec_reads_every_listed_id(synth: svmlp.Dataset, devkit: Path) -> None:
    root = devkit / "VOCdevkit" / "VOC2007"
    lists = sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt"))
    assert lists == sorted({*synth.splits, "trainval"})
    for split in synth.splits:
        recs = voc_eval_records(root, split)
        assert list(recs) == [Path(synth.images.file_name[i]).stem for i in _rows(synth, split, True)]
        for name, objects in recs.items():
            assert all(o["pose"] == "Unspecified" and o["difficult"] in (0, 1) for o in objects), name
    train, val = (voc_eval_records(root, s) for s in ("train", "val"))
    assert list(voc_eval_records(root, "trainval")) == [*train, *val]


def test_devkit_output_reads_back_whole(synth: svmlp.Dataset, devkit: Path) -> None:
    from helpers import assert_same_dataset, kept_by

    assert svmlp.detect(devkit) == "voc"
    back = svmlp.read(devkit)
    assert back.notes == []
    assert_same_dataset(synth, back, **kept_by("voc"))

    # unlabelled images: in no list, kept by the sidecar, read back unlabelled with their split
    def state(ds: svmlp.Dataset) -> set[tuple[str, str, bool]]:
        im = ds.images
        return set(zip(im.split.tolist(), im.file_name.tolist(), im.labelled.tolist()))

    assert state(back) == state(synth)
    assert set(back.roots.values()) == {devkit / "VOCdevkit" / "VOC2007" / "JPEGImages"}


def test_plain_layout_lists_only_labelled_images(synth: svmlp.Dataset, tmp_path: Path) -> None:
    from helpers import assert_same_dataset, kept_by

    out = tmp_path / "plain"
    report = svmlp.write(synth, out, format="voc")
    assert any("unlabelled image(s) have no XML file" in n for n in report.notes)
    listed = {ln for p in (out / "ImageSets" / "Main").glob("*.txt") for ln in p.read_text().split()}
    xmls = {p.stem for p in (out / "Annotations").glob("*.xml")}
    assert listed == xmls == {Path(n).stem for n in synth.images.file_name[synth.images.labelled].tolist()}
    for p in (out / "Annotations").glob("*.xml"):
        root = ET.parse(p).getroot()
        assert root.find("size") is not None and root.find("segmented") is not None
    assert_same_dataset(synth, svmlp.read(out), **kept_by("voc"))


def test_cli_voc_layout_devkit(
    synth: svmlp.Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(svmlp.write).parameters.values()):
        pytest.skip("svmlp.formats.write does not pass format options to the writer yet")
    src = tmp_path / "src"
    svmlp.write(synth, src, format="coco")
    assert (
        main(["convert", str(src), "--to", "voc", "--voc-layout", "devkit", "-o", str(tmp_path / "o")]) == 0
    )
    assert len(voc_detection(tmp_path / "o", "train")) == len(_rows(synth, "train", True))
    assert (
        main(["convert", str(src), "--to", "coco", "--voc-layout", "devkit", "-o", str(tmp_path / "x")]) == 2
    )
    assert "--voc-layout applies to --to voc" in capsys.readouterr().err


# -- the shared fixtures, read in place through every verb -------------------------------------------


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("fixture", "images", "decimals"),
    [
        ("datumaro/voc_dataset/voc_dataset1", "copy", False),
        ("datumaro/voc_dataset/voc_dataset2", "none", True),
        ("labelformat/PascalVOC", "none", True),
    ],
)
def test_shared_fixtures_through_the_cli(
    fixture: str,
    images: str,
    decimals: bool,
    fixtures_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = fixtures_dir / fixture
    before = _digest(src)
    assert main(["stats", str(src)]) == 0
    err = capsys.readouterr().err
    # decimals, but no 0: the devkit's convention is kept, and the way out is named
    assert ("--voc-origin 0" in err) is decimals
    for to in ("coco", "yolo", "voc"):
        if to == "yolo" and fixture.endswith("voc_dataset2"):
            continue  # no <size> and no image: YOLO cannot normalise (an error by design)
        rc = main(["convert", str(src), "--to", to, "--images", images, "-o", str(tmp_path / to)])
        assert rc == 0, capsys.readouterr().err
    assert main(["audit", str(src)]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err
    assert _digest(src) == before
