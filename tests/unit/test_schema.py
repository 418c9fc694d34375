"""The native schema: valid and invalid examples, and that the writer's output validates."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from svmlp.formats.native import schema_path

VALID = {
    "svmlp": {"version": "1.0", "split": "train"},
    "info": {"description": "example"},
    "categories": [
        {"id": 1, "name": "car", "role": "parent"},
        {"id": 2, "name": "plate", "role": "child"},
        {"id": 3, "name": "person", "role": None},
    ],
    "images": [
        {"id": 1, "file_name": "sub/a b.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "empty.jpg", "width": 640, "height": 480},
        {"id": 3, "file_name": "unlabelled.jpg", "width": 0, "height": 0, "labelled": False},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 300, 200], "area": 60000, "iscrowd": 0},
        {
            "id": 2,
            "image_id": 1,
            "category_id": 2,
            "bbox": [100.5, 190, 60, 15],
            "parent_id": 1,
            "link_score": 1.0,
            "plate": {"text": "AB 123", "corners": [[100.5, 190], [160.5, 191], [160, 205], [101, 204]]},
            "difficult": 0,
            "occluded": 1,
        },
        {
            "id": 3,
            "image_id": 1,
            "category_id": 3,
            "bbox": [0, 0, 5, 5],
            "iscrowd": 1,
            "segmentation": {"counts": [0, 25], "size": [480, 640]},
        },
    ],
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path().read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_schema_is_draft_2020_12() -> None:
    assert json.loads(schema_path().read_text())["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_valid_example(validator: jsonschema.protocols.Validator) -> None:
    validator.validate(VALID)


def _broken(path: str, value: object) -> dict:
    doc = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: object = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]  # type: ignore[index]
    if value is KeyError:
        del node[int(last) if last.isdigit() else last]  # type: ignore[union-attr]
    else:
        node[int(last) if last.isdigit() else last] = value  # type: ignore[index]
    return doc


INVALID = {
    "no marker": ("svmlp", KeyError),
    "bad version": ("svmlp.version", "2.0"),
    "split with slash": ("svmlp.split", "a/b"),
    "role": ("categories.0.role", "vehicle"),
    "empty name": ("categories.0.name", ""),
    "no file name": ("images.0.file_name", KeyError),
    "negative width": ("images.0.width", -1),
    "float id": ("images.0.id", 1.5),
    "bbox of 3": ("annotations.0.bbox", [1, 2, 3]),
    "negative bbox width": ("annotations.0.bbox", [1, 2, -3, 4]),
    "string bbox": ("annotations.0.bbox", ["1", 2, 3, 4]),
    "crowd 2": ("annotations.0.iscrowd", 2),
    "score above 1": ("annotations.1.link_score", 1.5),
    "score without parent": ("annotations.1.parent_id", KeyError),
    "three corners": ("annotations.1.plate.corners", [[0, 0], [1, 1], [2, 2]]),
    "plate junk key": ("annotations.1.plate.colour", "blue"),
    "text not string": ("annotations.1.plate.text", 123),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_examples(case: str, validator: jsonschema.protocols.Validator) -> None:
    assert not validator.is_valid(_broken(*INVALID[case]))


def test_writer_output_validates(sample_dir: Path, validator: jsonschema.protocols.Validator) -> None:
    files = sorted((sample_dir / "annotations").glob("*.svmlp.json"))
    assert [f.name for f in files] == ["test.svmlp.json", "train.svmlp.json", "val.svmlp.json"]
    for f in files:
        validator.validate(json.loads(f.read_text()))
