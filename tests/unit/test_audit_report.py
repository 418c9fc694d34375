"""Audit reports: the summary, the JSON document and its schema, and the self-contained HTML page.

The report is built by hand over a synthetic data set with real JPEGs, one issue of every shape:
data-set-level, image-level and box-level, every severity, scored and unscored, on a deleted image,
an undecodable one, an EXIF-rotated one and one whose file name is hostile to HTML.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svmlp._schemas import validation_error
from svmlp.audit import AuditReport, Issue
from svmlp.audit.report import render_html, summary_lines, to_dict, to_json
from svmlp.model import Dataset
from svmlp.model.strictness import Findings
from svmlp.synth import generate

SCHEMA = "audit-report.schema.json"
HOSTILE = "we<b>&\"'ird.jpg"
HOSTILE_ROW, DELETED_ROW, BROKEN_ROW, ROTATED_ROW = 4, 5, 6, 7
VOID = {"meta", "img", "input", "br", "hr", "link", "wbr"}


def _rename(ds: Dataset, row: int, name: str) -> Dataset:
    old = ds.image_path(row)
    names = ds.images.file_name.astype(object)
    names[row] = name
    images = ds.images.take(np.arange(len(ds.images)))
    images.file_name = names.astype(str)
    out = ds.replace(images=images)
    old.rename(out.image_path(row))
    return out


def _store_rotated(path: Path) -> None:
    """Store the picture turned a quarter left with EXIF orientation 6, which turns it back."""
    upright = Image.open(path).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=85, exif=exif)


def _box(ds: Dataset, image: int, k: int = 0, *, role: str | None = None) -> int:
    rows = np.arange(ds.offsets[image], ds.offsets[image + 1])
    if role is not None:
        rows = rows[ds.role_mask(role)[rows]]
    return int(rows[k])


def _issues(ds: Dataset) -> list[Issue]:
    plate8 = _box(ds, 8, role="child")
    return [
        Issue("stem_collision", "warning", -1, -1, "a.jpg and a.png share the stem a in train"),
        Issue("class_confusion", "info", -1, -1, "plate boxes are vehicle-sized in 3% of images", 0.4),
        Issue("missing_image", "error", DELETED_ROW, -1, "image file missing"),
        Issue("undecodable_image", "error", BROKEN_ROW, -1, "cannot decode: truncated", 1.0),
        Issue("degenerate_box", "error", 0, _box(ds, 0, 0), "x1 < x0"),
        Issue("nonfinite_box", "error", 0, _box(ds, 0, 1), "x0 is NaN"),
        Issue("identical_images_across_splits", "warning", 2, -1, "same as val/…", 1.0, other_image=1),
        Issue(
            "duplicate_box",
            "warning",
            8,
            _box(ds, 8, 0, role="parent"),
            "twin",
            0.95,
            (_box(ds, 8, 1, role="parent"),),
        ),
        Issue("plate_outside_vehicle", "warning", 8, plate8, "outside", 0.5, (int(ds.boxes.parent[plate8]),)),
        Issue("tiny_box", "warning", HOSTILE_ROW, _box(ds, HOSTILE_ROW, 0), "3 px wide", 0.9),
        Issue("tiny_box", "warning", 9, _box(ds, 9, 0), "5 px wide", 0.2),
        Issue("tiny_box", "warning", 10, _box(ds, 10, 0), "6 px wide"),
        Issue("plate_size_outlier", "info", ROTATED_ROW, _box(ds, ROTATED_ROW, 0), "large", 0.3),
        Issue("vehicle_without_plate", "info", 11, _box(ds, 11, 0, role="parent"), "no plate"),
        Issue("unlabelled_image", "info", 3, -1, "no boxes"),
        Issue("missed_box", "warning", 9, -1, "a plate predicted", 0.8, bbox=(400.0, 300.0, 440.0, 312.0)),
        Issue("misplaced_box", "info", 10, _box(ds, 10, 1), "IoU 0.4", 0.3, bbox=(10.0, 20.0, 60.0, 70.0)),
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    ds = _rename(generate(tmp_path_factory.mktemp("synth"), 12, seed=1), HOSTILE_ROW, HOSTILE)
    ds.image_path(DELETED_ROW).unlink()
    ds.image_path(BROKEN_ROW).write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    _store_rotated(ds.image_path(ROTATED_ROW))
    # what a lenient reader lets through for the audit to find (the model's own checks refuse it)
    ds.boxes.xyxy[_box(ds, 0, 0)] = [50, 40, 30, 60]
    ds.boxes.xyxy[_box(ds, 0, 1), 0] = np.nan
    checks = list(dict.fromkeys(["missing_image", "duplicate_id", *(i.check for i in _issues(ds))]))
    return AuditReport(
        ds, "synth/annotations", _issues(ds), checks, {"tiny_px": np.float64(8.0)}, 1.5, ["a note"]
    )


# -- summary ---------------------------------------------------------------------------------------


def test_summary_header_table_examples_and_notes(report: AuditReport) -> None:
    lines = summary_lines(report)
    n_boxes = len(report.dataset.boxes)
    assert lines[0] == (
        f"audit of synth/annotations: 12 images, {n_boxes} boxes, 1.5 s; 4 errors, 8 warnings, 5 info"
    )
    assert lines[1].split() == ["check", "error", "warning", "info"]
    rows = [line.split() for line in lines[2:] if not line.startswith((" ", "no issues", "note"))]
    counts = [[int(v) for v in r[1:]] for r in rows]
    worst = [next(k for k, v in enumerate(c) if v) for c in counts]
    assert worst == sorted(worst)
    errors = ["missing_image", "undecodable_image", "degenerate_box", "nonfinite_box"]
    assert [r[0] for r in rows][:4] == errors  # ties keep the order the checks ran in
    assert rows[worst.index(1)] == ["tiny_box", "0", "3", "0"]  # most warnings first
    assert "no issues: duplicate_id" in lines
    assert lines[-1] == "note: a note"


def test_summary_examples_worst_first_and_only_for_errors_and_warnings(report: AuditReport) -> None:
    lines = summary_lines(report, examples=2)
    at = lines.index(next(line for line in lines if line.startswith("tiny_box")))
    assert lines[at + 1 : at + 3] == [
        f"  - {report.where(next(i for i in report.issues if i.message == '3 px wide'))}: 3 px wide"
    ] + [f"  - {report.where(report.issues[10])}: 5 px wide"]
    assert not lines[at + 3].startswith("  - ")  # two examples, the unscored one left out
    unscored = summary_lines(report, examples=5)
    at = unscored.index(next(line for line in unscored if line.startswith("tiny_box")))
    assert unscored[at + 3].endswith("6 px wide")  # unscored after scored
    info = unscored.index(next(line for line in unscored if line.startswith("vehicle_without_plate")))
    assert not unscored[info + 1].startswith("  - ")
    assert "  - (data set): a.jpg and a.png share the stem a in train" in unscored


def _id(report: AuditReport, k: int) -> int:
    tiny = [i for i in report.issues if i.check == "tiny_box"]
    return int(report.dataset.boxes.id[tiny[k].box])


# -- JSON ------------------------------------------------------------------------------------------


def test_json_validates_against_the_schema(report: AuditReport) -> None:
    doc = to_dict(report)
    assert validation_error(SCHEMA, doc) is None
    assert validation_error(SCHEMA, json.loads(to_json(report))) is None
    assert doc["totals"] == {"error": 4, "warning": 8, "info": 5}
    assert doc["counts"]["duplicate_id"] == {"error": 0, "warning": 0, "info": 0}
    assert doc["thresholds"] == {"tiny_px": 8.0} and doc["notes"] == ["a note"]


@pytest.mark.parametrize(
    "path, value",
    [
        (("issues", 0, "severity"), "fatal"),
        (("issues", 0, "score"), 1.5),
        (("issues", 0, "split"), None),  # an image named, but no split
        (("totals", "error"), -1),
        (("svmlp_audit",), "2.0"),
        (("issues", 0, "proposed_bbox"), [1, 2, 3]),
    ],
)
def test_schema_rejects_broken_documents(report: AuditReport, path: tuple, value: object) -> None:
    doc = to_dict(report)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert validation_error(SCHEMA, doc) is not None


def test_label_file_named_where_known(report: AuditReport, tmp_path: Path) -> None:
    """Synthetic data was read from no file: ``label_file`` is null; a data set that knows each
    image's annotation file names it (relative to the audited folder) in every report."""
    assert {i["label_file"] for i in to_dict(report)["issues"]} == {None}
    ds = report.dataset
    images = ds.images.take(np.arange(len(ds.images)))
    images.label_file = np.array([f"synth/annotations/{s}/{k}.xml" for k, s in enumerate(ds.images.split)])
    labelled = AuditReport(
        **{**vars(report), "dataset": ds.replace(images=images, findings=Findings(strict=False))}
    )
    doc = to_dict(labelled)
    assert validation_error(SCHEMA, doc) is None
    for issue in doc["issues"]:
        row = None if issue["split"] is None else int(np.flatnonzero(ds.images.id == issue["image_id"])[0])
        assert issue["label_file"] == (None if row is None else f"{ds.images.split[row]}/{row}.xml")
    tiny = next(i for i in labelled.issues if i.message == "5 px wide")
    shown = f"{ds.images.split[tiny.image]}/{tiny.image}.xml"
    assert labelled.where(tiny) == f"{report.where(tiny)} in {shown}"
    render_html(labelled, tmp_path / "r.html")
    assert f"labels <code>{shown}</code>" in (tmp_path / "r.html").read_text()
    doc["issues"][0]["label_file"] = 3
    assert validation_error(SCHEMA, doc) is not None


def test_json_is_deterministic_and_sorted(report: AuditReport) -> None:
    shuffled = AuditReport(**{**vars(report), "issues": report.issues[::-1]})
    assert to_json(shuffled) == to_json(report)
    keys = [(i["severity"], i["check"]) for i in to_dict(report)["issues"]]
    rank = {"error": 0, "warning": 1, "info": 2}
    assert [(rank[s], c) for s, c in keys] == sorted((rank[s], c) for s, c in keys)


def test_json_locations_survive_without_the_data_set(report: AuditReport) -> None:
    ds, doc = report.dataset, json.loads(to_json(report))
    rows = {(s, f): i for i, (s, f) in enumerate(zip(ds.images.split.tolist(), ds.images.file_name.tolist()))}
    for issue in doc["issues"]:
        if issue["split"] is None:
            assert issue["file_name"] is issue["image_id"] is issue["box_id"] is None
            continue
        row = rows[issue["split"], issue["file_name"]]
        assert int(ds.images.id[row]) == issue["image_id"]
        box_ids = ds.boxes.id[ds.offsets[row] : ds.offsets[row + 1]].tolist()
        assert issue["box_id"] is None or issue["box_id"] in box_ids
        assert all(b in box_ids for b in issue["related_box_ids"])
    by_check = {i["check"]: i for i in doc["issues"]}
    assert by_check["nonfinite_box"]["bbox"][0] is None and by_check["nonfinite_box"]["bbox"][1] is not None
    assert by_check["degenerate_box"]["bbox"][2] == -20
    assert by_check["duplicate_box"]["category"] in {"vehicle", "plate"}
    other = by_check["identical_images_across_splits"]["other"]
    assert other == {
        "split": "val",
        "file_name": str(ds.images.file_name[1]),
        "image_id": int(ds.images.id[1]),
    }
    assert any(i["file_name"] == HOSTILE for i in doc["issues"])
    assert by_check["missed_box"]["box_id"] is None and by_check["missed_box"]["bbox"] is None
    assert by_check["missed_box"]["proposed_bbox"] == [400, 300, 40, 12]
    assert by_check["misplaced_box"]["proposed_bbox"] == [10, 20, 50, 50]
    assert by_check["misplaced_box"]["bbox"] is not None


# -- HTML ------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Checks nesting and collects cards, images and every attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.cards: list[dict] = []
        self.images: list[dict[str, str | None]] = []
        self.zooms: list[dict[str, str | None]] = []  # the large views a click opens
        self.attrs: list[tuple[str, str | None]] = []
        self.in_zoom = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += attrs
        if tag == "article":
            self.cards.append({"class": dict(attrs)["class"], "text": "", "img": None, "placeholder": False})
        if tag == "div" and dict(attrs).get("class") == "zoom":
            self.in_zoom = len(self.stack) + 1
        if tag == "img" and self.in_zoom:
            self.zooms.append(dict(attrs))
        elif tag == "img":
            self.images.append(dict(attrs))
            if self.cards[-1]["img"] is None:
                self.cards[-1]["img"] = dict(attrs)
        if tag == "div" and dict(attrs).get("class") == "placeholder":
            self.cards[-1]["placeholder"] = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes nothing open"
        if self.in_zoom and len(self.stack) < self.in_zoom:
            self.in_zoom = 0

    def handle_data(self, data: str) -> None:
        if "article" in self.stack:
            self.cards[-1]["text"] += data


@pytest.fixture(scope="module")
def page(report: AuditReport, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, _Page, int]:
    out = tmp_path_factory.mktemp("html") / "report.html"
    drawn = render_html(report, out, thumb=200)
    text = out.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(text)
    parser.close()
    assert parser.stack == []
    return text, parser, drawn


def test_one_card_per_flagged_image_worst_first(report: AuditReport, page: tuple[str, _Page, int]) -> None:
    _, parsed, drawn = page
    flagged = {i.image for i in report.issues if i.image >= 0}
    assert drawn == len(parsed.cards) == len(flagged) == 11
    ranks = [("error", "warning", "info").index(c["class"].split("sev-")[1]) for c in parsed.cards]
    assert ranks == sorted(ranks)
    assert "1.00" in parsed.cards[0]["text"]  # the scored error before the unscored ones


def test_no_external_references(page: tuple[str, _Page, int]) -> None:
    text, parsed, _ = page
    for bad in ("http://", "https://", 'src="/', 'href="/', "<link", "url("):
        assert bad not in text
    assert all(v.startswith("data:image/jpeg;base64,") for k, v in parsed.attrs if k == "src")
    # links only within the page: a thumbnail opens its large view (#z…), which closes (#_)
    assert all(v is not None and v.startswith("#") for k, v in parsed.attrs if k == "href")
    assert re.findall(r"<script[^>]*>", text) == ["<script>"]


def test_hostile_file_name_is_escaped(report: AuditReport, page: tuple[str, _Page, int]) -> None:
    text, parsed, _ = page
    assert HOSTILE not in text and "<b>&" not in text
    assert "we&lt;b&gt;&amp;&quot;&#x27;ird.jpg" in text
    card = next(c for c in parsed.cards if HOSTILE in c["text"])
    assert card["img"]["alt"] == f"train/{HOSTILE}"


def test_missing_and_broken_images_get_placeholders(page: tuple[str, _Page, int]) -> None:
    _, parsed, _ = page
    placeholders = [c for c in parsed.cards if c["placeholder"]]
    assert len(placeholders) == 2 and all(c["img"] is None for c in placeholders)
    assert any("image file missing" in c["text"] for c in placeholders)
    assert any("cannot show the image" in c["text"] for c in placeholders)


def test_thumbnails_decode_at_their_size(report: AuditReport, page: tuple[str, _Page, int]) -> None:
    _, parsed, _ = page
    thumbs = [c["img"] for c in parsed.cards if c["img"] is not None]  # each card's own picture
    assert len(thumbs) == 9
    for attrs in thumbs:
        picture = Image.open(io.BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1])))
        assert picture.format == "JPEG"
        assert picture.size == (int(attrs["width"]), int(attrs["height"])) == (200, 150)  # upright


def test_data_set_issues_listed_and_notes_shown(page: tuple[str, _Page, int]) -> None:
    text, _, _ = page
    at = text.index('id="dataset"')
    assert "a.jpg and a.png share the stem a in train" in text[at:] and "note: a note" in text
    assert text.index('id="dataset"') < text.index('class="card')


def test_max_images_and_the_data_is_untouched(report: AuditReport, tmp_path: Path) -> None:
    root = report.dataset.roots["train"].parent
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
    assert render_html(report, tmp_path / "r.html", thumb=64, max_images=3) == 3
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count('<article class="card') == 3
    assert "8 more flagged images were not drawn" in text
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
    assert after == before


@pytest.mark.parametrize("rotated", [False, True])
def test_boxes_drawn_in_the_annotation_frame_on_the_upright_image(tmp_path: Path, rotated: bool) -> None:
    """Annotations at half the image's size (first case) or for the upright view of an image stored
    turned with EXIF orientation 6 (second): either way the flagged box lands on the same pixels."""
    from svmlp.model import BoxTable, Category, ImageTable

    black = Image.new("RGB", (400, 200))
    if rotated:
        exif = Image.Exif()
        exif[0x0112] = 6
        black.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "a.jpg", exif=exif)
    else:
        black.save(tmp_path / "a.jpg")
    size = (400, 200) if rotated else (200, 100)
    ds = Dataset(
        [Category(1, "vehicle", role="parent")],
        ImageTable.build(id=[1], file_name=["a.jpg"], split="train", width=[size[0]], height=[size[1]]),
        BoxTable.build(id=[5], image=[0], category=[0], xyxy=[[size[0] / 2, size[1] / 2, size[0], size[1]]]),
        roots={"train": tmp_path},
    )
    missed = Issue("missed_box", "warning", 0, -1, "a vehicle", 0.9, bbox=(0, 0, size[0] / 4, size[1] / 4))
    issues = [Issue("misplaced_box", "error", 0, 0, "off", 0.7), missed]
    report = AuditReport(ds, "x", issues, ["misplaced_box", "missed_box"])
    render_html(report, tmp_path / "r.html", thumb=200)
    src = re.search(r'src="data:image/jpeg;base64,([^"]+)"', (tmp_path / "r.html").read_text()).group(1)
    thumb = Image.open(io.BytesIO(base64.b64decode(src))).convert("RGB")
    assert thumb.size == (200, 100)
    red, dark = thumb.getpixel((101, 75)), thumb.getpixel((150, 75))
    assert red[0] > 150 and red[1] < 90, red  # the box's left edge, at x = 100 in the thumbnail
    assert max(dark) < 60, dark
    orange = thumb.getpixel((47, 25))  # a dash of the proposed box's bottom edge, at y = 25
    assert orange[0] > 150 and 60 < orange[1] < 200 and orange[2] < 90, orange


def test_a_clean_audit(tmp_path: Path) -> None:
    ds = generate(tmp_path / "d", 3, seed=2)
    report = AuditReport(ds, "clean", [], ["missing_image", "tiny_box"], seconds=0.25)
    assert summary_lines(report)[-1] == "no issues: missing_image, tiny_box"
    assert validation_error(SCHEMA, to_dict(report)) is None and report.exit_code("info") == 0
    assert render_html(report, tmp_path / "r.html") == 0
    assert "<article" not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_click_opens_the_image_large_with_its_boxes(page: tuple[str, _Page, int]) -> None:
    text, parsed, _ = page
    assert parsed.zooms, "no large views"
    for attrs in parsed.zooms:
        picture = Image.open(io.BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1])))
        assert picture.size == (int(attrs["width"]), int(attrs["height"]))
        assert max(picture.size) > 200  # larger than the thumbnail, at most the image's own size
    anchors = re.findall(r'<a href="#(z[^"]+)"', text)
    assert anchors and all(f'id="{a}"' in text for a in anchors)


def test_duplicates_are_shown_side_by_side(tmp_path: Path) -> None:
    from svmlp.audit import audit

    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "images" / "train" / "a.jpg")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "images" / "val" / "b.jpg")
    for split, stem in (("train", "a"), ("val", "b")):
        (tmp_path / "labels" / split / f"{stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "data.yaml").write_text("path: ''\ntrain: images/train\nval: images/val\nnames: [car]\n")
    report = audit(tmp_path, probe=False)
    assert any(i.other_image >= 0 for i in report.issues)
    out = tmp_path.parent / "dup.html"
    render_html(report, out)
    text = out.read_text(encoding="utf-8")
    pair = text.split('<div class="pair">', 1)[1].split("</div>", 1)[0]
    assert text.count('<div class="pair">') >= 1 and "train/a.jpg" in pair and "val/b.jpg" in pair
