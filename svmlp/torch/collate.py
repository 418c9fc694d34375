"""Batch collation: a list collate (torchvision style) and a stacked one for one-stage detectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate", "collate_batched"]

Item = tuple[torch.Tensor, dict[str, Any]]


def collate(batch: Sequence[Item]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """``(images, targets)`` as two lists, images of any size (two-stage detectors, DETR)."""
    return [image for image, _ in batch], [target for _, target in batch]


def collate_batched(batch: Sequence[Item]) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """``(images, targets, infos)`` for one-stage training.

    ``images``: B×3×H×W uint8, stacked (letterbox first; images smaller than the largest in the
    batch are padded at the right and bottom with 114, which moves no box). ``targets``: one
    float32 M×7 tensor of ``[batch_index, label, x0, y0, x1, y1, parent]`` with ``parent`` the row
    of the vehicle in this very tensor (−1 if none); crowd boxes are left out (one-stage losses have
    no use for them), and a plate whose vehicle is a crowd box keeps no parent. ``infos``: per image,
    the target's other entries (``image_id``, ``file_name``, ``orig_size``, ``size``, ``matrix``…).
    """
    if not batch:
        raise ValueError("collate_batched: empty batch")
    h = max(int(image.shape[1]) for image, _ in batch)
    w = max(int(image.shape[2]) for image, _ in batch)
    images = torch.full((len(batch), 3, h, w), 114, dtype=torch.uint8)
    rows, infos, start = [], [], 0
    for k, (image, target) in enumerate(batch):
        images[k, :, : image.shape[1], : image.shape[2]] = image
        keep = target["iscrowd"] == 0
        new = torch.cumsum(keep.long(), 0) - 1
        parent = target["parent"]
        linked = parent >= 0
        safe = torch.where(linked, parent, torch.zeros_like(parent))
        parent = torch.where(linked & keep[safe], new[safe] + start, torch.full_like(parent, -1))[keep]
        n = int(keep.sum())
        rows.append(
            torch.cat(
                [
                    torch.full((n, 1), k, dtype=torch.float32),
                    target["labels"][keep].float().unsqueeze(1),
                    target["boxes"][keep].float().reshape(-1, 4),
                    parent.float().unsqueeze(1),
                ],
                dim=1,
            )
        )
        start += n
        infos.append(
            {key: v for key, v in target.items() if key not in ("boxes", "labels", "parent", "iscrowd")}
        )
    return images, torch.cat(rows) if rows else torch.zeros(0, 7), infos
