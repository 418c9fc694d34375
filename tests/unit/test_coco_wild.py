"""COCO folders as people have them: other JSON beside the annotation files is skipped with a
note (a stats file, a results list, a Label Studio export), not the end of the read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import svmlp
from svmlp.synth import generate_annotations


def _coco(tmp_path: Path) -> Path:
    svmlp.write(generate_annotations(12, seed=1), tmp_path / "coco", format="coco", images="none")
    return tmp_path / "coco"


@pytest.mark.parametrize(
    ("name", "doc", "said"),
    [
        ("stats.json", {"accuracy": 0.9, "epochs": 3}, "not a layout svmlp knows"),
        (
            "results.json",
            [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}],
            "COCO results",
        ),
        (
            "export.json",
            [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"result": []}]}],
            "Label Studio",
        ),
    ],
)
def test_other_json_beside_the_annotations_is_skipped(
    tmp_path: Path, name: str, doc: object, said: str
) -> None:
    root = _coco(tmp_path)
    alone = svmlp.read(root)
    (root / "annotations" / name).write_text(json.dumps(doc))
    assert svmlp.detect(root) == "coco"
    ds = svmlp.read(root)
    assert len(ds) == len(alone) and len(ds.boxes) == len(alone.boxes) and ds.splits == alone.splits
    assert any(name in n and "not a COCO data set" in n and said in n and "skipped" in n for n in ds.notes)


def test_a_file_given_by_name_is_still_refused(tmp_path: Path) -> None:
    root = _coco(tmp_path)
    (root / "annotations" / "stats.json").write_text('{"accuracy": 0.9}')
    with pytest.raises(svmlp.AnnotationError, match="stats.json"):
        svmlp.read(root / "annotations" / "stats.json", format="coco")


def test_only_foreign_json_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "a.json").write_text('{"accuracy": 0.9}')
    (tmp_path / "annotations" / "b.json").write_text("[1, 2]")
    with pytest.raises(svmlp.SvmlpError):
        svmlp.read(tmp_path, format="coco")
