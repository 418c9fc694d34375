"""Box losses: the IoU family (IoU, GIoU, DIoU, CIoU) and the inter-class relational (ICR) loss.

Boxes are ``(x0, y0, x1, y1)`` tensors of shape ``(..., 4)``; the functions compare *aligned*
pairs (broadcasting like any elementwise op) and return shape ``(...,)``. A box with ``x1 < x0``
(or ``y1 < y0``) counts as zero wide (high). Half and bfloat16 inputs are computed, and returned,
in float32 (an fp16 area overflows at 256×256 pixels); float64 stays float64. Every denominator is
clamped at ``eps``, so degenerate boxes give finite values and gradients.

**ICR.** The paper that introduced SVMLP says: "When the predicted car plate's bounding box is not
within its car, a loss punishment is added to guide the learning, which is inversely proportional
to the overlapped area of the car's and predicted car plate's bounding box", added to an IoU-based
box loss "without extra hyperparameter tuning". It publishes no equation; what follows is ours.

With ``r = area(p ∩ v) / area(p)``, the share of the predicted plate ``p`` inside its ground-truth
vehicle ``v`` (``r = 1``: inside, no penalty), the ratio term is, by ``mode``::

    inverse  cap · (1 − r) / (1 + (cap + 1) · r)     # 1/r − 1 as cap → ∞; exactly cap at r = 0
    linear   1 − r                                   # cap does not apply
    log      log1p((1 − r) / (r + δ)),  δ = 1 / expm1(cap)   # = −log((r + δ)/(1 + δ)); cap at r = 0

``inverse`` is the paper's "inversely proportional" read literally (``1/r``), shifted to be 0 at
``r = 1`` and rescaled to stay finite: it is ``cap·k·(1/(r + k) − 1/(1 + k))/(1/k − 1/(1 + k))``
with ``k = 1/(cap + 1)``. All three are 0 at ``r = 1``, strictly decreasing in ``r``, at most
``cap`` (``log``: at most ``min(cap, 87)``, as δ is kept to float32's normal range).

A prediction that does not touch its vehicle has ``r = 0`` whatever its position, so the ratio
term has no gradient there. The distance term (``distance=True``, ours) supplies one:
``(1 − r) · |c − clamp(c, v)|² / diag²``, the squared distance from ``p``'s centre ``c`` to the
nearest point of ``v``, over the squared diagonal of the smallest box enclosing both (DIoU's
normalisation), so it lies in [0, 1]. It is 0 whenever ``c`` is in ``v`` and hands over to the ratio
term as the overlap grows. A prediction of area ≤ ``eps`` has no share to speak of: it counts as
a point, ``r = 1`` if its centre is in ``v`` and 0 otherwise.

>>> import torch
>>> plate = torch.tensor([[10.0, 10.0, 20.0, 14.0], [90.0, 10.0, 110.0, 14.0]])
>>> car = torch.tensor([[0.0, 0.0, 100.0, 50.0], [0.0, 0.0, 100.0, 50.0]])
>>> icr_loss(plate, car, reduction="none")  # inside: 0; half outside: r = 0.5
tensor([0.0000, 0.7692])
>>> loss = iou_loss(plate, car) + icr_loss(plate, car)  # the ICR loss is added to the box loss
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

__all__ = [
    "ICR_MODES",
    "IOU_KINDS",
    "box_iou",
    "box_iou_matrix",
    "ciou_and_icr",
    "complete_box_iou",
    "distance_box_iou",
    "generalized_box_iou",
    "icr_loss",
    "iou_loss",
]

ICR_MODES = ("inverse", "linear", "log")
IOU_KINDS = ("ciou", "diou", "giou", "iou")
_REDUCTIONS = ("none", "mean", "sum")
#: δ of the log mode never goes below float32's smallest normal number, so 1/δ stays finite
_MIN_DELTA = torch.finfo(torch.float32).tiny

Reduction = Literal["none", "mean", "sum"]
ICRMode = Literal["inverse", "linear", "log"]


def _split(a: torch.Tensor, b: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Both boxes' coordinates in the compute dtype, ``x1 ≥ x0`` and ``y1 ≥ y0`` enforced."""
    if a.shape[-1] != 4 or b.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (..., 4), got {tuple(a.shape)} and {tuple(b.shape)}")
    # fp16 areas overflow and bf16 ones are coarse: compute in float32 at least
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    out = []
    for box in (a, b):
        x0, y0, x1, y1 = box.to(dtype).unbind(-1)
        out.append((x0, y0, torch.maximum(x1, x0), torch.maximum(y1, y0)))
    return out[0], out[1]


def _inter_union(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """``(intersection, union, area of a)`` of split boxes."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
    h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
    inter = w * h
    return inter, area_a + area_b - inter, area_a


def _enclosing(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Width and height of the smallest box enclosing both."""
    w = torch.maximum(a[2], b[2]) - torch.minimum(a[0], b[0])
    h = torch.maximum(a[3], b[3]) - torch.minimum(a[1], b[1])
    return w, h


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    # an empty sum is 0 and still part of the graph; an empty mean would be NaN
    return loss.sum() if reduction == "sum" else loss.sum() / max(loss.numel(), 1)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; use one of {', '.join(_REDUCTIONS)}")


def box_iou(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """Intersection over union of aligned box pairs, shape ``(...,)``.

    >>> box_iou(torch.tensor([0.0, 0, 2, 2]), torch.tensor([1.0, 0, 3, 2]))  # 2 / 6
    tensor(0.3333)
    """
    inter, union, _ = _inter_union(*_split(a, b))
    return inter / union.clamp(min=eps)


def box_iou_matrix(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """IoU of every box of ``a`` (N×4) with every box of ``b`` (M×4): an N×M matrix (NMS, assignment).

    >>> box_iou_matrix(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[0.0, 0, 2, 2], [1.0, 0, 3, 2]]))
    tensor([[1.0000, 0.3333]])
    """
    return box_iou(a[:, None, :], b[None, :, :], eps=eps)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """GIoU (Rezatofighi et al., 2019): ``IoU − (C − U)/C``, C the enclosing box's area; in (−1, 1].

    >>> generalized_box_iou(torch.tensor([0.0, 0, 1, 1]), torch.tensor([2.0, 0, 3, 1]))  # 0 − 1/3
    tensor(-0.3333)
    """
    sa, sb = _split(a, b)
    inter, union, _ = _inter_union(sa, sb)
    cw, ch = _enclosing(sa, sb)
    enclose = (cw * ch).clamp(min=eps)
    return inter / union.clamp(min=eps) - (enclose - union) / enclose


def _diou(sa: tuple[torch.Tensor, ...], sb: tuple[torch.Tensor, ...], eps: float) -> tuple[torch.Tensor, ...]:
    """``(DIoU, IoU)`` of split boxes."""
    inter, union, _ = _inter_union(sa, sb)
    cw, ch = _enclosing(sa, sb)
    return _diou_of(sa, sb, inter, union, (cw**2 + ch**2).clamp(min=eps), eps)


def _diou_of(
    sa: tuple[torch.Tensor, ...],
    sb: tuple[torch.Tensor, ...],
    inter: torch.Tensor,
    union: torch.Tensor,
    diag2: torch.Tensor,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(DIoU, IoU)`` from the pair's intersection, union and squared enclosing diagonal."""
    iou = inter / union.clamp(min=eps)
    # centres are half-sums: the squared centre distance is a quarter of the half-sums' difference²
    rho2 = ((sb[0] + sb[2] - sa[0] - sa[2]) ** 2 + (sb[1] + sb[3] - sa[1] - sa[3]) ** 2) / 4
    return iou - rho2 / diag2, iou


def _ciou_of(
    sa: tuple[torch.Tensor, ...],
    sb: tuple[torch.Tensor, ...],
    diou: torch.Tensor,
    iou: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """CIoU from DIoU and IoU: the aspect-ratio term, its weight α a constant of the gradient."""
    atan_a = torch.atan((sa[2] - sa[0]) / (sa[3] - sa[1]).clamp(min=eps))
    atan_b = torch.atan((sb[2] - sb[0]) / (sb[3] - sb[1]).clamp(min=eps))
    v = (4 / math.pi**2) * (atan_b - atan_a) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def distance_box_iou(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """DIoU (Zheng et al., 2020): ``IoU − ρ²/c²``, ρ the centres' distance, c the enclosing diagonal.

    >>> distance_box_iou(torch.tensor([0.0, 0, 1, 1]), torch.tensor([2.0, 0, 3, 1]))  # 0 − 4/10
    tensor(-0.4000)
    """
    return _diou(*_split(a, b), eps)[0]


def complete_box_iou(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """CIoU (Zheng et al., 2020): ``DIoU − α·v``, ``v = 4/π² (atan(w_b/h_b) − atan(w_a/h_a))²``,
    ``α = v / (1 − IoU + v)``; α is a constant of the gradient, as in the paper's code.

    >>> a, b = torch.tensor([0.0, 0, 2, 1]), torch.tensor([0.0, 0, 1, 1])  # DIoU = 1/2 − 0.25/5
    >>> complete_box_iou(a, b).round(decimals=4)  # 0.45 − α·v, v = 4/π² (atan 1 − atan 2)²
    tensor(0.4468)
    """
    sa, sb = _split(a, b)
    diou, iou = _diou(sa, sb, eps)
    return _ciou_of(sa, sb, diou, iou, eps)


_IOU = {"iou": box_iou, "giou": generalized_box_iou, "diou": distance_box_iou, "ciou": complete_box_iou}


def iou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: Literal["ciou", "diou", "giou", "iou"] = "ciou",
    reduction: Reduction = "mean",
    eps: float = 1e-7,
) -> torch.Tensor:
    """``1 − IoU`` of the chosen ``kind`` (:data:`IOU_KINDS`), reduced like :func:`icr_loss`.

    >>> iou_loss(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 0, 3, 2]]), kind="iou")
    tensor(0.6667)
    """
    if kind not in _IOU:
        raise ValueError(f"unknown IoU kind {kind!r}; use one of {', '.join(IOU_KINDS)}")
    _check_reduction(reduction)
    return _reduce(1 - _IOU[kind](pred, target, eps=eps), reduction)


def icr_loss(
    pred_child_boxes: torch.Tensor,
    parent_boxes: torch.Tensor,
    *,
    mode: ICRMode = "inverse",
    reduction: Reduction = "mean",
    distance: bool = True,
    cap: float = 10.0,
    eps: float = 1e-7,
) -> torch.Tensor:
    """The ICR penalty of each predicted plate box against its ground-truth vehicle box.

    0 for a prediction inside its vehicle, growing as the share inside shrinks; the formulas are in
    the module's docstring. ``reduction`` is ``"none"`` (shape ``(...,)``), ``"mean"`` or ``"sum"``
    (0 for no boxes, still part of the graph). Computed in float32 (float64 for float64 inputs).

    >>> car = torch.tensor([0.0, 0.0, 100.0, 50.0])
    >>> icr_loss(torch.tensor([90.0, 10.0, 110.0, 14.0]), car, mode="linear", distance=False)
    tensor(0.5000)
    >>> icr_loss(torch.tensor([200.0, 10.0, 220.0, 14.0]), car, distance=False)  # r = 0: cap
    tensor(10.)
    """
    _check_icr(mode, cap)
    _check_reduction(reduction)
    sp, sv = _split(pred_child_boxes, parent_boxes)
    inter, _, area = _inter_union(sp, sv)

    def diag2() -> torch.Tensor:
        cw, ch = _enclosing(sp, sv)
        return (cw**2 + ch**2).clamp(min=eps)

    pen = _icr_penalty(sp, sv, inter, area, diag2, mode=mode, distance=distance, cap=cap, eps=eps)
    return _reduce(pen, reduction)


def ciou_and_icr(
    pred: torch.Tensor,
    target: torch.Tensor,
    parent: torch.Tensor,
    *,
    mode: ICRMode = "inverse",
    distance: bool = True,
    cap: float = 10.0,
    eps: float = 1e-7,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1 − CIoU(pred, target), icr_loss(pred, parent))`` per pair, unreduced, in one pass.

    The detector's box loss and its ICR term compare the same predicted boxes with two boxes
    each: here both comparisons run as one set of element-wise operations on the two stacked
    (intersection, union, enclosing box), so a training step launches about half the kernels for
    them, and the predicted box is split, clamped and measured once. The values are those of
    :func:`complete_box_iou` and :func:`icr_loss` (same operations, same order: the same floats).

    >>> plate = torch.tensor([[90.0, 10.0, 110.0, 14.0]])
    >>> truth, car = torch.tensor([[88.0, 10.0, 108.0, 14.0]]), torch.tensor([[0.0, 0.0, 100.0, 50.0]])
    >>> box, icr = ciou_and_icr(plate, truth, car)
    >>> bool(torch.equal(icr, icr_loss(plate, car, reduction="none")))
    True
    """
    _check_icr(mode, cap)
    sp, pair = _split(pred, torch.stack(torch.broadcast_tensors(target, parent)))
    inter, union, area_p = _inter_union(sp, pair)  # row 0: against the target, row 1: the parent
    cw, ch = _enclosing(sp, pair)
    diag2 = (cw**2 + ch**2).clamp(min=eps)
    # CIoU against the target (complete_box_iou's operations)
    st = tuple(c[0] for c in pair)
    diou, iou = _diou_of(sp, st, inter[0], union[0], diag2[0], eps)
    box = 1 - _ciou_of(sp, st, diou, iou, eps)
    # ICR against the parent (icr_loss's operations)
    sv = tuple(c[1] for c in pair)
    pen = _icr_penalty(
        sp, sv, inter[1], area_p, lambda: diag2[1], mode=mode, distance=distance, cap=cap, eps=eps
    )
    return box, pen


def _check_icr(mode: str, cap: float) -> None:
    if mode not in ICR_MODES:
        raise ValueError(f"unknown ICR mode {mode!r}; use one of {', '.join(ICR_MODES)}")
    if not (cap > 0 and math.isfinite(cap)):
        raise ValueError(f"cap must be a positive finite number, got {cap!r}")


def _icr_penalty(
    sp: tuple[torch.Tensor, ...],
    sv: tuple[torch.Tensor, ...],
    inter: torch.Tensor,
    area: torch.Tensor,
    diag2: Callable[[], torch.Tensor],
    *,
    mode: str,
    distance: bool,
    cap: float,
    eps: float,
) -> torch.Tensor:
    """The ICR penalty of split predicted boxes ``sp`` against split vehicles ``sv``, given their
    intersection, the predictions' areas and (computed when the distance term needs it) the
    squared diagonal of the box enclosing both, clamped at ``eps``."""
    cx, cy = (sp[0] + sp[2]) / 2, (sp[1] + sp[3]) / 2
    # the nearest point of v to p's centre; v's x1 ≥ x0 is guaranteed by _split
    dx = cx - torch.minimum(torch.maximum(cx, sv[0]), sv[2])
    dy = cy - torch.minimum(torch.maximum(cy, sv[1]), sv[3])
    point_inside = ((dx == 0) & (dy == 0)).to(inter.dtype)
    # inter ≤ area holds in floating point too (rounding is monotone), and p inside v gives
    # inter == area bit for bit, so r is exactly 1 there
    r = torch.where(area > eps, inter / area.clamp(min=eps), point_inside)
    if mode == "inverse":
        pen = cap * (1 - r) / (1 + (cap + 1) * r)
    elif mode == "linear":
        pen = 1 - r
    else:
        delta = max(1 / math.expm1(cap), _MIN_DELTA)
        pen = torch.log1p((1 - r) / (r + delta))
    if distance:
        pen = pen + (1 - r) * (dx**2 + dy**2) / diag2()
    return pen
