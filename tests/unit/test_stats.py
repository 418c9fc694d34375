"""``svmlp stats`` on data with no links: plates are linked in memory (as the audit does), so
"without a vehicle" counts plates no vehicle box holds, and the output says where links came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import svmlp
from svmlp.cli import main
from svmlp.links import link_plates
from svmlp.model import BoxTable, Category, Dataset, ImageTable
from svmlp.model.categories import role_for
from svmlp.stats import FROM_DATA, IN_MEMORY, NO_ROLES, compute_stats, format_stats
from svmlp.synth import generate_annotations


def _scene(plate: str = "plate", *, linked: bool = False) -> Dataset:
    """One image: a car carrying a plate, and a plate on no car."""
    return Dataset(
        [Category(1, "car", role="parent"), Category(2, plate, role=role_for(plate))],
        ImageTable.build(id=[1], file_name=["a.jpg"], split="train", width=[200], height=[100]),
        BoxTable.build(
            id=[1, 2, 3],
            image=[0, 0, 0],
            category=[0, 1, 1],
            xyxy=[[10, 10, 110, 90], [40, 70, 70, 80], [150, 10, 180, 20]],
            parent=[-1, 0, -1] if linked else None,
        ),
    )


def test_unlinked_plates_are_linked_in_memory() -> None:
    ds = _scene()
    stats = compute_stats(ds)
    assert stats["links"] == IN_MEMORY
    assert (stats["all"]["plates_linked"], stats["all"]["plates_unlinked"]) == (1, 1)
    assert (ds.boxes.parent < 0).all()  # the data set given is not changed
    assert "linked in memory" in format_stats(stats)


def test_links_from_the_data_are_counted_as_they_are() -> None:
    stats = compute_stats(_scene(linked=True))
    assert stats["links"] == FROM_DATA and stats["all"]["plates_unlinked"] == 1
    assert compute_stats(generate_annotations(5, seed=0))["links"] == FROM_DATA
    assert "links" not in format_stats(compute_stats(_scene(linked=True))).splitlines()[-1]


def test_plate_class_named_by_the_caller() -> None:
    ds = _scene("number")
    stats = compute_stats(ds)
    assert stats["links"] == NO_ROLES and stats["all"]["plates_unlinked"] == 0
    assert "--parents/--children" in format_stats(stats)
    named = compute_stats(ds, children=["number"])
    assert named["links"] == IN_MEMORY and named["all"]["plates_linked"] == 1
    assert {c["name"]: c["role"] for c in named["categories"]} == {"car": "parent", "number": "child"}


def test_real_unlinked_set_agrees_with_the_links(plates_dir: Path) -> None:
    """plates-us-eu (YOLO, no links): 1029 plates, 48 in no vehicle box (the audit's orphan_plate)."""
    ds = svmlp.read(plates_dir, probe=False)
    stats = compute_stats(ds)
    linked = link_plates(ds, strict=False)
    assert stats["links"] == IN_MEMORY
    everything = stats["all"]
    assert everything["plates_linked"] + everything["plates_unlinked"] == 1029
    # over-capacity and ambiguous plates are linked to their best vehicle (and flagged by the audit)
    assert everything["plates_unlinked"] == int((linked.status == "orphan").sum()) == 48
    assert [s["plates_unlinked"] for s in stats["splits"].values()] == [40, 5, 3]


def test_cli_says_where_links_came_from(plates_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(plates_dir), "--no-probe", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["links"] == "linked in memory" and doc["all"]["plates_unlinked"] == 48
    assert main(["stats", str(plates_dir), "--no-probe"]) == 0
    text = capsys.readouterr().out
    assert "plates without a vehicle                40    5     3    48" in text
    assert text.rstrip().endswith("linked in memory (svmlp link writes them)")
