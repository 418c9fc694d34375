"""Predictions: a detector's scored boxes, read from the COCO results format.

A COCO results file is a list of ``image_id``, ``category_id``, ``bbox`` [x, y, w, h] and
``score``. :func:`read_prediction_records` gives its rows as they are; :func:`load_predictions`
maps them onto a data set's image and category rows as columns (:class:`Predictions`), which is
what the audit compares with the labels and what FiftyOne shows. Evaluation (``svmlp.train``)
reads the rows too. They live in the model layer because every layer above reads them.

>>> import json, tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "results.json"
>>> _ = path.write_text(json.dumps([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.9}]))
>>> read_prediction_records(path)[0].bbox
(1.0, 2.0, 3.0, 4.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from svmlp._files import read_file
from svmlp.errors import UsageError, where
from svmlp.model.dataset import Dataset

__all__ = ["PredictionRecord", "Predictions", "load_predictions", "read_prediction_records"]


class PredictionRecord(msgspec.Struct):
    """One row of a COCO results file."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float


@dataclass
class Predictions:
    """Scored boxes on a data set's images, as columns: ``image`` and ``category`` are rows of the
    data set's image table and category list, ``xyxy`` float64 boxes, ``score`` their scores;
    ``notes`` say what was left out on the way in."""

    image: np.ndarray
    category: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    notes: list[str]


def read_prediction_records(
    path: Path, *, hint: str = "expected a COCO results list"
) -> list[PredictionRecord]:
    """The rows of a COCO results file; a bad file is a UsageError naming it (and the JSON path).

    ``hint`` ends the message of a file that is not a results list.
    """
    data = read_file(path, error=UsageError, what="results file")
    try:
        return msgspec.json.decode(data, type=list[PredictionRecord], strict=False)
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply; {hint}") from None
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        raise UsageError(f"{where(path, at=at)}: {text.split(' - at `')[0]}; {hint}") from None
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None


def load_predictions(path: Path, ds: Dataset) -> Predictions:
    """Read a COCO results file and map it onto ``ds`` (image ids must be unique in ``ds``).

    A category id ``ds`` lacks is a UsageError; predictions on images ``ds`` lacks are left out,
    with a note.
    """
    preds = read_prediction_records(path)
    ids = ds.images.id
    if len(np.unique(ids)) != len(ids):
        raise UsageError(
            f"{path}: predictions name images by id, and ids repeat across this data set's splits "
            f"({', '.join(ds.splits)}); audit one split with --split"
        )
    row_of = {int(v): k for k, v in enumerate(ids.tolist())}
    cat_of = {c.id: k for k, c in enumerate(ds.categories)}
    unknown_cats = sorted({p.category_id for p in preds} - set(cat_of))
    if unknown_cats:
        raise UsageError(
            f"{path}: category_id {unknown_cats[0]} is not a category of the data set "
            f"(it has {', '.join(f'{c.id}={c.name}' for c in ds.categories)})"
        )
    known = [p for p in preds if p.image_id in row_of]
    notes = []
    if len(known) < len(preds):
        notes.append(
            f"{path}: {len(preds) - len(known)} prediction(s) name images not in the data set; ignored"
        )
    xywh = np.array([p.bbox for p in known], dtype=np.float64).reshape(-1, 4)
    return Predictions(
        image=np.array([row_of[p.image_id] for p in known], dtype=np.int64),
        category=np.array([cat_of[p.category_id] for p in known], dtype=np.int64),
        xyxy=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        score=np.array([p.score for p in known], dtype=np.float64),
        notes=notes,
    )
