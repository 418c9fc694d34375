"""Model families through the registry: a second family, defined here and nowhere in svmlp, trains,
predicts and round-trips its checkpoints with no change to the harness; old checkpoints still load
as the reference detector; an unknown family is one clear error."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import svmlp  # noqa: E402
from svmlp.errors import UsageError  # noqa: E402
from svmlp.torch import LabelMap  # noqa: E402
from svmlp.train import checkpoint as ckpt  # noqa: E402
from svmlp.train import registry  # noqa: E402
from svmlp.train.engine import ModelEMA, lr_lambda, train_one_epoch  # noqa: E402
from svmlp.train.harness import main as train  # noqa: E402
from svmlp.train.losses import icr_loss  # noqa: E402
from svmlp.train.model import Detector  # noqa: E402
from svmlp.train.predict import predict_loader  # noqa: E402

pytestmark = pytest.mark.timeout(600)

# --- a tiny family: one box and class scores an image, from the mean colour ------------------------


class TinyBoxNet(nn.Module):
    def __init__(self, num_classes: int, imgsz: int) -> None:
        super().__init__()
        self.imgsz = imgsz
        self.head = nn.Linear(3, 4 + num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean((2, 3)))  # B×(4 + C)


def _boxes(outputs: torch.Tensor, imgsz: int) -> torch.Tensor:
    xy = outputs[:, :4].float().sigmoid() * imgsz
    return torch.cat([torch.minimum(xy[:, :2], xy[:, 2:]), torch.maximum(xy[:, :2], xy[:, 2:])], 1)


def tiny_build(*, num_classes: int, scale: str = "n", imgsz: int = 640) -> TinyBoxNet:
    return TinyBoxNet(num_classes, imgsz)


class TinyLoss:
    """L1 of each target box to its image's box, cross-entropy of its class, and the ICR function."""

    def __init__(self, model: TinyBoxNet, *, icr: str = "off", icr_distance: bool = True) -> None:
        self.model, self.icr, self.icr_distance = model, icr, icr_distance

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        boxes, zero = _boxes(outputs, self.model.imgsz), outputs.sum() * 0.0
        if len(targets) == 0:
            return zero, {"l1": 0.0, "cls": 0.0, "icr": 0.0}
        b = targets[:, 0].long()
        l1 = F.l1_loss(boxes[b], targets[:, 2:6].float()) / self.model.imgsz
        cls = F.cross_entropy(outputs[b, 4:].float(), targets[:, 1].long())
        loss_icr = zero
        if self.icr != "off":
            parent = targets[:, 6].long()
            has = parent >= 0
            vbox = targets[parent.clamp(min=0), 2:6].float()
            pen = icr_loss(boxes[b], vbox, mode=self.icr, reduction="none", distance=self.icr_distance)  # type: ignore[arg-type]
            loss_icr = (pen * has).sum() / has.sum().clamp(min=1)
        parts = {"l1": float(l1.detach()), "cls": float(cls.detach()), "icr": float(loss_icr.detach())}
        return l1 + cls + loss_icr, parts


def tiny_postprocess(
    outputs: torch.Tensor, model: TinyBoxNet, *, conf: float = 0.001, iou: float = 0.6
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    boxes = _boxes(outputs, model.imgsz)
    scores, labels = outputs[:, 4:].float().softmax(-1).max(-1)
    out = []
    for bx, s, lab in zip(boxes, scores, labels):
        keep = (s > conf).reshape(1)
        out.append((bx[None][keep], s[None][keep], lab[None][keep]))
    return out


TINY = registry.Family("tiny-test", build=tiny_build, criterion=TinyLoss, postprocess=tiny_postprocess)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> registry.Family:
    """The tiny family, registered for this test only."""
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))
    return registry.register(TINY)


# --- the registry's own rules -----------------------------------------------------------------------


def test_unknown_and_duplicate_families_are_usage_errors(tiny: registry.Family) -> None:
    assert registry.names() == ("svmlp-detector", "tiny-test")
    assert registry.get_family("tiny-test") is TINY
    assert registry.get_family("svmlp-detector").build.__module__ == "svmlp.train.detector"
    with pytest.raises(UsageError, match=r"unknown model family 'detr'; known: svmlp-detector, tiny-test"):
        registry.build_model("detr", num_classes=2)
    with pytest.raises(UsageError, match="registered already"):
        registry.register(TINY)
    assert registry.register(TINY, replace=True) is TINY


# --- build → one train step → postprocess → checkpoint save/load, all through the registry ----------


def _batch() -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g)
    # image 0: a vehicle in the top-left corner and its plate (parent row 0), far from where an
    # untrained model puts its box (about the middle); image 1: a plate with no vehicle
    targets = torch.tensor(
        [[0, 0, 0, 0, 16, 12, -1], [0, 1, 2, 6, 10, 10, 0], [1, 1, 8, 8, 24, 14, -1]], dtype=torch.float32
    )
    infos = [
        {"image_id": i + 1, "matrix": torch.eye(3), "orig_size": torch.tensor([64, 64])} for i in range(2)
    ]
    return images, targets, infos


def test_a_new_family_steps_through_the_registry(tiny: registry.Family, tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec: dict[str, Any] = {"name": "tiny-test", "args": {"num_classes": 2, "scale": "p", "imgsz": 64}}
    model = registry.build_model(spec["name"], **spec["args"])
    criterion = registry.build_criterion("tiny-test", model, icr="inverse", icr_distance=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(1, 0))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    ema = ModelEMA(model)
    before = [p.detach().clone() for p in model.parameters()]
    loader = [_batch()]
    parts = train_one_epoch(
        model, criterion, loader, optimizer, scheduler, scaler, ema,
        device=torch.device("cpu"), epoch=0, amp_dtype=None, progress=False,
    )  # fmt: skip
    assert parts["iterations"] == 1 and {"l1", "cls", "icr"} <= set(parts) and parts["icr"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    preds = predict_loader(
        model, loader, postprocess=tiny.postprocess, category_ids=(7, 9), device=torch.device("cpu"), conf=0.0
    )
    assert [p["image_id"] for p in preds] == [1, 2] and {p["category_id"] for p in preds} <= {7, 9}
    assert all(0 <= v <= 64 for p in preds for v in p["bbox"][:2])

    lm = LabelMap((7, 9), ("vehicle", "plate"), ("parent", "child"))
    args = argparse.Namespace(model="tiny-test", out=tmp_path, imgsz=64)
    ckpt.save(
        tmp_path / "last.pt", model=model, ema=ema, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
        epoch=0, args=args, label_map=lm, family=spec, best_fitness=-1.0, history=[],
    )  # fmt: skip
    state = ckpt.load(tmp_path / "last.pt")
    assert state["family"] == spec and ckpt.family_of(state) is tiny
    loaded = ckpt.model_of(state)
    assert isinstance(loaded, TinyBoxNet) and not loaded.training
    for k, v in ema.ema.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    x = _batch()[0].float() / 255
    assert [t.tolist() for t in tiny.postprocess(loaded(x), loaded)[0]] == [
        t.tolist() for t in tiny.postprocess(ema.ema(x), ema.ema)[0]
    ]


def test_a_checkpoint_from_before_families_is_the_detector(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Detector(2, scale="p")
    state = {
        "model": model.state_dict(),
        "label_map": LabelMap((1, 2), ("vehicle", "plate"), ("parent", "child")).to_dict(),
        "args": {"imgsz": 128, "scale": "p"},
        "scale": "p",  # where the old harness kept it; no "family"
        "epoch": 0,
    }
    torch.save(state, tmp_path / "old.pt")
    loaded = ckpt.load(tmp_path / "old.pt")
    assert ckpt.model_spec(loaded) == {
        "name": "svmlp-detector",
        "args": {"num_classes": 2, "scale": "p", "imgsz": 128},
    }
    assert ckpt.family_of(loaded) is registry.get_family("svmlp-detector")
    rebuilt = ckpt.model_of(loaded)  # no "ema": the model's weights
    assert isinstance(rebuilt, Detector) and rebuilt.scale == "p"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[k], v)
    with pytest.raises(UsageError, match="unknown model family 'gone'; known: svmlp-detector"):
        ckpt.model_of({**loaded, "family": {"name": "gone", "args": {}}})


# --- the harness, unchanged, trains the new family --------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from svmlp.synth import generate

    root = tmp_path_factory.mktemp("family-data")
    ds = generate(root / "render", 16, seed=5, size=(160, 128), vehicles=(1, 2))
    svmlp.write(ds, root / "data", format="svmlp", images="hardlink")
    return root / "data"


def test_the_harness_trains_predicts_and_resumes_a_registered_family(
    tiny: registry.Family, data: Path, tmp_path: Path
) -> None:
    from svmlp.train.inference import predict_file

    run = tmp_path / "run"
    fast = ["--imgsz", "64", "--batch", "4", "--workers", "0", "--max-iters", "2", "--no-plots"]
    args = [str(data), "--model", "tiny-test", "--icr", "linear", "--epochs", "2", "--out", str(run), *fast]
    with pytest.raises(UsageError, match="--compile-loss: the tiny-test family's criterion takes no compile"):
        train([*args, "--compile-loss", "--out", str(tmp_path / "compiled")])
    assert train([*args, "--stop-after", "1"]) == 0
    assert train([*args, "--resume"]) == 0
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["family"]["name"] == "tiny-test" and state["args"]["model"] == "tiny-test"
    hist = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in hist] == [0, 1] and {"train_l1", "train_cls", "train_icr"} <= set(hist[-1])
    final = json.loads((run / "final.json").read_text())
    assert "AP50" in final["val"]["metrics"]
    n = predict_file(run / "best.pt", data, split="test", out=tmp_path / "p.json", workers=0, conf=0.0)
    assert n == len(json.loads((tmp_path / "p.json").read_text())) > 0
    # another process has not registered the family: one line, exit 2, the known families named
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "svmlp",
            "predict",
            str(run / "best.pt"),
            str(data),
            "-o",
            str(tmp_path / "q.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "svmlp predict: error: unknown model family 'tiny-test'; known: svmlp-detector"
    ]
    assert not (tmp_path / "q.json").exists()
