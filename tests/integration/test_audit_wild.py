"""The audit on data as people have it: plate classes the alias table does not know (``number``,
``lp_plate``) named with ``--parents``/``--children``, and every finding naming the annotation file
to fix, in the summary, the JSON report and the HTML page, where two images share a file name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from svmlp._schemas import validation_error
from svmlp.audit import audit
from svmlp.audit.report import render_html, summary_lines, to_dict
from svmlp.cli import main

CAR = [10, 10, 100, 80]
ON_CAR = [40, 70, 30, 10]  # inside the car, low and centred
ALONE = [150, 10, 30, 10]  # in no vehicle: an orphan plate


def _coco_set(root: Path, plate: str = "number", *, duplicate: bool = False) -> Path:
    """Two splits, each with an image named ``a.jpg``; a car and plates of class ``plate``."""
    for k, split in enumerate(("train", "val")):
        (root / "images" / split).mkdir(parents=True)
        Image.new("RGB", (200, 100), (40 * k, 90, 140)).save(root / "images" / split / "a.jpg", quality=90)
        boxes = [(1, CAR), (2, ON_CAR), (2, ALONE)] if split == "train" else [(1, CAR), (2, ALONE)]
        anns = [
            {"id": n + 1, "image_id": 1, "category_id": c, "bbox": b, "iscrowd": 0}
            for n, (c, b) in enumerate(boxes)
        ]
        if duplicate:
            anns[-1]["id"] = anns[0]["id"]  # read leniently by the audit: a finding, not a crash
        doc = {
            "images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}],
            "annotations": anns,
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": plate}],
        }
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    return root


def _checks(doc: dict) -> list[str]:
    return [i["check"] for i in doc["issues"]]


# -- --parents / --children ------------------------------------------------------------------------


def test_unknown_plate_class_gets_no_relational_checks_and_a_note(tmp_path: Path) -> None:
    report = audit(_coco_set(tmp_path / "d"))
    assert "orphan_plate" not in _checks(to_dict(report))
    assert any("--parents/--children" in n and "number (no role)" in n for n in report.notes)


@pytest.mark.parametrize(
    ("plate", "flags"),
    [("number", ["--children", "number"]), ("lp_plate", ["--parents", "car", "--children", "lp_plate"])],
)
def test_audit_takes_parents_and_children(
    tmp_path: Path, plate: str, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _coco_set(tmp_path / "d", plate)
    out = tmp_path / "r.json"
    assert main(["audit", str(src), "--json-out", str(out), *flags]) == 0
    doc = json.loads(out.read_text())
    orphans = [i for i in doc["issues"] if i["check"] == "orphan_plate"]
    assert sorted((i["split"], i["box_id"], i["category"]) for i in orphans) == [
        ("train", 3, plate),
        ("val", 2, plate),
    ]
    assert not any("no vehicle or no plate class" in n for n in doc["notes"])
    assert f"({plate})" in capsys.readouterr().out


def test_python_audit_takes_parents_and_children(tmp_path: Path) -> None:
    report = audit(_coco_set(tmp_path / "d", "lp_plate"), children=["lp_plate"], split="val")
    assert _checks(to_dict(report)).count("orphan_plate") == 1


def test_unknown_class_name_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(_coco_set(tmp_path / "d")), "--children", "plate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--children: class 'plate' is not in this data set" in err


def test_roles_on_a_set_read_leniently(tmp_path: Path) -> None:
    """Naming roles does not make the audit refuse what its lenient reading recorded."""
    report = audit(_coco_set(tmp_path / "d", duplicate=True), children=["number"], scan=False)
    checks = _checks(to_dict(report))
    assert "duplicate_id" in checks and "orphan_plate" in checks


# -- the annotation file to fix ----------------------------------------------------------------------


def test_findings_name_their_label_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _coco_set(tmp_path / "d")
    reports = tmp_path / "reports"
    reports.mkdir()
    args = ["--json-out", str(reports / "r.json"), "--html", str(reports / "r.html"), "--children", "number"]
    assert main(["audit", str(src), *args]) == 0
    text = capsys.readouterr().out
    assert "train/a.jpg box id 3 (number) in annotations/instances_train.json: lies in no vehicle" in text
    assert "val/a.jpg box id 2 (number) in annotations/instances_val.json: lies in no vehicle" in text

    doc = json.loads((reports / "r.json").read_text())
    assert validation_error("audit-report.schema.json", doc) is None and doc["svmlp_audit"] == "1.1"
    for issue in doc["issues"]:
        expected = None if issue["split"] is None else f"annotations/instances_{issue['split']}.json"
        assert issue["label_file"] == expected, issue

    page = (reports / "r.html").read_text()
    cards = re.findall(r'<article class="card.*?</article>', page, re.S)
    assert len(cards) == 2  # one per image: both are called a.jpg
    for split in ("train", "val"):
        (card,) = [c for c in cards if f"<h3>{split}/a.jpg " in c]
        assert f"labels <code>annotations/instances_{split}.json</code>" in card
        assert f"image <code>images/{split}/a.jpg</code>" in card


def test_label_file_shown_relative_to_a_file_audited(tmp_path: Path) -> None:
    src = _coco_set(tmp_path / "d")
    report = audit(src / "annotations" / "instances_val.json", children=["number"], scan=False)
    lines = [ln for ln in summary_lines(report) if "lies in no vehicle" in ln]
    assert lines == [
        "  - val/a.jpg box id 2 (number) in instances_val.json: lies in no vehicle (at most 0% of it inside one, 50% needed)"
    ]
    assert render_html(report, tmp_path / "r.html") == 1


def test_real_yolo_findings_name_their_txt(plates_dir: Path) -> None:
    """plates-us-eu (YOLO): every image-level finding names the label file of its image."""
    doc = to_dict(audit(plates_dir, scan=False))
    located = [i for i in doc["issues"] if i["split"] is not None]
    assert located and all(i["label_file"].endswith(".txt") for i in located)
    stems = {(i["file_name"].rsplit(".", 1)[0], i["label_file"].rsplit("/", 1)[-1][:-4]) for i in located}
    assert all(a == b for a, b in stems)
