"""The native reader's typed decode stands for the JSON Schema: it never accepts a document the
schema refuses (checked on mutations of every constrained key and on random ones), it accepts what
svmlp writes, and a document it refuses still gets the schema's own words."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import datasets

import svmlp
from svmlp import _schemas
from svmlp.formats import _native_fast
from svmlp.formats._schema_check import SCHEMA, schema_error

_LINKED = {
    "svmlp": {"version": "1.0", "split": "train"},
    "info": {"description": "x", "year": None},
    "licenses": [],
    "categories": [
        {"id": 0, "name": "car", "supercategory": "vehicle", "role": "parent"},
        {"id": 1, "name": "plate", "role": "child"},
        {"id": 2, "name": "dog", "role": None},
    ],
    "images": [{"id": 5, "file_name": "a.jpg", "width": 100, "height": 80, "labelled": True}],
    "annotations": [
        {"id": 1, "image_id": 5, "category_id": 0, "bbox": [1, 2, 50, 40], "area": 2000, "iscrowd": 0},
        {
            "id": 2,
            "image_id": 5,
            "category_id": 1,
            "bbox": [10.5, 30, 20, 5],
            "parent_id": 1,
            "link_score": 1.0,
            "plate": {"text": "AB 12", "corners": [[10.5, 30], [30.5, 30], [30.5, 35], [10.5, 35]]},
            "difficult": 0,
            "truncated": 1,
            "occluded": 0,
            "attributes": {"colour": "white", "z_order": 2, "rear": True},
            "xyxy": [10.5, 30, 30.5, 35],
            "segmentation": [[1, 2, 3, 4, 5, 6]],
        },
    ],
}


def _schema_ok(doc: Any) -> bool:
    return _schemas.validation_error(SCHEMA, doc) is None


def _fast_ok(doc: Any) -> bool:
    return _native_fast.decode(json.dumps(doc).encode()) is not None


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
_A = ("annotations", 1)
MUTATIONS = [
    (("svmlp",), _DELETE),
    (("svmlp", "version"), "2.0"),
    (("svmlp", "version"), 1.0),
    (("svmlp", "split"), "a/b"),
    (("svmlp", "split"), ""),
    (("categories",), _DELETE),
    (("categories", 0, "id"), -1),
    (("categories", 0, "id"), 2**63),
    (("categories", 0, "id"), "0"),
    (("categories", 0, "name"), ""),
    (("categories", 0, "role"), "wheel"),
    (("images", 0, "width"), -1),
    (("images", 0, "width"), 1.5),
    (("images", 0, "height"), _DELETE),
    (("images", 0, "file_name"), ""),
    (("images", 0, "labelled"), "yes"),
    (("info",), []),
    (("licenses",), {}),
    ((*_A, "bbox"), [1, 2, 3]),
    ((*_A, "bbox"), [1, 2, -3, 4]),
    ((*_A, "bbox"), [1, 2, 3, "4"]),
    ((*_A, "iscrowd"), 2),
    ((*_A, "iscrowd"), True),
    ((*_A, "area"), -1),
    ((*_A, "parent_id"), None),
    ((*_A, "parent_id"), _DELETE),  # link_score is left without parent_id
    ((*_A, "link_score"), 1.5),
    ((*_A, "link_score"), None),
    ((*_A, "difficult"), -1),
    ((*_A, "occluded"), None),
    ((*_A, "plate"), None),
    ((*_A, "plate", "extra"), 1),
    ((*_A, "plate", "text"), None),
    ((*_A, "plate", "corners"), [[1, 2], [3, 4], [5, 6]]),
    ((*_A, "plate", "corners"), [[1, 2], [3, 4], [5, 6], [7, 8, 9]]),
    ((*_A, "attributes"), {"": 1}),
    ((*_A, "attributes"), {"a": [1]}),
    ((*_A, "attributes"), {f"k{k}": 1 for k in range(257)}),
    ((*_A, "xyxy"), [1, 2, 3]),
    ((*_A, "xyxy"), None),
    (("annotations", 0, "image_id"), _DELETE),
]


def test_what_svmlp_writes_passes_both() -> None:
    assert _schema_ok(_LINKED) and _fast_ok(_LINKED)


@pytest.mark.parametrize(
    ("path", "value"),
    MUTATIONS,
    ids=[f"{'.'.join(map(str, p))}={'(deleted)' if v is _DELETE else repr(v)}"[:60] for p, v in MUTATIONS],
)
def test_every_constrained_key_is_refused_as_the_schema_refuses_it(path: tuple, value: Any) -> None:
    doc = _set(_LINKED, path, value)
    assert not _schema_ok(doc), "the mutation should break the schema"
    assert not _fast_ok(doc)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for k, v in enumerate(doc):
            out += _paths(v, (*prefix, k))
    return out


@given(st.data())
def test_random_mutations_never_pass_the_fast_check_alone(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(_LINKED)))
    value = data.draw(_JSON | st.just(_DELETE))
    doc = _set(_LINKED, path, value)
    if _fast_ok(doc):
        assert _schema_ok(doc), f"{path} = {value!r} passed the typed check but not the schema"


@given(datasets())
def test_random_data_sets_written_natively_pass_the_fast_check(ds: svmlp.Dataset) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        svmlp.write(ds, Path(tmp) / "n", format="svmlp", images="none")
        for f in (Path(tmp) / "n" / "annotations").glob("*.svmlp.json"):
            data = f.read_bytes()
            assert _native_fast.decode(data) is not None
            assert _schema_ok(msgspec.json.decode(data))


def test_a_refused_document_still_gets_the_schemas_words(tmp_path: Path) -> None:
    doc = _set(_LINKED, (*_A, "link_score"), 1.5)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.svmlp.json").write_text(json.dumps(doc))
    with pytest.raises(svmlp.SchemaError, match=r"link_score.*1\.5 is greater than the maximum of 1"):
        svmlp.read(tmp_path, format="svmlp")
    message = schema_error(tmp_path / "annotations" / "train.svmlp.json")
    assert message is not None and "link_score" in message
