"""ICR inside ultralytics' losses: zero for a plate predicted inside its vehicle, positive outside,
gradients on the predicted plate boxes only, ultralytics' own loss untouched with ICR off, the
batch parents equal to svmlp's links, and an ultralytics outside the supported range refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ultralytics.cfg import get_cfg
from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel
from ultralytics.utils import DEFAULT_CFG

import svmlp
from svmlp.errors import UsageError
from svmlp.links import link_plates
from svmlp.ultralytics import _compat
from svmlp.ultralytics._loss import ICRDetectionLoss, ICRRTDETRLoss, is_icr, with_icr
from svmlp.ultralytics.parents import PARENT_KEY, ClassRoles, LinkingCollate, class_roles
from svmlp.ultralytics.run import CFG_DIR
from svmlp.ultralytics.settings import ICRSettings

pytestmark = pytest.mark.ultralytics

ROLES = ClassRoles(parents=(0,), children=(1,))
SIZE = 128
VEHICLE = [20.0, 20.0, 100.0, 90.0]
PLATE = [50.0, 70.0, 80.0, 85.0]  # inside the vehicle
OUTSIDE = [50.0, 82.0, 80.0, 97.0]  # the plate predicted half below the vehicle


def _yolo() -> DetectionModel:
    torch.manual_seed(0)
    model = DetectionModel("yolo12n.yaml", nc=2, verbose=False)
    model.args = get_cfg(DEFAULT_CFG)
    return model.train()


def _batch(boxes: list[list[float]], cls: list[int], parents: list[int] | None = None) -> dict:
    xyxy = torch.tensor(boxes, dtype=torch.float32) / SIZE
    xywh = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)
    batch = {
        "img": torch.zeros(1, 3, SIZE, SIZE),
        "batch_idx": torch.zeros(len(boxes)),
        "cls": torch.tensor(cls, dtype=torch.float32).view(-1, 1),
        "bboxes": xywh,
    }
    if parents is not None:
        batch[PARENT_KEY] = torch.tensor(parents)
    return batch


def _yolo_loss(
    predicted: list[float], batch: dict, mode: str = "inverse"
) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """ICR's loss items, and the gradients of the loss with and without ICR, with every anchor
    predicting the box ``predicted`` (pixels)."""
    model = _yolo()
    preds = model(batch["img"])
    out = []
    for criterion in (with_icr(model, ICRSettings(mode), ROLES), model.init_criterion()):
        leaf: dict[str, torch.Tensor] = {}

        def decode(anchor_points: torch.Tensor, pred_dist: torch.Tensor, _leaf: dict = leaf) -> torch.Tensor:
            stride = torch.cat([torch.full((int((SIZE / s) ** 2), 1), float(s)) for s in (8, 16, 32)])
            box = (torch.tensor(predicted) / stride).unsqueeze(0).expand(pred_dist.shape[0], -1, -1)
            _leaf["x"] = box.clone().requires_grad_(True)
            return _leaf["x"]

        criterion.bbox_decode = decode
        total, items = criterion(preds, batch)
        total.sum().backward(retain_graph=True)
        out.append((items, leaf["x"].grad))
    return out[0][0], out[0][1], out[1][1]


def test_icr_is_zero_for_a_plate_predicted_inside_its_vehicle() -> None:
    items, with_grad, stock_grad = _yolo_loss(PLATE, _batch([VEHICLE, PLATE], [0, 1], [-1, 0]))
    assert float(items["icr_loss"]) == 0.0
    torch.testing.assert_close(with_grad, stock_grad)  # nothing added to the gradient either


def test_icr_is_positive_for_a_plate_predicted_past_its_vehicle() -> None:
    batch = _batch([VEHICLE, PLATE], [0, 1], [-1, 0])
    for shift in (6.0, 9.0, 12.0):  # the vehicle ends at y = 90, the plate (15 high) at 85
        items, with_grad, stock_grad = _yolo_loss([50.0, 70.0 + shift, 80.0, 85.0 + shift], batch)
        assert float(items["icr_loss"]) > 0, shift
        assert (with_grad - stock_grad).abs().sum() > 0  # the gradient reaches the predicted boxes
    items, _, _ = _yolo_loss([50.0, 73.0, 80.0, 88.0], batch)  # moved, but still inside
    assert float(items["icr_loss"]) == 0.0


def test_icr_only_on_anchors_assigned_to_a_plate_with_a_parent() -> None:
    items, _, _ = _yolo_loss(OUTSIDE, _batch([VEHICLE, PLATE], [0, 1], [-1, -1]))  # an orphan plate
    assert float(items["icr_loss"]) == 0.0
    items, _, _ = _yolo_loss(OUTSIDE, _batch([VEHICLE, [40.0, 40.0, 60.0, 60.0]], [0, 0]))  # no plate
    assert float(items["icr_loss"]) == 0.0


def test_parents_are_computed_when_the_batch_has_none() -> None:
    items_given, _, _ = _yolo_loss(OUTSIDE, _batch([VEHICLE, PLATE], [0, 1], [-1, 0]))
    items_found, _, _ = _yolo_loss(OUTSIDE, _batch([VEHICLE, PLATE], [0, 1]))
    assert float(items_found["icr_loss"]) == pytest.approx(float(items_given["icr_loss"]))


def test_the_box_loss_carries_icr() -> None:
    on, _, _ = _yolo_loss(OUTSIDE, _batch([VEHICLE, PLATE], [0, 1], [-1, 0]))
    assert float(on["box_loss"]) > float(on["icr_loss"]) > 0


# -- RT-DETR ----------------------------------------------------------------------------------------


def _detr_loss(predicted: list[float], parents: list[int] | None) -> tuple[ICRRTDETRLoss, torch.Tensor]:
    torch.manual_seed(0)
    model = RTDETRDetectionModel(str(CFG_DIR / "rtdetr-p.yaml"), nc=2, verbose=False)
    model.nc = 2  # what the trainer sets
    criterion = with_icr(model, ICRSettings("inverse"), ROLES)
    assert isinstance(criterion, ICRRTDETRLoss)
    layers, queries = 3, 6
    xyxy = torch.tensor(predicted) / SIZE
    xywh = torch.cat([(xyxy[:2] + xyxy[2:]) / 2, xyxy[2:] - xyxy[:2]])
    boxes = xywh.expand(layers, 1, queries, 4).clone().requires_grad_(True)
    scores = torch.zeros(layers, 1, queries, 2)
    batch = _batch([VEHICLE, PLATE], [0, 1], parents)
    targets = {
        "cls": batch["cls"].view(-1).long(),
        "bboxes": batch["bboxes"],
        "batch_idx": batch["batch_idx"].long(),
        "gt_groups": [2],
    }
    if parents is not None:
        criterion.handed = (targets["bboxes"], batch[PARENT_KEY])
    losses = criterion((boxes, scores), targets)
    sum(losses.values()).backward()
    assert boxes.grad is not None
    return criterion, boxes.grad


def test_rtdetr_icr_inside_and_outside() -> None:
    inside, _ = _detr_loss(PLATE, [-1, 0])
    assert inside.last_icr is not None and float(inside.last_icr) == 0.0
    outside, grad = _detr_loss(OUTSIDE, [-1, 0])
    assert outside.last_icr is not None and float(outside.last_icr) > 0
    assert grad.abs().sum() > 0
    found, _ = _detr_loss(OUTSIDE, None)  # parents computed from the targets
    assert float(found.last_icr) == pytest.approx(float(outside.last_icr))


# -- the criterion, the roles, the supported range -------------------------------------------------


def test_with_icr_keeps_ultralytics_construction() -> None:
    model = _yolo()
    stock, icr = model.init_criterion(), with_icr(model, ICRSettings(), ROLES)
    assert isinstance(icr, ICRDetectionLoss) and is_icr(icr) and not is_icr(stock)
    assert icr.assigner.topk == stock.assigner.topk and icr.nc == stock.nc and icr.hyp is stock.hyp


def test_roles_from_names_and_flags() -> None:
    assert class_roles({0: "car", 1: "license_plate"}) == ClassRoles(parents=(0,), children=(1,))
    assert class_roles(["lp", "auto"], parents=["auto"], children=["lp"]).parents == (1,)
    with pytest.raises(UsageError, match="ICR needs a plate class.*name it with --children"):
        class_roles({0: "car", 1: "dog"})
    with pytest.raises(UsageError, match="ICR needs a vehicle class"):
        class_roles({0: "plate"})


def test_unsupported_ultralytics_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        UsageError, match=r"ultralytics 8\.3\.200 is installed; .* supports ultralytics>=8\.4\.0,<8\.5"
    ):
        _compat.check("8.3.200")
    from ultralytics.models.utils import loss as detr

    monkeypatch.delattr(detr.DETRLoss, "_get_index")
    with pytest.raises(
        UsageError, match=r"DETRLoss\._get_index is not what svmlp's ICR plug-in was built on"
    ):
        _compat.check("8.4.190")


# -- the parents of a batch --------------------------------------------------------------------------


def _parents_through_ultralytics(yolo: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per image file: the parents LinkingCollate gives on un-augmented batches, and what
    link_plates gives on the same labels read by svmlp."""
    from torch.utils.data import DataLoader
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(yolo / "data.yaml"))
    cfg = get_cfg(DEFAULT_CFG, {"imgsz": 160})
    roles = class_roles(data["names"])
    got: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        ds = build_yolo_dataset(cfg, data[split], 8, data, mode="val", stride=32)
        loader = DataLoader(ds, batch_size=8, collate_fn=LinkingCollate(type(ds).collate_fn, roles))
        for batch in loader:
            idx, parent = batch["batch_idx"].long().numpy(), batch[PARENT_KEY].numpy()
            for b, name in enumerate(batch["im_file"]):
                rows = np.flatnonzero(idx == b)
                p = parent[rows]
                got[Path(name).name] = np.where(p >= 0, p - (rows[0] if len(rows) else 0), -1)
    bare = svmlp.read(yolo, format="yolo")
    linked = link_plates(bare, relink=True).dataset
    want: dict[str, np.ndarray] = {}
    off = linked.offsets
    for i, name in enumerate(linked.images.file_name.tolist()):
        if linked.images.split[i] not in ("train", "val"):
            continue
        p = linked.boxes.parent[off[i] : off[i + 1]]
        want[Path(name).name] = np.where(p >= 0, p - off[i], -1)
    return got, want


def _bare_yolo(src: Path, out: Path) -> Path:
    """``src`` as a YOLO set with no sidecar: label rows are svmlp's box rows, in order."""
    svmlp.write(svmlp.read(src), out, format="yolo", images="symlink")
    (out / "svmlp.sidecar.json").unlink()
    return out


@pytest.mark.parametrize("which", ["sample", "plates-us-eu"])
def test_batch_parents_equal_svmlp_links(
    which: str, sample_yolo: Path, plates_dir: Path, tmp_path: Path
) -> None:
    yolo = _bare_yolo(sample_yolo if which == "sample" else plates_dir, tmp_path / "yolo")
    got, want = _parents_through_ultralytics(yolo)
    assert got.keys() == want.keys() and len(got) > 50
    differ = [k for k in got if not np.array_equal(got[k], want[k])]
    assert not differ, (
        f"{len(differ)} image(s) differ, e.g. {differ[0]}: {got[differ[0]]} vs {want[differ[0]]}"
    )
    assert sum(int((v >= 0).sum()) for v in got.values()) > 0
