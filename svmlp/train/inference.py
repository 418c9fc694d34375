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
    """Write the predictions of ``checkpoint`` (its EMA weights, decoded by its model family) on
    ``split`` of ``source`` to ``out``; returns their number. The file feeds ``svmlp evaluate``,
    ``svmlp audit --predictions`` and ``svmlp view --predictions``."""
    import torch

    from svmlp._files import write_atomic
    from svmlp.errors import UsageError
    from svmlp.formats import read
    from svmlp.model import Inputs
    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.train.checkpoint import family_of, label_map_of, load, model_of
    from svmlp.train.predict import predict_loader
    from svmlp.train.runtime import choose_device

    state = load(checkpoint)
    postprocess = family_of(state).postprocess  # a family not registered here: say so before reading data
    ds = read(source)
    conflict = (ds.inputs | Inputs.of(files=[checkpoint])).report_conflict(out)
    if conflict is not None:
        raise UsageError(f"-o {out}: {conflict}; write the predictions outside the data set")
    if split not in ds.splits:
        raise UsageError(f"{source}: no split {split!r} (it has {', '.join(ds.splits)})")
    lm = label_map_of(state, ds, source=str(checkpoint))
    dev = choose_device(device)
    size = int(imgsz or state["args"].get("imgsz", 640))
    data = SVMLPDataset(ds, split=split, transforms=T.eval_preset(size), label_map=lm, link=False)
    loader: Any = torch.utils.data.DataLoader(
        data, batch_size=batch, num_workers=workers, collate_fn=collate_batched
    )
    model = model_of(state).to(dev)
    preds = predict_loader(
        model, loader, postprocess=postprocess, category_ids=tuple(lm.ids), device=dev, conf=conf, iou=iou
    )
    write_atomic(out, json.dumps(preds).encode("utf-8"))
    return len(preds)
