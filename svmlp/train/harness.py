"""``svmlp train``: the reference training harness, shaped like torchvision's references.

    svmlp train DATA --epochs 100 --imgsz 640 --batch 32 --icr inverse --amp --out runs/icr
    torchrun --nproc_per_node 8 -m svmlp.train DATA ...       # DistributedDataParallel

A run folder holds ``config.yaml`` (the resolved arguments), ``label_map.json``, ``last.pt`` and
``best.pt`` (dicts: model, ema, optimizer, scheduler, scaler, epoch, args, label map, history),
``metrics.csv`` / ``metrics.json`` (one row an epoch), ``final.json``, and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from svmlp._files import write_atomic
from svmlp.errors import UsageError

__all__ = ["evaluate", "get_args_parser", "main"]

ICR_CHOICES = ("off", "inverse", "linear", "log")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the reference detector, with or without ICR.", add_help=add_help
    )
    p.add_argument("data", type=Path, help="data set folder or annotation file (any format svmlp reads)")
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
        "--stop-after",
        type=int,
        help="end this process after N epochs (a time-boxed job); --resume continues",
    )
    p.add_argument("--no-plots", dest="plots", action="store_false")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    return p


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = get_args_parser()
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
    if first.imgsz < 32 or first.imgsz % 32:
        raise UsageError(
            f"--imgsz {first.imgsz}: must be a positive multiple of 32 (the model's largest stride)"
        )
    if first.icr not in ICR_CHOICES:
        raise UsageError(f"--icr {first.icr!r}: unknown mode; choose one of {', '.join(ICR_CHOICES)}")
    return first


#: what defines a run: on --resume these come from the checkpoint, whatever the command line says
_RUN_DEFINING = (
    "scale", "imgsz", "epochs", "batch", "icr", "icr_distance", "lr", "weight_decay", "warmup_epochs",
    "clip", "mosaic", "close_mosaic", "seed", "train_split", "val_split", "max_iters",
)  # fmt: skip


def _resume_args(args: argparse.Namespace, saved: dict[str, Any]) -> list[str]:
    """Put the run's own settings back; returns the command-line options that differed."""
    changed = []
    for key in _RUN_DEFINING:
        if key in saved and getattr(args, key) != saved[key]:
            changed.append(f"--{key.replace('_', '-')} {getattr(args, key)} (the run has {saved[key]})")
            setattr(args, key, saved[key])
    return changed


def _device(name: str):  # noqa: ANN202
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: not a device (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"--device {name}: CUDA was asked for but torch sees no CUDA device (torch {torch.__version__})"
        )
    return dev


def _seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def _data(args: argparse.Namespace, say: Any) -> Any:
    """The data set, with links built when ICR needs them and the data has none."""
    import svmlp
    from svmlp.links import link_plates

    ds = svmlp.read(args.data)
    conflict = ds.inputs.output_conflict(args.out)
    if conflict is not None:
        raise UsageError(f"--out {args.out}: {conflict}; keep runs outside the data set")
    for split in (args.train_split, args.val_split):
        if split not in ds.splits:
            raise UsageError(f"{args.data}: no split {split!r} (it has {', '.join(ds.splits)})")
    if args.icr != "off":
        roles = {c.role for c in ds.categories}
        if not {"parent", "child"} <= roles:
            have = ", ".join(f"{c.name} ({c.role or 'no role'})" for c in ds.categories)
            raise UsageError(
                f"{args.data}: --icr {args.icr} needs a plate class and a vehicle class; it has {have}"
            )
        if not (ds.boxes.parent >= 0).any():
            ds = link_plates(ds).dataset
            say(
                f"note: {args.data} has no plate→vehicle links; linked them on load ({int((ds.boxes.parent >= 0).sum())} plates)"
            )
    return ds


class _EpochSampler:
    """A permutation drawn from (seed, epoch): the same order again on resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # noqa: ANN204
        import torch

        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def evaluate(
    model: Any, loader: Any, dataset: Any, split: str, label_map: Any, *, device: Any, amp_dtype: Any
) -> Any:
    """COCO evaluation of ``model`` on ``split`` (an :class:`~svmlp.train.coco_eval.EvalResult`)."""
    from svmlp.train.coco_eval import evaluate_predictions
    from svmlp.train.predict import predict_loader

    preds = predict_loader(
        model, loader, category_ids=tuple(label_map.ids), device=device, amp_dtype=amp_dtype
    )
    return evaluate_predictions(dataset, preds, split=split), preds


def main(argv: list[str] | None = None) -> int:
    """Train; returns 0. Bad input raises :class:`~svmlp.errors.UsageError`."""
    import torch
    import torch.distributed as dist

    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.train import checkpoint as ckpt
    from svmlp.train.criterion import DetectionLoss
    from svmlp.train.engine import ModelEMA, lr_lambda, train_one_epoch
    from svmlp.train.model import SCALES, Detector
    from svmlp.train.report import write_epoch, write_plots

    args = _parse(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.scale not in SCALES:
        raise UsageError(f"--scale {args.scale!r}: choose one of {', '.join(SCALES)}")
    device = _device(args.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        # rank 0 evaluates while the others wait at a barrier: allow it a long evaluation
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    main_proc = rank == 0

    def say(line: str) -> None:
        if main_proc:
            print(line, flush=True)

    amp_dtype = None
    if args.amp and device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif args.amp:
        say("note: --amp is for CUDA; training in float32 on the CPU")
    out: Path = args.out
    state = ckpt.load_for_resume(out) if args.resume else None
    if state is None and (out / "last.pt").exists():  # every rank checks: none waits for the others
        raise UsageError(
            f"{out} holds a run already (last.pt); pass --resume to continue it or choose another --out"
        )
    if state is not None:
        changed = _resume_args(args, state["args"])
        if changed:
            say(f"note: --resume continues the run as it was started; ignored {', '.join(changed)}")
    _seed_all(args.seed)
    ds = _data(args, say)
    label_map = ckpt.label_map_of(state, ds) if state else None

    def mosaic_at(epoch: int) -> float:
        return 0.0 if args.epochs - epoch <= args.close_mosaic else args.mosaic  # settle on whole images

    mosaic = mosaic_at(int(state["epoch"]) + 1 if state else 0)
    train_ds = SVMLPDataset(
        ds,
        split=args.train_split,
        transforms=T.train_preset(args.imgsz, mosaic=mosaic),
        label_map=label_map,
        seed=args.seed,
        cache=bool(args.cache),
    )
    label_map = train_ds.label_map
    val_ds = SVMLPDataset(ds, split=args.val_split, transforms=T.eval_preset(args.imgsz), label_map=label_map)
    per_proc = max(1, args.batch // world)
    if world > 1:
        sampler: Any = torch.utils.data.DistributedSampler(
            train_ds, shuffle=True, seed=args.seed, drop_last=True
        )
    else:
        sampler = _EpochSampler(len(train_ds), args.seed)
    loader_kw: dict[str, Any] = dict(
        num_workers=args.workers, collate_fn=collate_batched, pin_memory=device.type == "cuda"
    )
    if args.workers > 0:
        loader_kw["persistent_workers"] = True

    def make_train_loader() -> Any:
        return torch.utils.data.DataLoader(
            train_ds, batch_size=per_proc, sampler=sampler, drop_last=len(train_ds) >= per_proc, **loader_kw
        )

    train_loader = make_train_loader()
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=per_proc, shuffle=False, **loader_kw)

    model = Detector(len(label_map), scale=args.scale).to(device)
    model.reset_head_bias(args.imgsz)
    if device.type == "cuda":
        # Module.to takes memory_format (torch documents it), but torch's overloads leave it out
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
    )
    iters = len(train_loader) if args.max_iters is None else min(len(train_loader), args.max_iters)
    total = max(1, iters * args.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total, int(args.warmup_epochs * iters))
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    ema = ModelEMA(model)
    criterion = DetectionLoss(model, icr=args.icr, icr_distance=args.icr_distance)
    start_epoch, best_fitness = 0, -1.0
    history: list[dict[str, Any]] = []
    if state is not None:
        start_epoch, best_fitness, history = ckpt.restore(state, model, ema, optimizer, scheduler, scaler)
        say(f"resumed {out} at epoch {start_epoch}")
    net: Any = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    if main_proc:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(out, args)
        label_map.save(out / "label_map.json")
        say(
            f"training {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters on {device} "
            f"({'AMP ' + str(amp_dtype).split('.')[-1] if amp_dtype else 'float32'}), {len(train_ds)} training images, "
            f"ICR {args.icr}; run folder {out}"
        )

    def save(name: str, epoch: int) -> None:
        ckpt.save(
            out / name,
            model,
            ema,
            optimizer,
            scheduler,
            scaler,
            epoch,
            args,
            label_map,
            best_fitness,
            history,
        )

    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        if mosaic_at(epoch) != mosaic:
            # persistent workers hold their own copy of the data set: a new loader takes the change
            mosaic = mosaic_at(epoch)
            train_ds.transforms = T.train_preset(args.imgsz, mosaic=mosaic)
            train_loader = make_train_loader()
        parts = train_one_epoch(
            net,
            criterion,
            train_loader,
            optimizer,
            scheduler,
            scaler,
            ema,
            device=device,
            epoch=epoch,
            amp_dtype=amp_dtype,
            clip=args.clip,
            max_iters=args.max_iters,
            channels_last=device.type == "cuda",
            progress=args.progress if main_proc else False,
        )
        row: dict[str, Any] = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            **{f"train_{k}": v for k, v in parts.items()},
        }
        last = epoch == args.epochs - 1
        if main_proc and ((epoch + 1) % args.eval_every == 0 or last):
            result, _ = evaluate(
                ema.ema, val_loader, ds, args.val_split, label_map, device=device, amp_dtype=amp_dtype
            )
            row.update({f"val_{k}": v for k, v in result.metrics.items()})
            for name, m in result.per_class.items():
                row.update({f"val_{name}_{k}": v for k, v in m.items() if k != "gt"})
            fitness = 0.1 * (result.metrics.get("AP50") or 0.0) + 0.9 * (result.metrics.get("AP") or 0.0)
            row["fitness"] = fitness
            history.append(row)
            if fitness > best_fitness:
                best_fitness = fitness
                save("best.pt", epoch)
            say(
                f"epoch {epoch}: "
                + ", ".join(f"{k} {parts[k]:.4f}" for k in ("box", "icr", "cls", "dfl"))
                + f"; val AP50 {row.get('val_AP50') or 0:.4f} AP {row.get('val_AP') or 0:.4f}; {parts['images_per_s']:.1f} img/s"
            )
        elif main_proc:
            history.append(row)
        if main_proc:
            save("last.pt", epoch)
            write_epoch(out, history)
        if world > 1:
            dist.barrier()
        if args.stop_after is not None and epoch + 1 - start_epoch >= args.stop_after and not last:
            say(f"stopped after epoch {epoch} (--stop-after); continue with --resume")
            if world > 1:
                dist.destroy_process_group()
            return 0
    if main_proc:
        final = ckpt.final_metrics(out, ds, args, device, amp_dtype, val_loader)
        write_atomic(out / "final.json", json.dumps(final, indent=1, default=float).encode("utf-8"))
        if args.plots:
            write_plots(out, history, final)
        say(f"done: {out / 'best.pt'}; final val AP50 {final['val']['metrics'].get('AP50') or 0:.4f}")
    if world > 1:
        dist.destroy_process_group()
    return 0


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
