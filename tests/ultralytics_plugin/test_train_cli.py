"""`svmlp train --engine ultralytics` end to end on the CPU: YOLO12-n and a CPU-sized RT-DETR train
2 epochs on the sample and on the real plates, save, predict, and are scored by `svmlp evaluate`;
ICR off is ultralytics' own training step for step; a run resumes; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from svmlp.cli import main
from svmlp.ultralytics.run import is_ultralytics_checkpoint

pytestmark = pytest.mark.ultralytics

_SMALL = ["--epochs", "2", "--imgsz", "160", "--batch", "16", "--workers", "2", "--device", "cpu"]


def _train(data: Path, out: Path, model: str, *extra: str) -> int:
    return main(
        ["train", str(data), "--engine", "ultralytics", "--model", model, *_SMALL, "--out", str(out), *extra]
    )


@pytest.mark.parametrize("model", ["yolo12n.yaml", "rtdetr-p.yaml"])
@pytest.mark.parametrize("which", ["sample", "plates-us-eu"])
def test_train_predict_evaluate(
    model: str,
    which: str,
    sample_yolo: Path,
    plates_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the sample as svmlp's YOLO set; the real plates as they are (svmlp writes the YOLO copy)
    data = sample_yolo if which == "sample" else plates_dir
    run = tmp_path / "run"
    assert _train(data, run, model, "--icr", "inverse", "close_mosaic=1") == 0
    best = run / "weights" / "best.pt"
    assert best.is_file() and is_ultralytics_checkpoint(best)
    assert json.loads((run / "svmlp_icr.json").read_text())["mode"] == "inverse"
    out = capsys.readouterr().out
    assert "svmlp evaluate (pycocotools)" in out and "plate" in out
    scored = json.loads((run / "coco_eval_val.json").read_text())
    assert any("plate" in name for name in scored["per_class"]) and scored["images"] > 0
    if which == "plates-us-eu":  # its dataset.yaml names another machine's folders
        assert "training on a YOLO copy" in out
        assert (run / "data" / "data.yaml").is_file()  # the copy, inside the run folder
        assert not (plates_dir / "data.yaml").exists()  # the source untouched
    preds = tmp_path / "preds.json"
    assert main(["predict", str(best), str(data), "--split", "val", "-o", str(preds), "--imgsz", "160"]) == 0
    got = json.loads(preds.read_text())
    assert got and {"image_id", "category_id", "bbox", "score"} <= set(got[0])
    assert main(["evaluate", str(data), "--predictions", str(preds), "--split", "val"]) == 0
    assert "AP50" in capsys.readouterr().out
    # a model trained with ICR loads with plain ultralytics (the criterion is not saved)
    from ultralytics import RTDETR, YOLO

    loaded = (RTDETR if model.startswith("rtdetr") else YOLO)(str(best))
    assert getattr(loaded.model, "criterion", None) is None


def _steps(trainer: Any, data: Path, tmp: Path, name: str) -> list[dict[str, float]]:
    """The loss items of every training step of a 1-epoch run."""
    from ultralytics import YOLO

    seen: list[dict[str, float]] = []
    model = YOLO("yolo12n.yaml")
    model.add_callback(
        "on_train_batch_end", lambda t: seen.append({k: float(v) for k, v in t.loss_items.items()})
    )
    model.train(
        data=str(data / "data.yaml"),
        trainer=trainer,
        epochs=1,
        imgsz=96,
        batch=16,
        workers=0,
        device="cpu",
        seed=3,
        deterministic=True,
        plots=False,
        val=False,
        project=str(tmp),
        name=name,
        verbose=False,
    )
    return seen


def test_icr_off_is_ultralytics_step_for_step(sample_yolo: Path, tmp_path: Path) -> None:
    from ultralytics.models.yolo.detect import DetectionTrainer

    from svmlp.ultralytics import icr_trainer

    stock = _steps(DetectionTrainer, sample_yolo, tmp_path, "stock")
    off = _steps(icr_trainer("off"), sample_yolo, tmp_path, "off")
    assert len(stock) >= 5 and off == stock
    # ICR on with no weight: the parents travel through the loader, the loss is still ultralytics'
    silent = _steps(icr_trainer("inverse", gain=0.0), sample_yolo, tmp_path, "silent")
    assert [{k: v for k, v in s.items() if k != "icr_loss"} for s in silent] == stock
    on = _steps(icr_trainer("inverse"), sample_yolo, tmp_path, "on")
    assert any(s["icr_loss"] > 0 for s in on)


def test_resume(sample_yolo: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    from svmlp.ultralytics import icr_trainer

    class Stop(Exception):
        pass

    def stop(trainer: Any) -> None:
        if trainer.epoch == 0:
            raise Stop

    model = YOLO("yolo12n.yaml")
    model.add_callback("on_fit_epoch_end", stop)  # after epoch 1 is saved: a job cut short
    with pytest.raises(Stop):
        model.train(
            data=str(sample_yolo / "data.yaml"),
            trainer=icr_trainer("linear"),
            epochs=2,
            imgsz=96,
            batch=16,
            workers=0,
            device="cpu",
            plots=False,
            project=str(tmp_path),
            name="run",
            verbose=False,
        )
    run = tmp_path / "run"
    assert torch.load(run / "weights" / "last.pt", weights_only=False)["epoch"] == 0
    assert main(["train", str(sample_yolo), "--engine", "ultralytics", "--out", str(run), "--resume"]) == 0
    assert torch.load(run / "weights" / "last.pt", weights_only=False)["epoch"] == -1  # finished
    assert json.loads((run / "svmlp_icr.json").read_text())["mode"] == "linear"  # kept on resume
    assert len((run / "results.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "yolo99z.yaml"], "--model yolo99z.yaml: no such model yaml"),
        (["--model", "yolo12n.pt"], "svmlp never downloads weights"),
        (["mosaicc=0.5"], "ultralytics refused an argument"),
        (["--resume"], "--resume: "),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, sample_yolo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["train", str(sample_yolo), "--engine", "ultralytics", *_SMALL, "--out", str(tmp_path / "r"), *argv]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err


def test_no_plate_class_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "images" / split / "a.jpg")
        (tmp_path / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "data.yaml").write_text("path: ''\ntrain: images/train\nval: images/val\nnames: [dog, cat]\n")
    code = main(
        [
            "train",
            str(tmp_path),
            "--engine",
            "ultralytics",
            "--icr",
            "inverse",
            *_SMALL,
            "--out",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "ICR needs a vehicle class" in err and "\n" not in err
