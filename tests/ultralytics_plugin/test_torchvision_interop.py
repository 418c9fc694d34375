"""SVMLPDataset feeds torchvision's detection models as the README shows (this venv has
torchvision): label_offset=1 keeps 0 for the background, images become floats in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.ultralytics


def test_fasterrcnn_trains_on_svmlp_dataset(sample_yolo: Path) -> None:
    import torchvision
    from torch.utils.data import DataLoader

    from svmlp.torch import SVMLPDataset, collate
    from svmlp.torch import transforms as T

    ds = SVMLPDataset(sample_yolo, split="train", transforms=T.train_preset(256), label_offset=1, seed=0)
    dl = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate)
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None, num_classes=len(ds.label_map) + 1
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    losses = []
    for step, (images, targets) in enumerate(dl):
        images = [im.float() / 255 for im in images]
        targets = [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]
        assert all(bool((t["labels"] >= 1).all()) for t in targets)
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step == 2:
            break
    assert all(torch.isfinite(torch.tensor(losses)))
    model.eval()
    with torch.no_grad():
        out = model([images[0]])[0]
    assert set(out) >= {"boxes", "labels", "scores"}
