"""``svmlp train``: the reference training harness, shaped like torchvision's references.

    svmlp train DATA --epochs 100 --imgsz 640 --batch 32 --icr inverse --amp --out runs/icr
    torchrun --nproc_per_node 8 -m svmlp.train DATA ...       # DistributedDataParallel
    svmlp train DATA --model NAME ...                          # another model family (train/registry.py)

A run folder holds ``config.yaml`` (the resolved arguments), ``label_map.json``, ``last.pt`` and
``best.pt`` (dicts: model, ema, optimizer, scheduler, scaler, epoch, args, label map, model family,
history: :mod:`svmlp.train.checkpoint`), ``metrics.csv`` / ``metrics.json`` (one row an epoch),
``final.json``, and PNG plots. The harness knows no model family: it builds the model, its loss and
its postprocess through :mod:`svmlp.train.registry`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svmlp._files import write_atomic
from svmlp.errors import UsageError
from svmlp.train.registry import DEFAULT, FAMILIES, get_family

if TYPE_CHECKING:
    import torch

    from svmlp.model import Dataset
    from svmlp.train.data import TrainData
    from svmlp.train.runtime import Processes

__all__ = ["get_args_parser", "main"]

ICR_CHOICES = ("off", "inverse", "linear", "log")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the reference detector, with or without ICR; or, with --engine ultralytics, "
        "an ultralytics model with ICR in ultralytics' own loss. KEY=VALUE words anywhere on the line are "
        "ultralytics' own training arguments (--engine ultralytics only), passed through.",
        add_help=add_help,
    )
    p.add_argument("data", type=Path, help="data set folder or annotation file (any format svmlp reads)")
    p.add_argument(
        "--engine",
        choices=("svmlp", "ultralytics"),
        default="svmlp",
        help="svmlp: the reference detector (default); ultralytics: an ultralytics model "
        "(--model yolo12n.yaml, rtdetr-l.yaml, …) with ICR in its own loss (svmlp[ultralytics])",
    )
    for flag, what in (("--parents", "vehicle"), ("--children", "plate")):
        p.add_argument(
            flag,
            type=lambda t: [s.strip() for s in t.split(",") if s.strip()],
            help=f"{what} classes for ICR, comma-separated (default: from svmlp's alias table)",
        )
    p.add_argument("-c", "--config", type=Path, help="a YAML file of these options (the command line wins)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=32, help="images per step, over all processes")
    p.add_argument("--icr", default="off", help=f"the ICR loss: {', '.join(ICR_CHOICES)} (default off)")
    p.add_argument(
        "--no-icr-distance", dest="icr_distance", action="store_false", help="ICR without its distance term"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument(
        "--amp", action="store_true", help="mixed precision on CUDA (bf16 where supported, else fp16)"
    )
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/exp"))
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument(
        "--model",
        default=DEFAULT,
        help=f"model family (default {DEFAULT}): {', '.join(FAMILIES)} or one registered in svmlp.train.registry",
    )
    p.add_argument("--scale", default="n", help="model scale: p (tests), n (tiny, ~3 M parameters), s")
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--clip", type=float, default=10.0, help="gradient norm clip")
    p.add_argument("--mosaic", type=float, default=1.0, help="share of training samples made as mosaics")
    p.add_argument("--close-mosaic", type=int, default=10, help="no mosaic for the last N epochs")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (and the last)")
    p.add_argument("--max-iters", type=int, help="stop each epoch after this many iterations (smoke tests)")
    p.add_argument("--cache", action="store_true", help="cache resized images (svmlp.torch cache)")
    p.add_argument(
        "--compile-loss",
        action="store_true",
        help="CIoU + ICR through torch.compile (fused kernels; compiles on the first steps)",
    )
    p.add_argument(
        "--augment",
        choices=("auto", "workers", "device"),
        default="auto",
        help="where the training augmentation draws its pixels: in the loader's workers, or batched on "
        "the training device (svmlp.torch.DeviceAugment); auto: the device on CUDA, else the workers",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        help="end this process after N epochs (a time-boxed job); --resume continues",
    )
    p.add_argument("--no-plots", dest="plots", action="store_false")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no per-epoch lines")
    return p


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the arguments, the ``KEY=VALUE`` words among them: ultralytics' own arguments).

    >>> split_overrides(["data", "--epochs", "3", "mosaic=0", "--out=x"])
    (['data', '--epochs', '3', '--out=x'], ['mosaic=0'])
    """
    words = [a for a in argv if _OVERRIDE.match(a)]
    return [a for a in argv if not _OVERRIDE.match(a)], words


_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The options of a run (the command line, then ``--config``), checked; ``KEY=VALUE`` words
    are kept as ``overrides``."""
    parser = get_args_parser()
    argv, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
    first = parser.parse_args(argv)
    if first.config is not None:
        import yaml

        try:
            cfg = yaml.safe_load(first.config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{first.config}: cannot read the config ({exc})") from None
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(cfg) - known) if isinstance(cfg, dict) else ["(not a mapping)"]
        if unknown:
            raise UsageError(f"{first.config}: unknown option(s) {', '.join(map(str, unknown))}")
        parser.set_defaults(**{k: Path(v) if k in ("out", "data") else v for k, v in cfg.items()})
        first = parser.parse_args(argv)
    first.overrides = overrides
    if first.imgsz < 32 or first.imgsz % 32:
        raise UsageError(
            f"--imgsz {first.imgsz}: must be a positive multiple of 32 (the model's largest stride)"
        )
    if first.icr not in ICR_CHOICES:
        raise UsageError(f"--icr {first.icr!r}: unknown mode; choose one of {', '.join(ICR_CHOICES)}")
    if first.engine == "svmlp":
        if first.overrides:
            raise UsageError(
                f"{first.overrides[0]!r}: KEY=VALUE arguments are ultralytics'; pass --engine ultralytics"
            )
        check_extras(plots=first.plots)  # before the family, whose module imports torch
        get_family(first.model)  # an unknown family names the known ones
    return first


@dataclass
class _Run:
    """What the steps of a run share."""

    args: argparse.Namespace
    procs: Processes
    ds: Dataset
    data: TrainData
    amp_dtype: torch.dtype | None
    family: dict[str, Any]  # the checkpoints' "family": name and build options
    model: Any = None
    net: Any = None  # the model, or its DistributedDataParallel wrapper
    ema: Any = None
    criterion: Any = None
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None
    start_epoch: int = 0
    best_fitness: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)


def check_extras(*, plots: bool = True) -> None:
    """What training needs (the ``train`` extra), checked before any data is read: a missing one
    is one line naming the extra, not a failure after the first epoch."""
    from svmlp._optional import require

    require("torch", extra="train")
    require("pycocotools", extra="train")  # every evaluation
    if plots:
        require("matplotlib", extra="train")


def main(argv: list[str] | None = None) -> int:
    """Train; returns 0. Bad input raises :class:`~svmlp.errors.UsageError`."""
    args = parse(argv)
    if args.engine == "ultralytics":  # the layer above this one runs it (svmlp.ultralytics)
        raise UsageError("--engine ultralytics: run it as `svmlp train DATA --engine ultralytics ...`")
    from svmlp.train import checkpoint as ckpt
    from svmlp.train.data import TrainData, read_data
    from svmlp.train.runtime import amp_dtype_for, seed_all, start_processes

    procs = start_processes(args.device)
    if args.quiet:
        procs.quiet, args.progress = True, False
    amp_dtype = amp_dtype_for(procs.device, amp=args.amp)
    if args.amp and amp_dtype is None:
        procs.say("note: --amp is for CUDA; training in float32 on the CPU")
    state = _previous_run(args, procs)
    seed_all(args.seed)
    ds = read_data(args, procs.say)
    data = TrainData(
        args,
        ds,
        label_map=ckpt.label_map_of(state, ds) if state else None,
        world=procs.world,
        device=procs.device,
        start_epoch=int(state["epoch"]) + 1 if state else 0,
    )
    family = {
        "name": args.model,
        "args": {"num_classes": len(data.label_map), "scale": args.scale, "imgsz": args.imgsz},
    }
    run = _Run(args, procs, ds, data, amp_dtype, family)
    _build(run, state)
    _announce(run)
    if _train(run) and procs.main:
        _finish(run)
    procs.close()
    return 0


def _previous_run(args: argparse.Namespace, procs: Processes) -> dict[str, Any] | None:
    """The checkpoint to resume from, its settings put back; a run folder in use is an error."""
    from svmlp.train import checkpoint as ckpt

    state = ckpt.load_for_resume(args.out) if args.resume else None
    if state is None and (args.out / "last.pt").exists():  # every rank checks: none waits for the others
        raise UsageError(
            f"{args.out} holds a run already (last.pt); pass --resume to continue it or choose another --out"
        )
    if state is not None:
        changed = ckpt.resume_args(args, state)
        if changed:
            procs.say(f"note: --resume continues the run as it was started; ignored {', '.join(changed)}")
    return state


def _build(run: _Run, state: dict[str, Any] | None) -> None:
    """The model (its family's), the optimizer, schedule, scaler, EMA and criterion; resumed from ``state``."""
    import torch

    from svmlp.train import checkpoint as ckpt
    from svmlp.train.engine import ModelEMA, lr_lambda
    from svmlp.train.registry import build_criterion, build_model

    args, device = run.args, run.procs.device
    run.model = build_model(run.family["name"], **run.family["args"]).to(device)
    if device.type == "cuda":
        # Module.to takes memory_format (torch documents it), but torch's overloads leave it out
        run.model = run.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in run.model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    run.optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
    )
    iters = run.data.iterations()
    schedule = lr_lambda(max(1, iters * args.epochs), int(args.warmup_epochs * iters))
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, schedule)
    run.scaler = torch.amp.GradScaler(device.type, enabled=run.amp_dtype == torch.float16)
    run.ema = ModelEMA(run.model)
    extra = {"compile": True} if getattr(args, "compile_loss", False) else {}
    if extra:
        import inspect

        takes = inspect.signature(get_family(args.model).criterion).parameters
        if "compile" not in takes and not any(p.kind is p.VAR_KEYWORD for p in takes.values()):
            raise UsageError(f"--compile-loss: the {args.model} family's criterion takes no compile option")
    run.criterion = build_criterion(
        args.model, run.model, icr=args.icr, icr_distance=args.icr_distance, **extra
    )
    if state is not None:
        parts = (run.model, run.ema, run.optimizer, run.scheduler, run.scaler)
        run.start_epoch, run.best_fitness, run.history = ckpt.restore(state, *parts)
        run.procs.say(f"resumed {args.out} at epoch {run.start_epoch}")
    run.net = run.model
    if run.procs.world > 1:
        run.net = torch.nn.parallel.DistributedDataParallel(
            run.model, device_ids=[device] if device.type == "cuda" else None
        )


def _announce(run: _Run) -> None:
    """The run folder's config and label map, and one line on what trains where."""
    from svmlp.train import checkpoint as ckpt

    if not run.procs.main:
        return
    args, out = run.args, run.args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt.write_config(out, args)
    run.data.label_map.save(out / "label_map.json")
    millions = sum(p.numel() for p in run.model.parameters()) / 1e6
    precision = "AMP " + str(run.amp_dtype).split(".")[-1] if run.amp_dtype else "float32"
    run.procs.say(
        f"training {millions:.2f} M parameters ({args.model}) on {run.procs.device} ({precision}), "
        f"{len(run.data.train_ds)} training images, ICR {args.icr}; run folder {out}"
    )


def _train(run: _Run) -> bool:
    """The epochs; False when ``--stop-after`` ends this process before the last."""
    args, procs = run.args, run.procs
    for epoch in range(run.start_epoch, args.epochs):
        parts = _train_epoch(run, epoch)
        last = epoch == args.epochs - 1
        if procs.main:
            _record(run, epoch, parts, validate=(epoch + 1) % args.eval_every == 0 or last)
        procs.barrier()
        if args.stop_after is not None and epoch + 1 - run.start_epoch >= args.stop_after and not last:
            procs.say(f"stopped after epoch {epoch} (--stop-after); continue with --resume")
            return False
    return True


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    from svmlp.train.engine import train_one_epoch

    args, device = run.args, run.procs.device
    run.data.set_epoch(epoch)
    return train_one_epoch(
        run.net,
        run.criterion,
        run.data.train,
        run.optimizer,
        run.scheduler,
        run.scaler,
        run.ema,
        device=device,
        epoch=epoch,
        amp_dtype=run.amp_dtype,
        clip=args.clip,
        max_iters=args.max_iters,
        channels_last=device.type == "cuda",
        progress=args.progress if run.procs.main else False,
    )


def _record(run: _Run, epoch: int, parts: dict[str, float], *, validate: bool) -> None:
    """The epoch's row (validated every ``--eval-every`` epochs), ``best.pt`` / ``last.pt`` and metrics."""
    from svmlp.train.engine import THROUGHPUT_KEYS
    from svmlp.train.report import write_epoch

    row: dict[str, Any] = {
        "epoch": epoch,
        "lr": run.optimizer.param_groups[0]["lr"],
        **{f"train_{k}": v for k, v in parts.items()},
    }
    fitness = _validate(run, row) if validate else None
    run.history.append(row)
    if fitness is not None:
        if fitness > run.best_fitness:
            run.best_fitness = fitness
            _save(run, "best.pt", epoch)
        losses = ", ".join(f"{k} {v:.4f}" for k, v in parts.items() if k not in THROUGHPUT_KEYS)
        run.procs.say(
            f"epoch {epoch}: {losses}; val AP50 {row.get('val_AP50') or 0:.4f} AP {row.get('val_AP') or 0:.4f}; "
            f"{parts['images_per_s']:.1f} img/s"
        )
    _save(run, "last.pt", epoch)
    write_epoch(run.args.out, run.history)


def _validate(run: _Run, row: dict[str, Any]) -> float:
    """The EMA model's COCO metrics on the validation split, into ``row``; returns the fitness."""
    from svmlp.train.engine import evaluate

    losses: dict[str, float] = {}
    result, _ = evaluate(
        run.ema.ema,
        run.data.val,
        run.ds,
        run.args.val_split,
        run.data.label_map,
        postprocess=get_family(run.args.model).postprocess,
        device=run.procs.device,
        amp_dtype=run.amp_dtype,
        criterion=run.criterion,
        losses=losses,
    )
    row.update({f"val_loss_{k}": v for k, v in losses.items()})
    row.update({f"val_{k}": v for k, v in result.metrics.items()})
    for name, m in result.per_class.items():
        row.update({f"val_{name}_{k}": v for k, v in m.items() if k != "gt"})
    row["fitness"] = 0.1 * (result.metrics.get("AP50") or 0.0) + 0.9 * (result.metrics.get("AP") or 0.0)
    return float(row["fitness"])


def _save(run: _Run, name: str, epoch: int) -> None:
    from svmlp.train import checkpoint as ckpt

    ckpt.save(
        run.args.out / name,
        model=run.model,
        ema=run.ema,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        scaler=run.scaler,
        epoch=epoch,
        args=run.args,
        label_map=run.data.label_map,
        family=run.family,
        best_fitness=run.best_fitness,
        history=run.history,
    )


def _finish(run: _Run) -> None:
    """``final.json`` (best.pt's EMA weights on the validation and test splits) and the plots."""
    from svmlp.train.report import write_plots

    out = run.args.out
    final = _final_metrics(run)
    write_atomic(out / "final.json", json.dumps(final, indent=1, default=float).encode("utf-8"))
    if run.args.plots:
        write_plots(out, run.history, final)
    run.procs.say(f"done: {out / 'best.pt'}; final val AP50 {final['val']['metrics'].get('AP50') or 0:.4f}")


def _final_metrics(run: _Run) -> dict[str, Any]:
    """best.pt (last.pt before any validation) rebuilt from the checkpoint alone, and evaluated."""
    from svmlp.train import checkpoint as ckpt
    from svmlp.train.engine import evaluate

    args, out, device = run.args, run.args.out, run.procs.device
    path = out / "best.pt" if (out / "best.pt").is_file() else out / "last.pt"
    state = ckpt.load(path)
    model = ckpt.model_of(state).to(device)
    postprocess = ckpt.family_of(state).postprocess
    lm = ckpt.label_map_of(state, run.ds)
    result: dict[str, Any] = {"checkpoint": str(path), "epoch": int(state["epoch"])}
    splits = {args.val_split: run.data.val}
    if "test" in run.ds.splits and args.val_split != "test":
        splits["test"] = run.data.eval_loader("test", label_map=lm)
    for split, loader in splits.items():
        res, _ = evaluate(
            model, loader, run.ds, split, lm, postprocess=postprocess, device=device, amp_dtype=run.amp_dtype
        )
        result["val" if split == args.val_split else "test"] = res.to_dict()
    return result


def cli(argv: list[str] | None = None) -> int:
    """``python -m svmlp.train``: one line and exit 2 for bad input, as the ``svmlp`` command."""
    from svmlp.errors import SvmlpError

    try:
        return main(argv)
    except SvmlpError as exc:
        print(f"svmlp train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("svmlp train: interrupted (last.pt holds the last finished epoch)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
