"""Bad input gives an SvmlpError naming the file and what is wrong; the CLI prints one line, exits 2,
and leaves no output behind."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp.cli import main

GOOD_COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "plate"}],
}


def _coco(tmp: Path, doc: object | str) -> Path:
    path = tmp / "instances_train.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _patched(**changes: object) -> dict:
    doc = json.loads(json.dumps(GOOD_COCO))
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            doc[section][0][key] = value
        else:
            doc[section] = value
    return doc


COCO_CASES: dict[str, tuple[object, str]] = {
    "malformed json": (
        '{"images": [ {"id": 1,\n "file_name": "a.jpg" ]}',
        r"instances_train\.json:2: JSON is malformed",
    ),
    "results list": ([{"image_id": 1, "bbox": [0, 0, 1, 1]}], r"list \(a COCO results file\?\)"),
    "wrong type": (_patched(images__id="one"), r"at \$\.images\[0\]\.id: Expected `int`, got `str`"),
    "nan": ('{"images": [], "annotations": [], "categories": [], "x": NaN}', r"malformed"),
    "inf bbox": (
        json.dumps(_patched(annotations__bbox=[1, 2, 3, 4])).replace("[1, 2, 3, 4]", "[1e999, 2, 3, 4]"),
        r"\$\.annotations\[0\]\.bbox",
    ),
    "negative width": (
        _patched(annotations__bbox=[1, 2, -3, 4]),
        r"annotation id 1 has bbox \[1\.0, 2\.0, -3\.0, 4\.0\]",
    ),
    "negative image width": (_patched(images__width=-5), r"\$\.images\[0\]: negative width"),
    "short bbox": (_patched(annotations__bbox=[1, 2, 3]), r"\$\.annotations\[0\]\.bbox"),
    "unknown category": (_patched(annotations__category_id=9), r"annotation id 1 has category_id 9"),
    "unknown image": (_patched(annotations__image_id=7), r"annotation id 1 refers to image id 7"),
    "duplicate image id": (_patched(images=GOOD_COCO["images"] * 2), r"image id 1 appears twice"),
    "duplicate annotation id": (
        _patched(annotations=GOOD_COCO["annotations"] * 2),
        r"annotation id 1 appears twice",
    ),
    "duplicate category id": (
        _patched(categories=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]),
        r"category id 1 appears twice",
    ),
    "bad parent": (_patched(annotations__parent_id=99), r"parent_id 99, which is not an annotation"),
    "plate parent not a vehicle": (
        _patched(
            annotations=[
                GOOD_COCO["annotations"][0],
                {"id": 2, "image_id": 1, "category_id": 2, "bbox": [2, 3, 4, 2], "parent_id": 2},
            ]
        ),
        r"box id 2 .* is its own parent",
    ),
    "bad role": (_patched(categories__role="boss"), r"role 'boss'"),
    # past the first annotation: the chunked decode must name the row in the whole file
    "third annotation's image id": (
        _patched(
            annotations=[
                {**GOOD_COCO["annotations"][0], "id": k, "image_id": "x" if k == 3 else 1} for k in (1, 2, 3)
            ]
        ),
        r"at \$\.annotations\[2\]\.image_id: Expected `int`, got `str`",
    ),
    "second annotation's corners": (
        _patched(
            annotations=[
                GOOD_COCO["annotations"][0],
                {
                    "id": 2,
                    "image_id": 1,
                    "category_id": 2,
                    "bbox": [2, 3, 4, 2],
                    "plate": {"corners": [[1, 2]]},
                },
            ]
        ),
        r"at \$\.annotations\[1\]\.plate\.corners: expected 4 \[x, y\] points, found 1",
    ),
    "second annotation's attributes": (
        _patched(
            annotations=[
                GOOD_COCO["annotations"][0],
                {"id": 2, "image_id": 1, "category_id": 2, "bbox": [2, 3, 4, 2], "attributes": {"a": [1]}},
            ]
        ),
        r"at \$\.annotations\[1\]\.attributes",
    ),
}


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("case", list(COCO_CASES))
def test_bad_coco(case: str, chunked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad file gives the same one line whether its annotations decode at once or (a big
    file) a chunk at a time."""
    if chunked:
        from svmlp.formats import _cocojson

        monkeypatch.setattr(_cocojson, "CHUNKED_BYTES", 0)
        monkeypatch.setattr(_cocojson, "CHUNK", 1)
    doc, pattern = COCO_CASES[case]
    path = _coco(tmp_path, doc)
    with pytest.raises(svmlp.AnnotationError) as err:
        svmlp.read(path, format="coco")
    message = str(err.value)
    assert str(path.name) in message, message
    assert re.search(pattern, message), message
    assert "\n" not in message


def _yolo(tmp: Path, label: str, *, names: str = "[car, plate]", image: bool = True) -> Path:
    (tmp / "data.yaml").write_text(f"train: images/train\nnames: {names}\n")
    (tmp / "images" / "train").mkdir(parents=True)
    (tmp / "labels" / "train").mkdir(parents=True)
    if image:
        Image.new("RGB", (64, 48)).save(tmp / "images" / "train" / "a.jpg")
    (tmp / "labels" / "train" / "a.txt").write_text(label)
    return tmp


YOLO_CASES: dict[str, tuple[dict, str]] = {
    "token count": ({"label": "0 0.5 0.5 0.2\n"}, r"a\.txt:1: 4 values; expected 5"),
    "even polygon": ({"label": "0 0.5 0.5 0.2 0.1 0.3\n"}, r"a\.txt:1: 6 values"),
    "class out of range": (
        {"label": "0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.1 0.1\n"},
        r"a\.txt:2: class '2' is not an index",
    ),
    "negative class": ({"label": "-1 0.5 0.5 0.2 0.2\n"}, r"a\.txt:1: class '-1'"),
    "fractional class": ({"label": "0.5 0.5 0.5 0.2 0.2\n"}, r"a\.txt:1: class '0\.5'"),
    "not a number": ({"label": "0 0.5 abc 0.2 0.2\n"}, r"a\.txt:1: expected numbers"),
    "nan": ({"label": "\n0 nan 0.5 0.2 0.2\n"}, r"a\.txt:2: values must be finite"),
    "negative size": (
        {"label": "0 0.5 0.5 -0.2 0.2\n"},
        r"a\.txt:1: values must be finite and normalised \(within ±10000\), with width, height >= 0",
    ),
    "label without image": (
        {"label": "0 0.5 0.5 0.2 0.2\n", "image": False},
        r"a\.txt: label file has no image",
    ),
    "names gap": (
        {"label": "", "names": "{0: car, 2: plate}"},
        r"data\.yaml: 'names' keys must be 0\.\.1 without gaps",
    ),
    "bad yaml": ({"label": "", "names": "[car, plate"}, r"data\.yaml:\d+: malformed YAML"),
}


@pytest.mark.parametrize("case", list(YOLO_CASES))
def test_bad_yolo(case: str, tmp_path: Path) -> None:
    kwargs, pattern = YOLO_CASES[case]
    root = _yolo(tmp_path, **kwargs)
    with pytest.raises(svmlp.SvmlpError) as err:
        svmlp.read(root, format="yolo")
    assert re.search(pattern, str(err.value)), str(err.value)


def test_yolo_stem_collision_on_write(tmp_path: Path) -> None:
    ds = svmlp.read(
        _coco(
            tmp_path,
            _patched(
                images=[
                    {"id": 1, "file_name": "a.jpg", "width": 8, "height": 8},
                    {"id": 2, "file_name": "a.png", "width": 8, "height": 8},
                ],
                annotations=[],
            ),
        ),
        format="coco",
    )
    with pytest.raises(
        svmlp.AnnotationError,
        match=r"'a\.jpg' and 'a\.png' .* would share the label file labels/train/a\.txt",
    ):
        svmlp.write(ds, tmp_path / "out", format="yolo", images="none")
    assert not (tmp_path / "out").exists()
    with pytest.raises(svmlp.AnnotationError, match=r"would share Annotations/a\.xml"):
        svmlp.write(ds, tmp_path / "out", format="voc", images="none")


VOC_CASES: dict[str, tuple[str, str]] = {
    "malformed xml": ("<annotation><object><name>car</name>\n<bndbox></object>", r"a\.xml:2: malformed XML"),
    "wrong root": ("<html/>", r"root element is <html>"),
    "no bndbox": (
        "<annotation><object><name>car</name></object></annotation>",
        r"object 1 \(car\) has no <bndbox>",
    ),
    "no name": ("<annotation><object><bndbox/></object></annotation>", r"object 1 has no <name>"),
    "text coordinate": (
        "<annotation><object><name>car</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax>"
        "<ymax>2</ymax></bndbox></object></annotation>",
        r"<xmin> is 'a', expected a finite number",
    ),
    "inverted": (
        "<annotation><object><name>car</name><bndbox><xmin>9</xmin><ymin>1</ymin><xmax>2</xmax>"
        "<ymax>2</ymax></bndbox></object></annotation>",
        r"expected finite xmin <= xmax",
    ),
    "negative size": (
        "<annotation><size><width>-3</width><height>4</height></size></annotation>",
        r"negative <size>",
    ),
}


@pytest.mark.parametrize("case", list(VOC_CASES))
def test_bad_voc(case: str, tmp_path: Path) -> None:
    xml, pattern = VOC_CASES[case]
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(xml)
    with pytest.raises(svmlp.AnnotationError) as err:
        svmlp.read(tmp_path, format="voc")
    assert "a.xml" in str(err.value) and re.search(pattern, str(err.value)), str(err.value)


def test_voc_image_in_two_splits(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation/>")
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("a\n")
    (sets / "test.txt").write_text("a\n")
    with pytest.raises(
        svmlp.AnnotationError,
        match=r"test\.txt:1: 'a' is also listed in train\.txt; an image belongs to one split",
    ):
        svmlp.read(tmp_path, format="voc")


def test_voc_listed_image_missing(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("ghost\n")
    with pytest.raises(
        svmlp.AnnotationError, match=r"train\.txt: 'ghost' has neither an annotation file nor an image"
    ):
        svmlp.read(tmp_path, format="voc")


def test_native_schema_error_cites_json_path(tmp_path: Path) -> None:
    doc = {"svmlp": {"version": "1.0", "split": "train"}, **_patched(annotations__link_score=0.5)}
    doc["annotations"][0]["plate"] = {"corners": [[0, 0], [1, 1]]}
    path = tmp_path / "train.svmlp.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(svmlp.SchemaError) as err:
        svmlp.read(path)
    assert re.search(
        r"train\.svmlp\.json at \$\.annotations\[0\]: 'parent_id' is a dependency of 'link_score'",
        str(err.value),
    ), str(err.value)


def test_missing_image_on_copy_leaves_no_output(tmp_path: Path) -> None:
    ds = svmlp.read(_coco(tmp_path, GOOD_COCO), format="coco")
    out = tmp_path / "out"
    with pytest.raises(svmlp.ImageError, match=r"image 'a\.jpg' \(split train\) is missing.*--images none"):
        svmlp.write(ds, out, format="yolo")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["instances_train.json"]  # no temporary folder left


def test_yolo_write_needs_sizes(tmp_path: Path) -> None:
    ds = svmlp.read(_coco(tmp_path, _patched(images__width=0, images__height=0)), format="coco")
    with pytest.raises(svmlp.ImageError, match=r"size unknown"):
        svmlp.write(ds, tmp_path / "out", format="yolo", images="none")


CLI_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "bad coco",
        lambda t: [
            "convert",
            str(_coco(t, _patched(annotations__category_id=9))),
            "--to",
            "yolo",
            "-o",
            str(t / "out"),
        ],
        "category_id 9",
    ),
    ("missing source", lambda t: ["stats", str(t / "nope")], "no such file or folder"),
    ("undetectable", lambda t: ["stats", str(t)], "cannot tell the format"),
    (
        "origin on coco",
        lambda t: ["stats", str(_coco(t, GOOD_COCO)), "--voc-origin", "0"],
        "--voc-origin applies to VOC",
    ),
]


@pytest.mark.parametrize("name,argv,expect", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_one_line_exit_2(
    name: str,
    argv: Callable[[Path], list[str]],
    expect: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "src").mkdir()
    code = main(argv(tmp_path / "src"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and expect in err and "Traceback" not in err, err
    assert not (tmp_path / "src" / "out").exists()


def test_cli_refuses_non_empty_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _coco(tmp_path, GOOD_COCO)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["convert", str(src), "--to", "coco", "-o", str(out), "--images", "none"]) == 2
    assert "not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert (
        main(["convert", str(src), "--to", "coco", "-o", str(out), "--images", "none", "--overwrite", "-q"])
        == 0
    )
    assert not (out / "keep.txt").exists() and (out / "annotations" / "instances_train.json").is_file()


def test_output_over_the_source_is_refused(tmp_path: Path) -> None:
    src = _coco(tmp_path, GOOD_COCO)
    ds = svmlp.read(src, format="coco")
    for out in (tmp_path, src):
        with pytest.raises(svmlp.UsageError, match="which the data set was read from"):
            svmlp.write(ds, out, format="coco", images="none", overwrite=True)
    assert src.is_file() and json.loads(src.read_text()) == GOOD_COCO
    svmlp.write(ds, tmp_path / "inside", format="coco", images="none")  # an output inside the source is fine


def test_split_names_survive_coco_and_voc(tmp_path: Path) -> None:
    from svmlp.model import ImageTable

    names = ["val2014", "val2017", "hard_val", "train_01"]
    ds = svmlp.read(_coco(tmp_path, GOOD_COCO), format="coco")
    im = ImageTable.build(
        id=[1, 2, 3, 4], file_name=[f"{n}.jpg" for n in names], split=names, width=[8] * 4, height=[8] * 4
    )
    ds = ds.replace(images=im, boxes=None)
    for fmt in ("coco", "voc", "yolo", "svmlp"):
        svmlp.write(ds, tmp_path / fmt, format=fmt, images="none")
        assert sorted(svmlp.read(tmp_path / fmt).splits) == sorted(names), fmt


def test_new_images_beside_svmlp_yolo_get_fresh_ids(tmp_path: Path) -> None:
    from svmlp.synth import generate

    ds = generate(tmp_path / "src", 3, seed=1, splits=(("train", 1.0),))
    svmlp.write(ds, tmp_path / "y", format="yolo")
    Image.new("RGB", (64, 48)).save(tmp_path / "y" / "images" / "train" / "zz_new.jpg")
    back = svmlp.read(tmp_path / "y")
    assert len(back) == 4 and len(set(back.images.id.tolist())) == 4
    assert back.image(int(np.flatnonzero(back.images.file_name == "zz_new.jpg")[0])).labelled is False


def test_two_images_one_label_file(tmp_path: Path) -> None:
    root = _yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    Image.new("RGB", (64, 48)).save(root / "images" / "train" / "a.png")
    with pytest.raises(
        svmlp.AnnotationError, match=r"a\.txt: is the label file of two images, a\.jpg and a\.png"
    ):
        svmlp.read(root, format="yolo")
