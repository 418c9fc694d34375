"""../shared/data/plates-us-eu through SVMLPDataset and a DataLoader, every image, every split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader  # noqa: E402

import svmlp  # noqa: E402
from svmlp.torch import SVMLPDataset, collate_batched  # noqa: E402
from svmlp.torch import transforms as T  # noqa: E402

IMAGES = {"train": 675, "val": 90, "test": 35}


def test_every_image_loads_with_boxes_and_links_in_place(plates_dir: Path) -> None:
    source = svmlp.read(plates_dir)
    maps = set()
    for split, count in IMAGES.items():
        ds = SVMLPDataset(plates_dir, split=split, transforms=T.eval_preset(320))
        maps.add(ds.label_map)
        assert len(ds) == count
        loader = DataLoader(ds, batch_size=32, num_workers=2, collate_fn=collate_batched)
        seen, linked = 0, 0
        for images, targets, infos in loader:
            assert images.shape[1:] == (3, 320, 320) and images.dtype == torch.uint8
            assert ((targets[:, 2:6] >= 0) & (targets[:, 2:6] <= 320)).all()
            parent = targets[:, 6].long()
            has = parent >= 0
            linked += int(has.sum())
            # a plate's parent is a vehicle of the same image
            assert (targets[parent[has], 0] == targets[has, 0]).all()
            assert (targets[parent[has], 1] == ds.label_map.names.index("vehicle")).all()
            seen += len(infos)
            for k, info in enumerate(infos):
                # the inverse matrix takes the boxes back to the labels, within a pixel of 320/640
                i = int(
                    np.flatnonzero(
                        (source.images.split == split) & (source.images.file_name == info["file_name"])
                    )[0]
                )
                lo, hi = source.offsets[i], source.offsets[i + 1]
                want = np.clip(source.boxes.xyxy[lo:hi], 0, [640, 640, 640, 640])
                rows = targets[targets[:, 0] == k, 2:6].double().numpy().reshape(-1, 2)
                back = (np.c_[rows, np.ones(len(rows))] @ np.linalg.inv(info["matrix"].numpy()).T)[
                    :, :2
                ].reshape(-1, 4)
                assert back.shape == want.shape and np.abs(back - want).max() < 0.01
        assert seen == count
        assert linked > 0.3 * count  # links were built in memory: the export has none
    assert len(maps) == 1
