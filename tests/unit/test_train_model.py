"""The detector's parts: targets padding, assignment, the loss with ICR, NMS, decoding."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from svmlp.train.criterion import DetectionLoss, TaskAlignedAssigner, pad_targets  # noqa: E402
from svmlp.train.losses import box_iou_matrix  # noqa: E402
from svmlp.train.model import Detector, decode, make_anchors  # noqa: E402
from svmlp.train.predict import _fixed_point, _greedy_blocks, nms  # noqa: E402


def test_scales_and_shapes() -> None:
    n = Detector(2, scale="n")
    assert 2.5e6 < sum(p.numel() for p in n.parameters()) < 4e6  # the paper's "tiny" scale
    feats = Detector(3, scale="p")(torch.zeros(2, 3, 96, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 67, 12, 8), (2, 67, 6, 4), (2, 67, 3, 2)]
    with pytest.raises(ValueError, match="unknown scale 'x'"):
        Detector(2, scale="x")


def test_decode_puts_boxes_around_their_anchor() -> None:
    feats = Detector(2, scale="p")(torch.rand(1, 3, 64, 64))
    _, _, boxes, anchors, stride = decode(feats, 16, 2, (8, 16, 32))
    assert boxes.shape == (1, len(anchors), 4)
    assert torch.all(boxes[0, :, 0] <= anchors[:, 0]) and torch.all(boxes[0, :, 2] >= anchors[:, 0])
    a, s = make_anchors(feats, (8, 16, 32))
    assert a[0].tolist() == [4.0, 4.0] and s[-1].item() == 32.0


def test_pad_targets_keeps_parents_as_positions_in_their_image() -> None:
    # image 0: vehicle (row 0), plate of row 0; image 1: plate without vehicle, vehicle, plate of row 3
    t = torch.tensor(
        [
            [0, 0, 0, 0, 50, 50, -1],
            [0, 1, 10, 40, 20, 45, 0],
            [1, 1, 1, 1, 5, 3, -1],
            [1, 0, 20, 20, 90, 90, -1],
            [1, 1, 30, 80, 40, 85, 3],
        ],
        dtype=torch.float32,
    )
    labels, boxes, parent, mask = pad_targets(t, 3)
    assert labels.shape == (3, 3) and mask.sum().item() == 5 and not mask[2].any()
    assert parent[0].tolist()[:2] == [-1, 0] and parent[1].tolist() == [-1, -1, 1]
    assert boxes[1, 2].tolist() == [30, 80, 40, 85]
    empty = pad_targets(torch.zeros(0, 7), 2)
    assert empty[1].shape == (2, 0, 4)


def test_assignment_stays_inside_boxes_and_is_one_to_one() -> None:
    feats = Detector(2, scale="p")(torch.rand(2, 3, 128, 128))
    _, cls, boxes, anchors, _ = decode(feats, 16, 2, (8, 16, 32))
    gt_boxes = torch.tensor(
        [[[10.0, 10.0, 90.0, 70.0], [40.0, 50.0, 60.0, 58.0]], [[0, 0, 128, 128], [0, 0, 0, 0]]]
    )
    gt_labels = torch.tensor([[0, 1], [0, 0]])
    gt_mask = torch.tensor([[True, True], [True, False]])
    scores, fg, gi = TaskAlignedAssigner(2, topk=10)(
        cls.sigmoid(), boxes, anchors, gt_labels, gt_boxes, gt_mask
    )
    assert fg.any() and scores.shape == cls.shape
    for b in range(2):
        for a in torch.nonzero(fg[b]).flatten().tolist():
            g = gt_boxes[b, gi[b, a]]
            x, y = anchors[a].tolist()
            assert g[0] < x < g[2] and g[1] < y < g[3]
            assert gt_mask[b, gi[b, a]]
    assert int((fg[0] & (gi[0] == 1)).sum()) <= 10  # top-k per ground truth
    assert (scores[~fg] == 0).all()


def _targets() -> torch.Tensor:
    return torch.tensor(
        [[0, 0, 16, 16, 112, 96, -1], [0, 1, 40, 70, 72, 82, 0], [1, 0, 8, 8, 60, 60, -1]],
        dtype=torch.float32,
    )


def test_icr_adds_to_the_loss_only_when_on_and_flows_back() -> None:
    torch.manual_seed(0)
    model = Detector(2, scale="p")
    model.reset_head_bias(128)
    x = torch.rand(2, 3, 128, 128)
    feats = model(x)
    off_loss, off = DetectionLoss(model, icr="off")(feats, _targets())
    on_loss, on = DetectionLoss(model, icr="inverse")(feats, _targets())
    assert off["icr"] == 0.0 and on["icr"] > 0.0  # the untrained boxes reach out of the car
    assert on_loss.item() > off_loss.item()
    assert {k: v for k, v in on.items() if k != "icr"} == pytest.approx(
        {k: v for k, v in off.items() if k != "icr"}
    )
    on_loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # no plate with a parent: ICR has nothing to do
    no_links = _targets().clone()
    no_links[:, 6] = -1
    assert DetectionLoss(model, icr="inverse")(model(x), no_links)[1]["icr"] == 0.0


def test_loss_without_any_box_is_finite() -> None:
    model = Detector(2, scale="p")
    loss, parts = DetectionLoss(model, icr="inverse")(model(torch.rand(2, 3, 64, 64)), torch.zeros(0, 7))
    assert torch.isfinite(loss) and parts["box"] == 0.0 and parts["icr"] == 0.0
    loss.backward()


def _greedy(boxes: torch.Tensor, scores: torch.Tensor, thr: float) -> list[int]:
    """The textbook loop, as a reference."""
    order = scores.argsort(descending=True).tolist()
    iou = box_iou_matrix(boxes, boxes)
    keep: list[int] = []
    for i in order:
        if all(iou[i, k] <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(8))
def test_nms_equals_greedy(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(120, 2, generator=g) * 100
    wh = torch.rand(120, 2, generator=g) * 40 + 2
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(120, generator=g)
    order = scores.argsort(descending=True)
    for thr in (0.3, 0.5, 0.7):
        want = _greedy(boxes, scores, thr)
        assert nms(boxes, scores, thr).tolist() == want
        assert nms(boxes, scores, thr, limit=5).tolist() == want[:5]
        # the GPU's way (whole-matrix rounds) keeps the same boxes as the CPU's loop
        assert order[_fixed_point(boxes[order], thr)].tolist() == want
        for block in (1, 7, 50):  # blocks smaller than the candidates: decisions cross blocks
            assert order[_greedy_blocks(boxes[order], thr, None, block)].tolist() == want
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


def test_nms_chain_needs_more_than_one_round() -> None:
    # A suppresses B, so B must not suppress C: greedy keeps A and C
    boxes = torch.tensor([[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.4).tolist() == [0, 2]
    assert np.allclose(box_iou_matrix(boxes, boxes)[0, 2].item(), 4 / 16)
