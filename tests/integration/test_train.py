"""The training harness on the CPU: a few iterations end to end, resume, seeds, DDP (gloo), predict →
evaluate, and bad input. A pico model at 128 px on a tiny synthetic set keeps each run to seconds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")

import svmlp  # noqa: E402
from svmlp.errors import UsageError  # noqa: E402
from svmlp.train.engine import TrainingError  # noqa: E402
from svmlp.train.harness import main as train  # noqa: E402

pytestmark = pytest.mark.timeout(600)

FAST = ["--imgsz", "128", "--batch", "4", "--scale", "p", "--workers", "0", "--max-iters", "2", "--no-plots"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from svmlp.synth import generate

    root = tmp_path_factory.mktemp("train-data")
    ds = generate(root / "render", 24, seed=4, size=(192, 144), vehicles=(1, 3))
    svmlp.write(ds, root / "data", format="svmlp", images="hardlink")
    return root / "data"


def _history(run: Path) -> list[dict]:
    return json.loads((run / "metrics.json").read_text())


def test_a_short_run_writes_everything(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train([str(data), "--epochs", "2", "--icr", "inverse", "--out", str(run), *FAST[:-1]]) == 0
    for name in (
        "config.yaml",
        "label_map.json",
        "last.pt",
        "best.pt",
        "metrics.csv",
        "metrics.json",
        "final.json",
        "loss.png",
        "pr.png",
    ):
        assert (run / name).is_file(), name
    state = torch.load(run / "last.pt", weights_only=False)
    assert {"model", "ema", "optimizer", "scheduler", "scaler", "epoch", "args", "label_map"} <= set(state)
    assert state["epoch"] == 1 and state["args"]["icr"] == "inverse"
    hist = _history(run)
    assert [r["epoch"] for r in hist] == [0, 1]
    assert all(np.isfinite(r["train_box"]) and r["train_iterations"] == 2 for r in hist)
    assert "val_AP50" in hist[-1] and "val_plate_AP50" in hist[-1]
    # the validation loss, part by part, beside the training loss (loss.png draws each part)
    assert (
        {k[len("train_") :] for k in hist[-1] if k.startswith("train_")}
        >= {k[len("val_loss_") :] for k in hist[-1] if k.startswith("val_loss_")}
        >= {"box", "icr"}
    )
    assert all(np.isfinite(hist[-1][f"val_loss_{k}"]) for k in ("box", "icr"))
    final = json.loads((run / "final.json").read_text())
    assert set(final) >= {"checkpoint", "val", "test"} and "AP50" in final["val"]["metrics"]
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_")


def test_resume_continues_to_the_same_state(data: Path, tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = ["--epochs", "2", "--icr", "linear", *FAST]
    train([str(data), "--out", str(straight), *args])
    train([str(data), "--out", str(split), "--stop-after", "1", *args])
    assert torch.load(split / "last.pt", weights_only=False)["epoch"] == 0
    with pytest.raises(UsageError, match="holds a run already"):
        train([str(data), "--out", str(split), *args])
    train([str(data), "--out", str(split), "--resume", *args])
    a = torch.load(straight / "last.pt", weights_only=False)
    b = torch.load(split / "last.pt", weights_only=False)
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    for k, v in a["ema"].items():
        torch.testing.assert_close(b["ema"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    ha, hb = _history(straight), _history(split)
    assert [r["epoch"] for r in hb] == [0, 1]
    for part in ("train_box", "train_icr", "train_cls", "train_dfl"):
        assert hb[1][part] == pytest.approx(ha[1][part], rel=1e-4), part


def test_stop_after_counts_this_process_and_resume_keeps_the_runs_settings(
    data: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "boxed"
    args = [str(data), "--out", str(run), "--epochs", "3", *FAST]
    train([*args, "--stop-after", "1"])
    assert [r["epoch"] for r in _history(run)] == [0]
    train([*args, "--stop-after", "1", "--resume", "--scale", "n", "--lr", "0.5"])  # one more epoch each job
    assert [r["epoch"] for r in _history(run)] == [0, 1]
    out = capsys.readouterr().out
    assert "ignored --scale n (the run has p), --lr 0.5 (the run has 0.002)" in out
    train([*args, "--resume"])
    assert [r["epoch"] for r in _history(run)] == [0, 1, 2]


def test_the_same_seed_gives_the_same_first_losses(data: Path, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        train([str(data), "--epochs", "1", "--seed", seed, "--out", str(tmp_path / name), *FAST])
        runs[name] = _history(tmp_path / name)[0]
    for part in ("train_box", "train_cls", "train_dfl"):
        assert runs["a"][part] == runs["b"][part], part
    assert any(runs["a"][p] != runs["c"][p] for p in ("train_box", "train_cls", "train_dfl"))


def test_augmentation_drawn_on_the_device_trains_with_icr(data: Path, tmp_path: Path) -> None:
    """--augment device: the workers plan, the training process draws (here on the CPU); the
    run is as reproducible as the per-sample pipeline's, and ICR sees the links through it."""
    runs = {}
    for name in ("a", "b"):
        args = [str(data), "--epochs", "1", "--augment", "device", "--icr", "inverse", "--seed", "5"]
        assert train([*args, "--out", str(tmp_path / name), *FAST]) == 0
        runs[name] = _history(tmp_path / name)[0]
    assert runs["a"] == {
        **runs["b"],
        **{k: runs["a"][k] for k in runs["a"] if "per_s" in k or "seconds" in k},
    }
    assert np.isfinite(runs["a"]["train_icr"]) and np.isfinite(runs["a"]["train_box"])
    assert (tmp_path / "a" / "last.pt").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_distributed_data_parallel_with_gloo(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "svmlp.train", str(data), "--epochs", "1", "--out", str(run),
        "--icr", "inverse", *FAST,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(ln.startswith("training ") for ln in proc.stdout.splitlines()) == 1  # only rank 0 speaks
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["epoch"] == 0 and not any(k.startswith("module.") for k in state["model"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "svmlp", *args], capture_output=True, text=True, timeout=300)


def test_predict_then_evaluate_and_audit(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train([str(data), "--epochs", "1", "--out", str(run), *FAST])
    preds = tmp_path / "preds.json"
    p = _cli(
        "predict",
        str(run / "best.pt"),
        str(data),
        "--split",
        "test",
        "-o",
        str(preds),
        "--imgsz",
        "128",
        "--workers",
        "0",
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(preds.read_text())
    assert rows and set(rows[0]) == {"image_id", "category_id", "bbox", "score"}
    ds = svmlp.read(data).split("test")
    assert {r["image_id"] for r in rows} <= set(ds.images.id.tolist())
    assert {r["category_id"] for r in rows} <= {c.id for c in ds.categories}
    e = _cli(
        "evaluate",
        str(data),
        "--predictions",
        str(preds),
        "--split",
        "test",
        "--json-out",
        str(tmp_path / "m.json"),
    )
    assert e.returncode == 0, e.stderr
    assert "AP50" in e.stdout and json.loads((tmp_path / "m.json").read_text())["metrics"]["AP50"] is not None
    a = _cli("audit", str(data), "--split", "test", "--predictions", str(preds), "-q", "--no-images")
    assert a.returncode in (0, 1), a.stderr


def test_ground_truth_as_predictions_scores_one(data: Path, tmp_path: Path) -> None:
    ds = svmlp.read(data).split("test")
    bx = ds.boxes
    rows = [
        {
            "image_id": int(ds.images.id[bx.image[r]]),
            "category_id": ds.categories[bx.category[r]].id,
            "bbox": [
                float(bx.xyxy[r, 0]),
                float(bx.xyxy[r, 1]),
                float(bx.xyxy[r, 2] - bx.xyxy[r, 0]),
                float(bx.xyxy[r, 3] - bx.xyxy[r, 1]),
            ],
            "score": 1.0,
        }
        for r in range(len(bx))
    ]
    (tmp_path / "gt.json").write_text(json.dumps(rows))
    e = _cli(
        "evaluate",
        str(data),
        "--predictions",
        str(tmp_path / "gt.json"),
        "--split",
        "test",
        "--json-out",
        str(tmp_path / "m.json"),
    )
    assert e.returncode == 0, e.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["metrics"]["AP"] == 1.0 and metrics["metrics"]["AP50"] == 1.0
    assert all(c["AP"] == 1.0 for c in metrics["per_class"].values())


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(data: Path, tmp_path: Path) -> None:
    _one_line_error(
        _cli("train", str(data), "--icr", "square", *FAST),
        "--icr 'square': unknown mode",
        "inverse, linear, log",
    )
    _one_line_error(
        _cli("train", str(data), "--device", "cuda", *FAST),
        "CUDA was asked for but torch sees no CUDA device",
    )
    # a data set with no plate class, with ICR on
    only_cars = svmlp.read(data)
    keep = np.array([only_cars.categories[c].name == "vehicle" for c in only_cars.boxes.category])
    boxes = only_cars.boxes.take_with_parents(np.flatnonzero(keep), len(keep))
    cars = svmlp.Dataset(
        only_cars.categories[:1] if only_cars.categories[0].name == "vehicle" else only_cars.categories[1:],
        only_cars.images,
        boxes,
        roots=only_cars.roots,
    )
    svmlp.write(cars, tmp_path / "cars", format="svmlp", images="symlink")
    _one_line_error(
        _cli("train", str(tmp_path / "cars"), "--icr", "inverse", *FAST),
        "needs a plate class and a vehicle class",
    )
    # a checkpoint from another label map
    run = tmp_path / "run"
    train([str(data), "--epochs", "1", "--out", str(run), *FAST])
    _one_line_error(
        _cli(
            "predict",
            str(run / "best.pt"),
            str(tmp_path / "cars"),
            "--split",
            "test",
            "-o",
            str(tmp_path / "p.json"),
        ),
        "was trained with another label map",
    )
    assert not (tmp_path / "p.json").exists()
    _one_line_error(
        _cli("predict", str(tmp_path / "cars" / "nothing.pt"), str(data), "-o", str(tmp_path / "p.json")),
        "no such checkpoint",
    )


def test_a_non_finite_loss_stops_with_the_loss_parts(data: Path, tmp_path: Path) -> None:
    with pytest.raises(
        TrainingError, match=r"non-finite loss at epoch 0, iteration \d+: box .*, icr .*, cls .*, dfl"
    ):
        train([str(data), "--epochs", "1", "--lr", "1e38", "--out", str(tmp_path / "nan"), *FAST])
