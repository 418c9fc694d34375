"""``svmlp train --engine ultralytics`` and ``svmlp predict`` of an ultralytics checkpoint.

Training: the data set is used as it is when it is a YOLO set (its ``data.yaml``), else svmlp
reads it (any format) and writes it as a YOLO set into the run folder first (images linked, not
copied); the model is an ultralytics model yaml (``yolo12n.yaml``, ``rtdetr-l.yaml``, a path, or
svmlp's CPU-sized ``rtdetr-p.yaml``) or a local ``.pt``; ``KEY=VALUE`` words are ultralytics' own
training arguments, passed through. After training, the best weights predict the validation split
and ``svmlp evaluate``'s pycocotools ruler scores them beside ultralytics' own metrics, so svmlp's
detector and an ultralytics model are compared with one evaluator.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from svmlp.errors import UsageError

__all__ = ["CFG_DIR", "is_ultralytics_checkpoint", "predict_file", "train_main"]

#: model yamls shipped with svmlp (``rtdetr-p.yaml``: RT-DETR sized for the CPU)
CFG_DIR = Path(__file__).resolve().parent / "cfg"
#: the ultralytics model used when ``--model`` names none
DEFAULT_MODEL = "yolo12n.yaml"
_CHECKPOINT_PEEK = 1 << 20


def _pickle_head(path: Path) -> bytes:
    """The first bytes of a torch checkpoint's pickle (a zip's ``*/data.pkl``), read without
    unpickling it (which would need ultralytics); empty for anything else."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            if name is None:
                return b""
            with z.open(name) as f:
                return f.read(_CHECKPOINT_PEEK)
    except (OSError, zipfile.BadZipFile, ValueError):
        return b""


def is_ultralytics_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a checkpoint ultralytics wrote (its pickle names its model classes)."""
    return b"ultralytics.nn.tasks" in _pickle_head(path)


def is_rtdetr_checkpoint(path: Path) -> bool:
    """Whether ``path`` holds an RT-DETR model (``RTDETRDetectionModel``)."""
    return b"RTDETRDetectionModel" in _pickle_head(path)


def _value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def overrides_of(words: Sequence[str]) -> dict[str, Any]:
    """ultralytics arguments from ``KEY=VALUE`` words (values as YAML: ``0.5``, ``false``, ``[0, 1]``).

    >>> overrides_of(["mosaic=0.5", "cos_lr=true", "name=run 1"])
    {'mosaic': 0.5, 'cos_lr': True, 'name': 'run 1'}
    """
    out: dict[str, Any] = {}
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{w!r}: an ultralytics argument is KEY=VALUE (e.g. mosaic=0.5)")
        out[key.strip()] = _value(value)
    return out


def _model_path(name: str) -> tuple[str, bool]:
    """(what to give ultralytics, whether it is an RT-DETR): a yaml ultralytics or svmlp ships,
    a yaml or ``.pt`` file here; nothing is downloaded."""
    from ultralytics.nn.tasks import yaml_model_load

    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        resolved = (
            str(CFG_DIR / path.name) if not path.is_file() and (CFG_DIR / path.name).is_file() else name
        )
        try:
            spec = yaml_model_load(resolved)  # ultralytics' own lookup: yolo12n.yaml is yolo12.yaml, scale n
        except (FileNotFoundError, AssertionError, OSError):
            raise UsageError(
                f"--model {name}: no such model yaml (ultralytics ships yolov8n.yaml … yolo11n.yaml, "
                f"yolo12n.yaml, rtdetr-l.yaml; svmlp ships {', '.join(p.name for p in CFG_DIR.glob('*.yaml'))})"
            ) from None
        head = spec.get("head") or []
        rtdetr = any(len(layer) > 2 and layer[2] == "RTDETRDecoder" for layer in head)
        return resolved, rtdetr
    if path.suffix == ".pt":
        if not path.is_file():
            raise UsageError(
                f"--model {name}: no such file; svmlp never downloads weights (there is no network "
                "here): give a local .pt, or a model yaml to train from scratch"
            )
        return str(path), is_rtdetr_checkpoint(path)
    raise UsageError(f"--model {name}: expected an ultralytics model yaml or a .pt checkpoint")


def _works_as_is(config: Path) -> str | None:
    """None when ultralytics reads ``config`` as it is (every split's images where it says), else
    what is wrong, in ultralytics' words."""
    from ultralytics.data.utils import check_det_dataset

    try:
        check_det_dataset(str(config), autodownload=False)
    except Exception as exc:  # ultralytics says "missing path ..." with a RuntimeError or another
        return " ".join(str(exc).split())[:200]
    return None


def _yolo_data(args: argparse.Namespace, say: Callable[[str], None]) -> Path:
    """The ``data.yaml`` to train on: the source's own when it is a YOLO set ultralytics reads as
    it is; else (another format, or a config with another machine's paths, as Roboflow exports
    have) a YOLO copy svmlp writes into the run folder, images linked."""
    from svmlp.formats import detect, read, write

    src = Path(args.data)
    ds = read(src)  # bad data is svmlp's one line, before ultralytics sees it
    conflict = ds.inputs.output_conflict(args.out)
    if conflict is not None:
        raise UsageError(f"--out {args.out}: {conflict}; keep runs outside the data set")
    config = src if src.is_file() and src.suffix in (".yaml", ".yml") else None
    if config is None and src.is_dir() and detect(src) == "yolo":
        config = next((src / n for n in ("data.yaml", "dataset.yaml") if (src / n).is_file()), None)
    why = _works_as_is(config) if config is not None else f"{src} is not a YOLO set"
    if why is None and config is not None:
        return config
    target = Path(args.out) / "data"
    if not (target / "data.yaml").is_file():
        write(ds, target, format="yolo", images="symlink", overwrite=True)
    say(f"note: {why}; training on a YOLO copy in {target} (images linked, links in the sidecar)")
    return target / "data.yaml"


def _device(text: str) -> str | None:
    if text == "auto":
        return None
    if text.startswith("cuda:"):
        return text[5:]
    return "0" if text == "cuda" else text


def train_main(args: argparse.Namespace, extras: Sequence[str], say: Callable[[str], None] = print) -> int:
    """Train an ultralytics model as ``svmlp train --engine ultralytics`` asks; returns 0."""
    from svmlp.ultralytics._compat import require
    from svmlp.ultralytics.settings import ICRSettings

    require()
    icr = ICRSettings.of(args.icr, distance=args.icr_distance, parents=args.parents, children=args.children)
    out = Path(args.out)
    last = out / "weights" / "last.pt"
    if args.resume and not last.is_file():
        raise UsageError(f"--resume: {last} does not exist (no ultralytics run to continue in {out})")
    if not args.resume and last.exists():
        raise UsageError(f"--out {out}: holds a run ({last}); pass --resume to continue it, or another --out")
    model_name = args.model if args.model.endswith((".yaml", ".yml", ".pt")) else DEFAULT_MODEL
    model_path, rtdetr = _model_path(str(last) if args.resume else model_name)
    data = _yolo_data(args, say)
    from ultralytics import RTDETR, YOLO
    from ultralytics.models.rtdetr.train import RTDETRTrainer
    from ultralytics.models.yolo.detect import DetectionTrainer

    from svmlp.ultralytics._trainer import icr_trainer

    trainer = (
        (RTDETRTrainer if rtdetr else DetectionTrainer)
        if not icr.on
        else icr_trainer(
            icr.mode, rtdetr=rtdetr, distance=icr.distance, parents=args.parents, children=args.children
        )
    )
    kwargs: dict[str, Any] = {
        "data": str(data),
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "workers": args.workers,
        "seed": args.seed,
        "project": str(out.resolve().parent),
        "name": out.name,
        "exist_ok": True,
        "plots": args.plots,
        "verbose": not args.quiet and (bool(args.progress) if args.progress is not None else True),
    }
    if (device := _device(args.device)) is not None:
        kwargs["device"] = device
    if args.resume:
        kwargs = {"resume": str(last)}
    kwargs.update(overrides_of(extras))
    model = (RTDETR if rtdetr else YOLO)(model_path)
    try:
        model.train(trainer=trainer, **kwargs)
    except SyntaxError as exc:  # ultralytics' word for an unknown or mistyped argument
        raise UsageError(f"ultralytics refused an argument: {' '.join(str(exc).split())[:300]}") from None
    except (RuntimeError, FileNotFoundError) as exc:
        text = " ".join(str(exc).split())
        if not text.startswith("Dataset"):  # ultralytics' word for data it cannot use
            raise
        raise UsageError(f"ultralytics: {text[:300]}") from None
    best = out / "weights" / "best.pt"
    if best.is_file():
        _score(best, data, out, args, (lambda _line: None) if args.quiet else say)
    return 0


def _score(best: Path, data: Path, out: Path, args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """The best weights on the validation split, scored by pycocotools (``svmlp evaluate``)."""
    from svmlp.formats import read
    from svmlp.train.coco_eval import evaluate_predictions

    ds = read(data.parent)
    split = "val" if "val" in ds.splits else ds.splits[-1]
    preds = out / f"predictions_{split}.json"
    n = predict_file(best, data.parent, split=split, out=preds, imgsz=args.imgsz, device=args.device)
    result = evaluate_predictions(ds, preds, split=split)
    (out / f"coco_eval_{split}.json").write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    say(f"svmlp evaluate (pycocotools) of {best} on {split}: {n} predictions written to {preds}")
    say(result.table())


def predict_file(
    checkpoint: Path,
    source: Path,
    *,
    split: str,
    out: Path,
    imgsz: int | None = None,
    batch: int = 16,
    conf: float = 0.001,
    iou: float = 0.6,
    device: str = "auto",
) -> int:
    """Write the predictions of an ultralytics ``checkpoint`` on ``split`` of ``source`` (any
    format svmlp reads) as a COCO results file; returns their number. Images are decoded by svmlp
    as stored (no EXIF turn), so boxes are in the data set's own pixel frame."""
    import numpy as np
    from PIL import Image

    from svmlp._files import open_regular_file, write_atomic
    from svmlp.formats import read
    from svmlp.model import Inputs
    from svmlp.ultralytics._compat import require

    require()
    from ultralytics import RTDETR, YOLO

    ds = read(source)
    conflict = (ds.inputs | Inputs.of(files=[checkpoint])).report_conflict(out)
    if conflict is not None:
        raise UsageError(f"-o {out}: {conflict}; write the predictions outside the data set")
    if split not in ds.splits:
        raise UsageError(f"{source}: no split {split!r} (it has {', '.join(ds.splits)})")
    model = (RTDETR if is_rtdetr_checkpoint(checkpoint) else YOLO)(str(checkpoint))
    names: dict[int, str] = dict(model.names)
    by_name = {c.name: c.id for c in ds.categories}
    unknown = sorted(n for n in names.values() if n not in by_name)
    if unknown:
        raise UsageError(
            f"{checkpoint}: classes {', '.join(map(repr, unknown[:5]))} are not classes of {source}; "
            "was it trained on another data set?"
        )
    rows = np.flatnonzero(ds.images.split == split)
    root = Path(ds.roots[split])
    kwargs: dict[str, Any] = {"conf": conf, "iou": iou, "verbose": False}
    if imgsz:
        kwargs["imgsz"] = imgsz
    if (dev := _device(device)) is not None:
        kwargs["device"] = dev
    results: list[dict[str, Any]] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch].tolist()
        frames = []
        for i in chunk:
            with open_regular_file(root / str(ds.images.file_name[i])) as f, Image.open(f) as im:
                frames.append(np.ascontiguousarray(np.asarray(im.convert("RGB"))[..., ::-1]))
        for i, r in zip(chunk, model.predict(frames, **kwargs)):
            boxes = r.boxes
            xyxy = boxes.xyxy.cpu().double().numpy()
            for (x0, y0, x1, y1), c, s in zip(
                xyxy.tolist(), boxes.cls.cpu().int().tolist(), boxes.conf.cpu().tolist()
            ):
                results.append(
                    {
                        "image_id": int(ds.images.id[i]),
                        "category_id": int(by_name[names[c]]),
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "score": float(s),
                    }
                )
    write_atomic(out, json.dumps(results).encode("utf-8"))
    return len(results)
