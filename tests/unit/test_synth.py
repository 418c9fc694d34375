from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from svmlp.stats import compute_stats, format_stats
from svmlp.synth import NOISE_KINDS, generate, generate_annotations


def test_deterministic_and_seeded() -> None:
    a, b, c = (
        generate_annotations(30, seed=4),
        generate_annotations(30, seed=4),
        generate_annotations(30, seed=5),
    )
    assert np.array_equal(a.boxes.xyxy, b.boxes.xyxy) and a.images.split.tolist() == b.images.split.tolist()
    assert not np.array_equal(a.boxes.xyxy[:5], c.boxes.xyxy[:5])


def test_clean_scenes_link_every_plate_inside_its_vehicle() -> None:
    ds = generate_annotations(200, seed=1)
    b = ds.boxes
    plates = np.flatnonzero(ds.role_mask("child"))
    assert (b.parent[plates] >= 0).all()
    p, v = b.xyxy[plates], b.xyxy[b.parent[plates]]
    inside = (
        (p[:, 0] >= v[:, 0] - 1e-9)
        & (p[:, 1] >= v[:, 1] - 1e-9)
        & (p[:, 2] <= v[:, 2] + 1e-9)
        & (p[:, 3] <= v[:, 3] + 1e-9)
    )
    assert inside.mean() > 0.97  # a plate cut by the border is clipped with its vehicle
    per_vehicle = np.bincount(b.parent[plates], minlength=len(b))[ds.role_mask("parent")]
    assert set(per_vehicle.tolist()) == {0, 1, 2}
    assert (b.xyxy[:, [0, 1]] >= 0).all() and (b.xyxy[:, 2] <= 640).all() and (b.xyxy[:, 3] <= 480).all()
    assert (b.text[plates] != "").all() and not np.isnan(b.corners[plates]).any()


def test_noise_is_logged_and_roughly_the_rate() -> None:
    ds = generate_annotations(300, seed=2, noise=0.1)
    log = ds.info["synth_noise"]
    assert {e["kind"] for e in log} == set(NOISE_KINDS)
    assert 0.05 < len(log) / len(ds.boxes) < 0.15
    orphans = [e["box_id"] for e in log if e["kind"] == "orphan_plate"]
    rows = np.flatnonzero(np.isin(ds.boxes.id, orphans))
    assert (ds.boxes.parent[rows] == -1).all()


def test_render_writes_real_jpegs(tmp_path: Path) -> None:
    ds = generate(tmp_path, 6, seed=3, unlabelled=0.3)
    for i in range(len(ds)):
        with Image.open(ds.image_path(i)) as im:
            assert im.format == "JPEG" and im.size == (640, 480)
            pixels = np.asarray(im.convert("L"))
        assert pixels.std() > 10  # a scene, not a flat fill
    stats = compute_stats(ds)
    assert stats["all"]["images"] == 6
    assert "images" in format_stats(stats)


def test_stats_counts() -> None:
    ds = generate_annotations(50, seed=0, unlabelled=0.1, negatives=0.1)
    s = compute_stats(ds)["all"]
    assert s["images"] == 50 and s["labelled"] + s["unlabelled"] == 50
    assert s["boxes"] == len(ds.boxes) == sum(s["sizes"].values())
    assert s["plates_linked"] + s["plates_unlinked"] == int(ds.role_mask("child").sum())
    assert s["empty"] >= 1 and s["unlabelled"] >= 1


def test_stats_counts_stored_sizes_that_differ() -> None:
    from svmlp.model import ImageTable

    ds = generate_annotations(3, seed=0)
    im = ds.images
    ds = ds.replace(
        images=ImageTable(
            **{
                **im.__dict__,
                "header_width": np.array([640, 480, 0]),
                "header_height": np.array([480, 640, 0]),
                "orientation": np.array([1, 6, 0], np.int8),
            }
        )
    )
    assert compute_stats(ds)["all"]["size_differs"] == 0  # the second is turned by EXIF: same frame
    ds.images.orientation[1] = 1
    assert compute_stats(ds)["all"]["size_differs"] == 1
