"""Checkpoints: dicts that carry the arguments, the label map and the model family; resuming.

A checkpoint holds ``model`` and ``ema`` (state dicts), ``optimizer``, ``scheduler``, ``scaler``,
``epoch``, ``args`` (the run's options), ``label_map``, ``best_fitness``, ``history`` and
``family``: ``{"name": "svmlp-detector", "args": {"num_classes": 2, "scale": "n", "imgsz": 640}}``,
what :func:`svmlp.train.registry.build_model` rebuilds the model from. A checkpoint written before
families has no ``family`` and holds the reference detector (its ``scale`` at the top level).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from svmlp._files import replaced_atomically, write_atomic
from svmlp.errors import UsageError
from svmlp.train import registry
from svmlp.train.registry import DEFAULT, Family, get_family

__all__ = [
    "RUN_DEFINING",
    "family_of",
    "label_map_of",
    "load",
    "load_for_resume",
    "model_of",
    "model_spec",
    "restore",
    "resume_args",
    "save",
    "write_config",
]


def _plain_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def write_config(out: Path, args: argparse.Namespace) -> None:
    """``config.yaml``: the run's resolved options."""
    import yaml

    text = yaml.safe_dump(_plain_args(args), sort_keys=True)
    write_atomic(out / "config.yaml", text.encode("utf-8"))


def save(
    path: Path,
    *,
    model: nn.Module,
    ema: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    epoch: int,
    args: argparse.Namespace,
    label_map: Any,
    family: dict[str, Any],
    best_fitness: float,
    history: list[dict[str, Any]],
) -> None:
    """Whole or not at all: written beside ``path`` and renamed. ``family``: see the module."""
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
        "family": family,
        # svmlp before model families rebuilt the detector from this key alone
        **({"scale": family["args"]["scale"]} if "scale" in family.get("args", {}) else {}),
        "best_fitness": best_fitness,
        "history": history,
        "torch_rng": torch.get_rng_state(),
    }
    with replaced_atomically(path) as fh:
        torch.save(state, fh)


def load(path: Path) -> dict[str, Any]:
    """A checkpoint's dict, on the CPU; anything else is a :class:`~svmlp.errors.UsageError`."""
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
    """``out/last.pt``, for ``--resume``."""
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


def model_spec(state: dict[str, Any]) -> dict[str, Any]:
    """``{"name": family, "args": build options}``; for a checkpoint from before families, the
    reference detector's."""
    if "family" in state:
        return dict(state["family"])
    from svmlp.torch import LabelMap

    n = len(LabelMap.from_dict(state["label_map"], source="the checkpoint"))
    imgsz = int(state["args"].get("imgsz", 640))
    return {"name": DEFAULT, "args": {"num_classes": n, "scale": state.get("scale", "n"), "imgsz": imgsz}}


def family_of(state: dict[str, Any]) -> Family:
    """The checkpoint's model family; one not registered here is a :class:`~svmlp.errors.UsageError`."""
    return get_family(model_spec(state)["name"])


def model_of(state: dict[str, Any], *, use_ema: bool = True) -> nn.Module:
    """The model a checkpoint holds (EMA weights by default), on the CPU, in eval mode."""
    spec = model_spec(state)
    model = registry.build_model(spec["name"], **spec["args"])
    model.load_state_dict(state["ema" if use_ema and "ema" in state else "model"])
    return model.eval()


#: what defines a run: on --resume these come from the checkpoint, whatever the command line says
RUN_DEFINING = (
    "model", "scale", "imgsz", "epochs", "batch", "icr", "icr_distance", "lr", "weight_decay", "warmup_epochs",
    "clip", "mosaic", "close_mosaic", "seed", "train_split", "val_split", "max_iters",
)  # fmt: skip


def resume_args(args: argparse.Namespace, state: dict[str, Any]) -> list[str]:
    """Put the run's own settings (:data:`RUN_DEFINING`) back into ``args``; returns the
    command-line options that differed."""
    saved = {**state["args"], "model": model_spec(state)["name"]}
    changed = []
    for key in RUN_DEFINING:
        if key in saved and getattr(args, key) != saved[key]:
            changed.append(f"--{key.replace('_', '-')} {getattr(args, key)} (the run has {saved[key]})")
            setattr(args, key, saved[key])
    return changed


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
