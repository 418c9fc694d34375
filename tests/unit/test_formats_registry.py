"""The format registry: every module keeps the plug-in contract, detection asks the plug-ins, and a
new format is picked up from one registry line; strict or lenient reading is an argument."""

from __future__ import annotations

import importlib.util
import json
import threading
import types
from pathlib import Path

import pytest

import svmlp
import svmlp.formats
from svmlp.formats import FORMATS, FormatPlugin, Registry, RoundTrip, Sniff
from svmlp.formats._plugin import BOX_ATTRIBUTES
from svmlp.links import link_plates
from svmlp.model import BoxTable, Category, Dataset, ImageTable
from svmlp.model.strictness import STRICT, Findings

# -- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_registered_module_keeps_the_contract(name: str) -> None:
    plugin = FORMATS[name]
    assert isinstance(plugin, FormatPlugin)
    assert name == plugin.NAME
    assert isinstance(plugin.PRIORITY, int) and plugin.LOOKS_FOR
    rt = plugin.ROUND_TRIP
    assert isinstance(rt, RoundTrip) and rt.tolerance >= 0
    assert rt.keeps <= BOX_ATTRIBUTES and set(rt.unset_as) <= rt.keeps
    assert plugin.image_destination("train", "sub/a.jpg").endswith("sub/a.jpg")


def test_priorities_differ() -> None:
    """Detection order is decided by the declarations alone, never by registry order."""
    priorities = [FORMATS[n].PRIORITY for n in FORMATS]
    assert len(set(priorities)) == len(priorities)


def test_declared_tolerances_are_the_designs() -> None:
    """DESIGN.md §3: native and COCO exact, YOLO ≤ 1e-6 px, VOC ≤ 0.5 px; DOTA (absolute, repr)
    exact; only the normalised YOLO formats clamp."""
    declared = {n: (FORMATS[n].ROUND_TRIP.tolerance, FORMATS[n].ROUND_TRIP.clamps) for n in FORMATS}
    assert declared == {
        "svmlp": (0.0, False),
        "coco": (0.0, False),
        "yolo": (1e-6, True),
        "yolo-obb": (1e-6, True),
        "dota": (0.0, False),
        "voc": (0.5, False),
        "cvat": (0.0, False),
        "label-studio": (0.0, False),
        "labelme": (0.0, False),
        "ufpr": (0.0, False),
        "openalpr": (0.0, False),
        "openimages": (0.0, False),
        "ccpd": (0.0, False),
    }


def test_registry_is_lazy_and_names_unknown_formats() -> None:
    """Listing the formats imports none of them (the command line lists them at start)."""
    assert (
        list(FORMATS)
        == [
            "svmlp",
            "coco",
            "yolo",
            "yolo-obb",
            "dota",
            "voc",
            "cvat",
            "label-studio",
            "labelme",
            "ufpr",
            "openalpr",
            "openimages",
            "ccpd",
        ]
        and len(FORMATS) == 13
    )
    with pytest.raises(KeyError):
        FORMATS["createml"]
    with pytest.raises(
        svmlp.UsageError,
        match="unknown format 'createml'; expected one of svmlp, coco, yolo, yolo-obb, dota, voc, cvat, "
        "label-studio, labelme, ufpr, openalpr, openimages, ccpd",
    ):
        svmlp.read(".", format="createml")


def test_the_contextvar_is_gone() -> None:
    assert importlib.util.find_spec("svmlp.formats._lenient") is None


# -- detection -----------------------------------------------------------------------------------


def _make(root: Path, files: list[str]) -> Path:
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"images": []}' if rel.endswith(".json") else "x")
    return root


#: a layout (files; a name ending in / is a folder) and the format today's rules give it
LAYOUTS = {
    "native": (["annotations/train.svmlp.json"], "svmlp"),
    "native-beside-voc": (["a.svmlp.json", "Annotations/a.xml"], "svmlp"),
    "voc": (["Annotations/sub/a.xml"], "voc"),
    "voc-sets-only": (["ImageSets/Main/"], "voc"),
    "voc-flat": (["a.xml", "data.yaml"], "voc"),
    "voc-beats-coco": (["Annotations/a.xml", "instances.json"], "voc"),
    "yolo": (["data.yaml"], "yolo"),
    "darknet": (["obj.names", "Annotations/a.txt"], "yolo"),
    "yolo-any-yaml": (["plates.yaml", "x.json"], "yolo"),
    "coco": (["annotations/instances_train.json"], "coco"),
    "coco-beats-bare-labels": (["labels/", "x.json"], "coco"),
    "roboflow": (["train/_annotations.coco.json"], "coco"),
    "bare-labels": (["labels/"], "yolo"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_detect_keeps_todays_answers(layout: str, tmp_path: Path) -> None:
    files, expected = LAYOUTS[layout]
    assert svmlp.detect(_make(tmp_path, files)) == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.svmlp.json", "[]", "svmlp"),
        ("a.json", '{"svmlp": {"version": "1.0"}}', "svmlp"),
        ("a.json", ' {"images": []}', "coco"),
        ("data.yml", "names: [a]", "yolo"),
        ("obj.data", "classes = 1", "yolo"),
        ("a.xml", "<annotation/>", "voc"),
    ],
)
def test_detect_files(name: str, text: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(text)
    assert svmlp.detect(tmp_path / name) == expected


def test_detect_says_why_nothing_fits(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("[]")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        svmlp.AnnotationError, match=r"results\.json: cannot tell its format from its name; pass --from$"
    ):
        svmlp.detect(tmp_path / "results.json")
    with pytest.raises(svmlp.AnnotationError, match="cannot tell its format from its name"):
        svmlp.detect(tmp_path / "notes.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(svmlp.AnnotationError) as info:
        svmlp.detect(empty)
    assert str(info.value) == (
        f"{empty}: cannot tell the format (no *.svmlp.json, COCO *.json, "
        "YOLO data.yaml/obj.names/classes.txt, svmlp's yolo-obb sidecar, DOTA labelTxt/, "
        "VOC Annotations/, CVAT annotations.xml, Label Studio JSON, LabelMe *.json, UFPR-ALPR *.txt, "
        "OpenALPR <region>/*.txt, Open Images *-annotations-bbox.csv, or CCPD <area>-<tilt>-<box>-….jpg found); "
        "pass --from"
    )
    with pytest.raises(svmlp.AnnotationError, match="no such file or folder"):
        svmlp.detect(tmp_path / "missing")


def test_sniff_says_why(tmp_path: Path) -> None:
    _make(tmp_path, ["labels/", "Annotations/a.xml"])
    assert FORMATS["voc"].sniff(tmp_path) == Sniff("Annotations/ holds *.xml files")
    assert FORMATS["yolo"].sniff(tmp_path) == Sniff("it holds a labels/ folder", weak=True)
    assert FORMATS["coco"].sniff(tmp_path) is None


def _fake_plugin() -> types.ModuleType:
    """A format that exists only in this test: ``*.fake`` files, read as an empty data set."""
    mod = types.ModuleType("svmlp_fake_format")
    mod.NAME, mod.PRIORITY, mod.LOOKS_FOR = "fake", 5, "*.fake"
    mod.ROUND_TRIP = RoundTrip(tolerance=0.0)

    def sniff(path: Path) -> Sniff | None:
        return Sniff("a .fake file") if path.suffix == ".fake" else None

    def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
        return Dataset([], ImageTable.build(id=[], file_name=[], split=[]), findings=findings)

    mod.sniff, mod.read = sniff, read
    mod.write = lambda ds, out: []
    mod.image_destination = lambda split, file_name: f"{split}/{file_name}"
    return mod


def test_a_new_format_is_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "svmlp_fake_format", _fake_plugin())
    registry = Registry({**{n: FORMATS[n].__name__ for n in FORMATS}, "fake": "svmlp_fake_format"})
    monkeypatch.setattr(svmlp.formats, "FORMATS", registry)
    assert isinstance(registry["fake"], FormatPlugin)
    (tmp_path / "a.fake").write_text("")
    assert svmlp.detect(tmp_path / "a.fake") == "fake"
    assert len(svmlp.formats.read(tmp_path / "a.fake")) == 0
    with pytest.raises(svmlp.AnnotationError, match=r"CCPD <area>-<tilt>-<box>-….jpg, or \*\.fake found\)"):
        svmlp.detect(tmp_path)


# -- strict or lenient, as an argument -----------------------------------------------------------


def _broken(findings: Findings = STRICT, *, file_name: str = "a.jpg") -> Dataset:
    """A plate whose parent is another plate: a data set the model refuses."""
    return Dataset(
        [Category(1, "car", role="parent"), Category(2, "plate", role="child")],
        ImageTable.build(id=[1], file_name=[file_name], split="train", width=[100], height=[80]),
        BoxTable.build(id=[1, 2], image=[0, 0], category=[1, 1], xyxy=[[0, 0, 9, 9]] * 2, parent=[-1, 0]),
        findings=findings,
    )


def test_findings_raise_or_record() -> None:
    with pytest.raises(svmlp.AnnotationError, match="not a vehicle"):
        _broken()
    lenient = Findings(strict=False)
    ds = _broken(lenient)
    assert [c for c, _ in ds.read_issues] == ["invalid_dataset"] and ds.read_issues is lenient.found
    assert STRICT.found == [] and _broken(Findings(strict=False)).read_issues is not lenient.found
    with pytest.raises(AttributeError):
        STRICT.strict = False  # type: ignore[misc]


def test_names_are_checked_even_when_lenient() -> None:
    with pytest.raises(svmlp.AnnotationError, match="climbs out"):
        _broken(Findings(strict=False), file_name="../a.jpg")


def test_linking_a_lenient_data_set_is_explicit() -> None:
    ds = _broken(Findings(strict=False))
    with pytest.raises(svmlp.AnnotationError):
        link_plates(ds)
    assert link_plates(ds, strict=False).dataset.boxes.parent.tolist() == [-1, 0]


def _duplicate_ids(folder: Path) -> Path:
    """A COCO file whose two images share one id."""
    images = [{"id": 1, "file_name": name, "width": 9, "height": 9} for name in ("a.jpg", "b.jpg")]
    folder.mkdir()
    path = folder / "instances_train.json"
    path.write_text(
        json.dumps({"images": images, "annotations": [], "categories": [{"id": 1, "name": "car"}]})
    )
    return path


def test_read_strict_and_lenient_side_by_side(tmp_path: Path) -> None:
    """Lenient and strict reads at once, in two threads: neither sees the other's mode."""
    path = _duplicate_ids(tmp_path / "d")
    results: dict[str, object] = {}

    def run(strict: bool) -> None:
        for _ in range(20):
            try:
                results[str(strict)] = svmlp.read(path, strict=strict, probe=False).read_issues
            except svmlp.AnnotationError as exc:
                results[str(strict)] = exc

    threads = [threading.Thread(target=run, args=(s,)) for s in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results["True"], svmlp.AnnotationError)
    assert [c for c, _ in results["False"]] == ["duplicate_id", "invalid_dataset"]  # type: ignore[union-attr]


def test_each_reader_takes_findings(tmp_path: Path) -> None:
    """Every registered reader records into the findings it is given instead of raising."""
    cats = [Category(1, "car", role="parent")]
    # two images with one id (every format keeps ids, in its files or its sidecar)
    images = ImageTable.build(
        id=[5, 5], file_name=["a.jpg", "b.jpg"], split="train", width=[9, 9], height=[9, 9]
    )
    broken = Dataset(cats, images, validate=False)
    for name in FORMATS.writable():
        out = tmp_path / name
        svmlp.write(broken, out, format=name, images="none")
        with pytest.raises(svmlp.AnnotationError, match="appears twice"):
            FORMATS[name].read(out)
        found = Findings(strict=False)
        back = FORMATS[name].read(out, findings=found)
        assert found.found and back.read_issues is found.found, name
