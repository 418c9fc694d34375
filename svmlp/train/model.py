"""A compact one-stage, anchor-free detector of the YOLO family, in pure torch.

CSP-style backbone (C2f blocks, SPPF), a PAN neck over strides 8/16/32, and a decoupled head: a
box branch that predicts each side's distance as a distribution over ``reg_max`` bins
(distribution focal loss) and a classification branch. No torchvision, no pretrained weights.

>>> import torch
>>> m = Detector(2, scale="p").eval()
>>> [tuple(o.shape) for o in m(torch.zeros(1, 3, 64, 64))]
[(1, 66, 8, 8), (1, 66, 4, 4), (1, 66, 2, 2)]
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

__all__ = ["SCALES", "Detector", "decode", "make_anchors"]

#: channel widths of the five backbone stages and block depths, per scale. "n" is the "tiny"
#: scale the paper trained (about 3 million parameters); "p" is a pico model for tests on a CPU.
SCALES: dict[str, tuple[tuple[int, int, int, int, int], tuple[int, int]]] = {
    "p": ((8, 16, 32, 64, 128), (1, 1)),
    "n": ((16, 32, 64, 128, 256), (1, 2)),
    "s": ((32, 64, 128, 256, 512), (1, 2)),
}
STRIDES = (8, 16, 32)


class Conv(nn.Sequential):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c1, c2, k, s, k // 2, bias=False),
            nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Cross-stage partial block: half the channels pass, half go through ``n`` bottlenecks, and
    every intermediate output is concatenated (gradient paths of several lengths)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5×5 max-pools (receptive fields 5, 9, 13)."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c1 // 2, 1)
        self.cv2 = Conv(c1 // 2 * 4, c2, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


def _head_bias(head: nn.Module) -> torch.Tensor:
    """The bias of a head branch's last layer (the 1×1 conv, with a bias, that gives its outputs)."""
    bias = cast(nn.Conv2d, cast(nn.Sequential, head)[-1]).bias
    assert bias is not None
    return bias


class Detector(nn.Module):
    """The reference detector. ``forward`` returns one map per stride, ``B×(4·reg_max+C)×H×W``."""

    def __init__(self, num_classes: int, *, scale: str = "n", reg_max: int = 16) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        (c0, c1, c2, c3, c4), (d1, d2) = SCALES[scale]
        self.num_classes, self.reg_max, self.scale = num_classes, reg_max, scale
        self.strides = STRIDES
        self.stem = nn.Sequential(Conv(3, c0, 3, 2), Conv(c0, c1, 3, 2), C2f(c1, c1, d1, True))
        self.stage3 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, d2, True))  # stride 8
        self.stage4 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, d2, True))  # stride 16
        self.stage5 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, d1, True), SPPF(c4, c4))  # 32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top4 = C2f(c4 + c3, c3, d1)
        self.top3 = C2f(c3 + c2, c2, d1)
        self.down3 = Conv(c2, c2, 3, 2)
        self.bottom4 = C2f(c2 + c3, c3, d1)
        self.down4 = Conv(c3, c3, 3, 2)
        self.bottom5 = C2f(c3 + c4, c4, d1)
        chans = (c2, c3, c4)
        cb = max(16, chans[0] // 4, reg_max * 4)
        cc = max(chans[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(Conv(c, cb, 3), Conv(cb, cb, 3), nn.Conv2d(cb, 4 * reg_max, 1)) for c in chans
        )
        self.cls = nn.ModuleList(
            nn.Sequential(Conv(c, cc, 3), Conv(cc, cc, 3), nn.Conv2d(cc, num_classes, 1)) for c in chans
        )
        self.reset_head_bias(640)

    def reset_head_bias(self, imgsz: int) -> None:
        """Start the class logits at about 5 objects an image (a stable start for focal-free BCE)."""
        for box, cls, s in zip(self.box, self.cls, self.strides):
            _head_bias(box).data[:] = 1.0
            _head_bias(cls).data[:] = math.log(5 / self.num_classes / (imgsz / s) ** 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        p3 = self.stage3(x)
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.top4(torch.cat([self.up(p5), p4], 1))
        n3 = self.top3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bottom4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.bottom5(torch.cat([self.down4(n4), p5], 1))
        return [torch.cat([b(f), c(f)], 1) for f, b, c in zip((n3, n4, n5), self.box, self.cls)]


def make_anchors(feats: list[torch.Tensor], strides: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points (cell centres, in pixels) ``A×2`` and their strides ``A×1``."""
    points, stride_col = [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[2:]
        ys = (torch.arange(h, device=f.device, dtype=torch.float32) + 0.5) * s
        xs = (torch.arange(w, device=f.device, dtype=torch.float32) + 0.5) * s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([xx, yy], -1).reshape(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), device=f.device))
    return torch.cat(points), torch.cat(stride_col)


def decode(
    feats: list[torch.Tensor], reg_max: int, num_classes: int, strides: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(box_logits B×A×4×R, cls_logits B×A×C, boxes B×A×4 xyxy pixels, anchors A×2, strides A×1)``.

    Each side's distance is the expectation of its softmax over ``reg_max`` bins, in strides.
    """
    b = feats[0].shape[0]
    flat = torch.cat([f.flatten(2) for f in feats], 2).transpose(1, 2)  # B×A×(4R+C)
    box_logits = flat[..., : 4 * reg_max].reshape(b, -1, 4, reg_max)
    cls_logits = flat[..., 4 * reg_max :]
    anchors, stride = make_anchors(feats, strides)
    bins = torch.arange(reg_max, device=flat.device, dtype=torch.float32)
    dist = box_logits.float().softmax(-1) @ bins  # B×A×4: left, top, right, bottom
    boxes = torch.cat([anchors - dist[..., :2] * stride, anchors + dist[..., 2:] * stride], -1)
    return box_logits, cls_logits, boxes, anchors, stride
