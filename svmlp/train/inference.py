"""``svmlp predict``: a checkpoint's predictions on a split, as a COCO results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["predict_file"]


def predict_file(
    checkpoint: Path,
    source: Path,
    *,
    split: str,
    out: Path,
    imgsz: int | None = None,
    batch: int = 16,
    conf: float = 0.001,
    iou: float = 0.6,
    device: str = "auto",
    workers: int = 2,
) -> int:
    """Write the predictions of ``checkpoint`` (its EMA weights) on ``split`` of ``source`` to
    ``out``; returns their number. The file feeds ``svmlp evaluate``, ``svmlp audit --predictions``
    and ``svmlp view --predictions``."""
    import torch

    import svmlp
    from svmlp._files import write_atomic
    from svmlp.errors import UsageError
    from svmlp.model import Inputs
    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.train.checkpoint import build_model, label_map_of, load
    from svmlp.train.harness import _device
    from svmlp.train.predict import predict_loader

    state = load(checkpoint)
    ds = svmlp.read(source)
    conflict = (ds.inputs | Inputs.of(files=[checkpoint])).report_conflict(out)
    if conflict is not None:
        raise UsageError(f"-o {out}: {conflict}; write the predictions outside the data set")
    if split not in ds.splits:
        raise UsageError(f"{source}: no split {split!r} (it has {', '.join(ds.splits)})")
    lm = label_map_of(state, ds, source=str(checkpoint))
    dev = _device(device)
    size = int(imgsz or state["args"].get("imgsz", 640))
    data = SVMLPDataset(ds, split=split, transforms=T.eval_preset(size), label_map=lm, link=False)
    loader: Any = torch.utils.data.DataLoader(
        data, batch_size=batch, num_workers=workers, collate_fn=collate_batched
    )
    model = build_model(state).to(dev)
    preds = predict_loader(model, loader, category_ids=tuple(lm.ids), device=dev, conf=conf, iou=iou)
    write_atomic(out, json.dumps(preds).encode("utf-8"))
    return len(preds)
