"""A run's records: metrics per epoch (CSV and JSON) and PNG plots (matplotlib, in the train extra)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from svmlp._files import replaced_atomically, write_atomic

__all__ = ["write_epoch", "write_plots"]


def _replace(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def write_epoch(out: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.json`` (the rows) and ``metrics.csv`` (every column any row has)."""
    _replace(out / "metrics.json", json.dumps(history, indent=1, default=float))
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    _replace(out / "metrics.csv", buf.getvalue())


def _loss_parts(history: list[dict[str, Any]]) -> list[str]:
    """The criterion's parts (``train_box``, …: whatever the model family's loss names), in order."""
    parts: list[str] = []
    for key in (k for row in history for k in row if k.startswith("train_")):
        name = key[len("train_") :]
        if name not in parts and name not in ("images_per_s", "seconds", "iterations"):  # engine's throughput
            parts.append(name)
    return parts


def write_plots(out: Path, history: list[dict[str, Any]], final: dict[str, Any]) -> list[Path]:
    """``loss.png`` (one panel a loss part, training and validation loss per epoch, so the ICR term
    is seen on its own scale beside CIoU; then validation AP50/AP) and ``pr.png`` (precision
    against recall per class at IoU 0.5, from the final evaluation). Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    parts = [p for p in _loss_parts(history) if any(r.get(f"train_{p}") for r in history)]
    panels = len(parts) + 1  # one panel a loss part (ICR beside CIoU, each on its own scale), then AP
    cols = min(panels, 3)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax, part in zip(flat, parts):
        for prefix, label in (("train_", "train"), ("val_loss_", "validation")):
            pts = [
                (r["epoch"], r[f"{prefix}{part}"]) for r in history if r.get(f"{prefix}{part}") is not None
            ]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=label)
        ax.set(title=f"{part} loss", xlabel="epoch")
        ax.legend()
    ax = flat[len(parts)]
    for key in ("val_AP50", "val_AP"):
        pts = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=key[4:])
    ax.set(title="validation", xlabel="epoch", ylim=(0, 1))
    ax.legend()
    for ax in flat[panels:]:
        ax.set_visible(False)
    for ax in flat[:panels]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    fig.tight_layout()
    with replaced_atomically(out / "loss.png") as fh:
        fig.savefig(fh, dpi=110, format="png")
    plt.close(fig)
    written.append(out / "loss.png")
    curves = (final.get("val") or {}).get("pr_curves") or {}
    if curves:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        for name, c in curves.items():
            ax.plot(c["recall"], c["precision"], label=f"{name} (AP50 {c.get('AP50') or 0:.3f})")
        ax.set(
            title="precision–recall at IoU 0.5 (validation)",
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        ax.legend()
        fig.tight_layout()
        with replaced_atomically(out / "pr.png") as fh:
            fig.savefig(fh, dpi=110, format="png")
        plt.close(fig)
        written.append(out / "pr.png")
    return written
