"""../shared/data/plates-us-eu into the real FiftyOne and back, exactly; its audit as tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import svmlp

# runs in one process after the others (make test): see tests/integration/test_fiftyone.py
pytestmark = pytest.mark.fiftyone


def test_plates_round_trip_through_fiftyone(plates_dir: Path, fiftyone_db) -> None:
    from svmlp.audit import run_audit
    from svmlp.fiftyone import from_fiftyone, to_fiftyone
    from svmlp.links import link_plates

    ds = svmlp.read(plates_dir)
    linked = link_plates(ds).dataset  # the real set has no links of its own
    assert (linked.boxes.parent >= 0).sum() > 500
    report = run_audit(linked, scan=False)
    fo_ds = to_fiftyone(linked, name="svmlp-test-plates", overwrite=True, audit=report)
    try:
        assert fo_ds.info["svmlp"]["bulk_write"] is True
        assert len(fo_ds) == 800 and fo_ds.count("ground_truth.detections") == len(linked.boxes)
        assert {s: len(fo_ds.match_tags(s)) for s in ("train", "val", "test")} == {
            "train": 675,
            "val": 90,
            "test": 35,
        }
        for check in report.counts():
            rows = {i.image for i in report.issues if i.check == check and i.image >= 0}
            assert len(fo_ds.match_tags(check)) == len(rows), check
        back = from_fiftyone(fo_ds)
        for col in ("id", "image", "category", "xyxy", "parent", "iscrowd"):
            np.testing.assert_array_equal(getattr(back.boxes, col), getattr(linked.boxes, col), err_msg=col)
        np.testing.assert_array_equal(back.boxes.link_score, linked.boxes.link_score)
        for col in ("id", "file_name", "split", "width", "height"):
            np.testing.assert_array_equal(getattr(back.images, col), getattr(linked.images, col), err_msg=col)
        for i in (0, 400, 799):
            assert back.image_path(i) == linked.image_path(i) and back.image_path(i).is_file()
    finally:
        fo_ds.delete()
