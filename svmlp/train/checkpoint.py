"""Checkpoints (dicts that carry the arguments and the label map), resuming, and final metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from svmlp._files import replaced_atomically, write_atomic
from svmlp.errors import UsageError

__all__ = ["build_model", "final_metrics", "label_map_of", "load", "load_for_resume", "restore", "save"]


def _plain_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def write_config(out: Path, args: argparse.Namespace) -> None:
    import yaml

    text = yaml.safe_dump(_plain_args(args), sort_keys=True)
    write_atomic(out / "config.yaml", text.encode("utf-8"))


def save(
    path: Path,
    model: torch.nn.Module,
    ema: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    epoch: int,
    args: argparse.Namespace,
    label_map: Any,
    best_fitness: float,
    history: list[dict[str, Any]],
) -> None:
    """Whole or not at all: written beside ``path`` and renamed."""
    state = {
        "model": model.state_dict(),
        "ema": ema.ema.state_dict(),
        "ema_updates": ema.updates,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "args": _plain_args(args),
        "label_map": label_map.to_dict(),
        "scale": model.scale,
        "best_fitness": best_fitness,
        "history": history,
        "torch_rng": torch.get_rng_state(),
    }
    with replaced_atomically(path) as fh:
        torch.save(state, fh)


def load(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise UsageError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not {"model", "label_map", "args"} <= set(state):
        raise UsageError(f"{path}: not an svmlp checkpoint (no model, label_map and args)")
    return state


def load_for_resume(out: Path) -> dict[str, Any]:
    path = out / "last.pt"
    if not path.is_file():
        raise UsageError(f"--resume: {out} has no last.pt to continue from")
    return load(path)


def label_map_of(state: dict[str, Any], ds: Any, *, source: str = "the checkpoint") -> Any:
    """The checkpoint's label map, checked against the data set's categories."""
    from svmlp.torch import LabelMap

    lm = LabelMap.from_dict(state["label_map"], source=source)
    have = {c.id: c.name for c in ds.categories}
    wrong = [f"{i}={n}" for i, n in zip(lm.ids, lm.names) if have.get(i) != n]
    if wrong:
        raise UsageError(
            f"{source} was trained with another label map: {', '.join(wrong)} not in this data set "
            f"(it has {', '.join(f'{i}={n}' for i, n in have.items())})"
        )
    return lm


def restore(
    state: dict[str, Any], model: Any, ema: Any, optimizer: Any, scheduler: Any, scaler: Any
) -> tuple[int, float, list[dict[str, Any]]]:
    """Load every part; returns (the epoch to start at, best fitness, history)."""
    model.load_state_dict(state["model"])
    ema.ema.load_state_dict(state["ema"])
    ema.updates = int(state.get("ema_updates", 0))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]) + 1, float(state.get("best_fitness", -1.0)), list(state.get("history", []))


def build_model(state: dict[str, Any], *, use_ema: bool = True) -> Any:
    """The detector a checkpoint holds (EMA weights by default), on the CPU, in eval mode."""
    from svmlp.torch import LabelMap
    from svmlp.train.model import Detector

    n = len(LabelMap.from_dict(state["label_map"], source="the checkpoint"))
    model = Detector(n, scale=state.get("scale", "n"))
    model.load_state_dict(state["ema" if use_ema and "ema" in state else "model"])
    return model.eval()


def final_metrics(
    out: Path, ds: Any, args: argparse.Namespace, device: Any, amp_dtype: Any, val_loader: Any
) -> dict[str, Any]:
    """best.pt's EMA weights evaluated on the validation split and, when there is one, the test split."""
    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.train.harness import evaluate

    path = out / "best.pt" if (out / "best.pt").is_file() else out / "last.pt"
    state = load(path)
    model = build_model(state).to(device)
    lm = label_map_of(state, ds)
    result: dict[str, Any] = {"checkpoint": str(path), "epoch": int(state["epoch"])}
    res, _ = evaluate(model, val_loader, ds, args.val_split, lm, device=device, amp_dtype=amp_dtype)
    result["val"] = res.to_dict()
    if "test" in ds.splits and args.val_split != "test":
        test_ds = SVMLPDataset(ds, split="test", transforms=T.eval_preset(args.imgsz), label_map=lm)
        loader = torch.utils.data.DataLoader(
            test_ds, batch_size=max(1, args.batch), collate_fn=collate_batched
        )
        res, _ = evaluate(model, loader, ds, "test", lm, device=device, amp_dtype=amp_dtype)
        result["test"] = res.to_dict()
    return result
