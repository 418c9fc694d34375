"""The training loop's parts, for any model family: EMA, the learning-rate schedule, one epoch, an
evaluation."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from svmlp.errors import SvmlpError
from svmlp.train.runtime import unwrap

__all__ = ["THROUGHPUT_KEYS", "ModelEMA", "TrainingError", "evaluate", "lr_lambda", "train_one_epoch"]

#: what :func:`train_one_epoch` returns besides the criterion's loss parts
THROUGHPUT_KEYS = ("images_per_s", "seconds", "iterations")


class TrainingError(SvmlpError, RuntimeError):
    """Training cannot go on (a non-finite loss)."""


class ModelEMA:
    """An exponential moving average of the weights, ramped up over the first updates."""

    def __init__(
        self, model: nn.Module, *, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0
    ) -> None:
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def lr_lambda(total: int, warmup: int, final: float = 0.01):  # noqa: ANN201 - a closure for LambdaLR
    """Linear warm-up from 10 % over ``warmup`` iterations, then cosine down to ``final``."""

    def f(it: int) -> float:
        if it < warmup:
            return 0.1 + 0.9 * it / max(warmup, 1)
        t = min(1.0, (it - warmup) / max(total - warmup, 1))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def train_one_epoch(
    model: nn.Module,
    criterion: Callable[[Any, torch.Tensor], tuple[torch.Tensor, dict[str, float]]],
    loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    ema: ModelEMA | None,
    *,
    device: torch.device,
    epoch: int,
    amp_dtype: torch.dtype | None,
    clip: float = 10.0,
    max_iters: int | None = None,
    channels_last: bool = False,
    progress: bool | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns the mean of each loss part ``criterion(model(images),
    targets)`` names, and :data:`THROUGHPUT_KEYS`."""
    from svmlp._progress import bar_class

    tqdm = bar_class()
    model.train()
    sums: dict[str, float] = {}
    n_iter = n_img = 0
    start = time.perf_counter()
    # None: a bar on a terminal only
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=None if progress is None else not progress, leave=False)
    for images, targets, _ in bar:
        x = images.to(device, non_blocking=True)
        if not x.is_floating_point():  # uint8 from collate_batched (DeviceAugment gives [0, 1] already)
            x = x.float().div_(255)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        t = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = model(x)
        loss, parts = criterion(outputs, t)  # outside autocast: a criterion computes in float32
        if not torch.isfinite(loss):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in parts.items())
            raise TrainingError(f"non-finite loss at epoch {epoch}, iteration {n_iter}: {shown}; stopped")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if ema is not None:
            ema.update(unwrap(model))
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        n_iter += 1
        n_img += len(images)
        bar.set_postfix({k: f"{v / n_iter:.3f}" for k, v in sums.items()})
        if max_iters is not None and n_iter >= max_iters:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    out = {k: v / max(n_iter, 1) for k, v in sums.items()}
    out.update(
        {"images_per_s": n_img / seconds if seconds else 0.0, "seconds": seconds, "iterations": n_iter}
    )
    return out


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    dataset: Any,
    split: str,
    label_map: Any,
    *,
    postprocess: Callable[..., list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]],
    device: torch.device,
    amp_dtype: torch.dtype | None,
    criterion: Callable[..., Any] | None = None,
    losses: dict[str, float] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """COCO evaluation of ``model`` on ``split``: (an :class:`~svmlp.train.coco_eval.EvalResult`,
    the predictions); ``postprocess`` is the model family's. With ``criterion``, ``losses``
    receives the validation loss, part by part."""
    from svmlp.train.coco_eval import evaluate_predictions
    from svmlp.train.predict import predict_loader

    preds = predict_loader(
        model,
        loader,
        postprocess=postprocess,
        category_ids=tuple(label_map.ids),
        device=device,
        amp_dtype=amp_dtype,
        criterion=criterion,
        losses=losses,
    )
    return evaluate_predictions(dataset, preds, split=split), preds
