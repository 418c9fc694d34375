"""Detection says what it saw: layouts svmlp does not read are named (LabelMe, Label Studio, CVAT,
Open Images, a COCO results file, …), with ``format=`` from Python and ``--from`` from the command
line, in one line and exit 2; JSON that is not COCO is not parsed as COCO; the survey stays bounded.

The fixtures are read in place from ``../shared/fixtures``; LabelMe and results files are written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import svmlp
import svmlp.formats._peek as peek
from svmlp.cli import main
from svmlp.formats import FORMATS
from svmlp.formats._survey import MAX_PEEKS, LayoutError, survey

LABEL_STUDIO = "label-studio"
CVAT = "datumaro/cvat_dataset/for_images"
OPEN_IMAGES = "datumaro/open_images_dataset/v6"


def _labelme(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        doc = {
            "version": "5.4.1",
            "flags": {},
            "shapes": [{"label": "car", "points": [[1, 2], [30, 40]], "shape_type": "rectangle"}],
            "imagePath": f"{k}.jpg",
            "imageData": None,
            "imageHeight": 48,
            "imageWidth": 64,
        }
        (folder / f"{k:03d}.json").write_text(json.dumps(doc))
    return folder


def _results(path: Path) -> Path:
    preds = [{"image_id": 1, "category_id": 2, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9}] * 3
    path.write_text(json.dumps(preds))
    return path


def _python(path: Path, **kw: object) -> str:
    with pytest.raises(svmlp.AnnotationError) as info:
        svmlp.read(path, **kw)
    message = str(info.value)
    assert "\n" not in message and "--from" not in message and "--predictions" not in message
    return message


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "format=" not in err and "predictions=" not in err, err
    return err


# -- what was seen, when nothing fits -------------------------------------------------------------


def test_labelme_folder_is_detected(tmp_path: Path) -> None:
    """LabelMe is read now: detection finds it instead of naming it."""
    folder = _labelme(tmp_path / "labelme", 12)
    assert svmlp.detect(folder) == "labelme" and svmlp.detect(folder / "000.json") == "labelme"
    ds = svmlp.read(folder)
    assert len(ds) == 12 and len(ds.boxes) == 12 and ds.splits == ["train"]


def test_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _results(tmp_path / "preds.json")
    message = _python(path)
    assert "a list of {image_id, category_id, bbox, score}: this is a COCO results file" in message
    assert "predictions=" in message
    err = _cli(["audit", str(path)], capsys)
    assert "this is a COCO results file (svmlp evaluate/audit --predictions read it)" in err


@pytest.mark.parametrize("name", ["", "data.json", "data_obb.json", "data_polygons.json"])
def test_label_studio_is_detected(fixtures_dir: Path, name: str) -> None:
    """Label Studio is read now: detection finds it (its *.xml configs are not taken for VOC)."""
    path = fixtures_dir / LABEL_STUDIO / name
    assert svmlp.detect(path) == "label-studio"
    assert len(svmlp.read(path)) == {"": 6, "data.json": 2, "data_obb.json": 3, "data_polygons.json": 1}[name]


@pytest.mark.parametrize(
    "rel", ["export_project", "export_project/annotations.xml", "export_task", "export_task/train.xml"]
)
def test_cvat(fixtures_dir: Path, rel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fixtures_dir / CVAT / rel
    if "cvat" in FORMATS:  # read by a format of its own
        assert svmlp.detect(path) == "cvat"
        return
    message = _python(path)
    assert "with an <annotations> root: this is CVAT for images XML" in message
    err = _cli(["convert", str(path), "--to", "coco", "-o", str(tmp_path / "out")], capsys)
    assert "this is CVAT for images XML" in err and not (tmp_path / "out").exists()


def test_open_images(fixtures_dir: Path) -> None:
    """Registered as the read-only ``openimages`` format: found, no longer refused."""
    path = fixtures_dir / OPEN_IMAGES
    assert svmlp.detect(path) == "openimages"
    assert len(svmlp.read(path)) == 4


def test_dota(fixtures_dir: Path) -> None:
    path = fixtures_dir / "datumaro" / "dota_dataset"
    if "dota" in FORMATS:  # read by a format of its own: named with it when not found by itself
        try:
            assert svmlp.detect(path) == "dota"
            return
        except LayoutError as exc:
            assert "--from dota" in exc.cli_message and "format='dota'" in exc.python_message
    else:
        assert "rows `x1 y1 … x4 y4 class difficulty`: this looks like DOTA" in _python(path)


def test_yolo_labels_without_names(tmp_path: Path) -> None:
    for k in range(3):
        (tmp_path / f"{k}.txt").write_text("0 0.5 0.5 0.2 0.1\n")
    message = _python(tmp_path)
    assert "3 *.txt files with rows `class cx cy w h`: YOLO label files, but no data.yaml" in message
    assert "(add a data.yaml with `names` beside them)" in message


def test_supported_files_one_level_too_deep(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _python(fixtures_dir / "labelformat")
    assert (
        "COCO/train.json holding an object with `images`: COCO annotations (give svmlp the folder COCO/)"
        in message
    )
    assert "in PascalVOC/ with an <annotation> root: Pascal VOC annotations" in message


def test_nothing_to_say_keeps_the_short_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.json").write_text("[]")
    assert (
        _python(tmp_path / "notes.json")
        == f"{tmp_path / 'notes.json'}: cannot tell its format from its name; pass format="
    )
    assert _cli(["stats", str(tmp_path / "notes.json")], capsys).endswith("pass --from\n")
    (tmp_path / "empty").mkdir()
    assert _python(tmp_path / "empty").endswith("found); pass format=")


# -- a format named by the caller: one line on what the file is -------------------------------------


@pytest.mark.parametrize(
    ("make", "seen"),
    [
        (
            lambda t: _labelme(t / "lm", 1) / "000.json",
            "with `shapes`: this looks like LabelMe JSON, not a COCO data set",
        ),
        (lambda t: _results(t / "preds.json"), "this is a COCO results file, not a COCO data set"),
    ],
)
def test_coco_reader_refuses_other_json(
    tmp_path: Path, make: object, seen: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    message = _python(path, format="coco")
    assert message.startswith(f"{path}: a .json file ") and seen in message
    assert seen in _cli(["stats", str(path), "--from", "coco"], capsys)
    with pytest.raises(svmlp.AnnotationError, match="not a native SVMLP file"):
        svmlp.read(path, format="svmlp")


def test_forced_coco_on_foreign_folders(fixtures_dir: Path) -> None:
    assert "this is a Label Studio export, not a COCO data set" in _python(
        fixtures_dir / LABEL_STUDIO / "data.json", format="coco"
    )
    message = _python(fixtures_dir / OPEN_IMAGES, format="coco")
    assert (
        "bbox_labels_600_hierarchy.json: a .json file with `LabelName`/`Subcategory`: Open Images'" in message
    )


# -- the sniffs look at the JSON's shape ----------------------------------------------------------


def test_coco_sniff_checks_the_shape(tmp_path: Path) -> None:
    _labelme(tmp_path, 3)
    assert FORMATS["coco"].sniff(tmp_path) is None
    assert FORMATS["coco"].sniff(tmp_path / "000.json") is None
    (tmp_path / "instances_train.json").write_text('{"images": [], "annotations": [], "categories": []}')
    why = FORMATS["coco"].sniff(tmp_path).why
    assert why == "it holds instances_train.json, a JSON object with images/annotations/categories"
    assert svmlp.detect(tmp_path) == "coco"


def test_broken_coco_is_still_coco(tmp_path: Path) -> None:
    """A malformed file in annotations/ is detected as COCO, so the reader says where it breaks."""
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text('{"images": [ {"id": 1,\n ]}')
    assert svmlp.detect(tmp_path) == "coco"
    with pytest.raises(svmlp.AnnotationError, match=r"instances_train\.json:2: JSON is malformed"):
        svmlp.read(tmp_path)


def test_native_sniff_needs_a_top_level_key(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"images": [{"file_name": "a.jpg", "note": "svmlp"}]}')
    assert FORMATS["svmlp"].sniff(tmp_path / "a.json") is None
    (tmp_path / "b.json").write_text('{"svmlp": {"version": "1.0"}, "images": []}')
    assert FORMATS["svmlp"].sniff(tmp_path / "b.json") is not None


def test_voc_beside_a_cvat_file_is_still_voc(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    (tmp_path / "cvat.xml").write_text("<annotations><version>1.1</version></annotations>")
    assert svmlp.detect(tmp_path) == "voc"


# -- bounded ------------------------------------------------------------------------------------------


def test_survey_opens_a_bounded_number_of_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _labelme(tmp_path / "a", 400)
    _labelme(tmp_path / "b" / "c", 400)
    opened: list[Path] = []
    real = peek.head_of

    def counting(path: Path, *args: object, **kw: object) -> bytes | None:
        opened.append(path)
        return real(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(peek, "head_of", counting)
    seen = survey(tmp_path)
    assert len(opened) <= MAX_PEEKS
    assert seen.kinds["labelme"].files == 800
    assert "800 *.json files in 2 folders with `shapes`" in seen.entries(cli=True, formats=list(FORMATS))[0]


def test_cvat_exports_in_sub_folders_are_named(tmp_path: Path) -> None:
    xml = '<?xml version="1.0"?>\n<annotations><version>1.1</version></annotations>\n'
    for sub in ("task_a", "task_b"):
        (tmp_path / "two" / sub).mkdir(parents=True)
        (tmp_path / "two" / sub / "annotations.xml").write_text(xml)
    (tmp_path / "one" / "task").mkdir(parents=True)
    (tmp_path / "one" / "task" / "annotations.xml").write_text(xml)
    with pytest.raises(LayoutError, match=r"one export per folder: give svmlp one of task_a/, task_b/"):
        svmlp.detect(tmp_path / "two")
    with pytest.raises(LayoutError, match=r"CVAT for images XML \(give svmlp the folder task/\)"):
        svmlp.detect(tmp_path / "one")


def test_open_images_one_level_down_names_its_folder(fixtures_dir: Path) -> None:
    with pytest.raises(LayoutError, match=r"Open Images CSV \(give svmlp the folder v6/\)"):
        svmlp.detect(fixtures_dir / "datumaro" / "open_images_dataset")
