"""ultralytics trainers with ICR: ``YOLO("yolo12n.yaml").train(data=..., trainer=ICRTrainer)``.

A trainer here is ultralytics' own (:class:`DetectionTrainer`, :class:`RTDETRTrainer`) with three
additions, all off when the mode is ``off`` (then it is ultralytics' trainer, step for step):

- its datasets' ``collate_fn`` adds each box's parent (:class:`~svmlp.ultralytics.parents.LinkingCollate`,
  in the DataLoader workers);
- the model's criterion (and the EMA's, which validation uses) is ultralytics' own given ICR
  (:func:`~svmlp.ultralytics._loss.with_icr`), made on the first batch, on the training device;
- the ICR settings are written into the run folder (``svmlp_icr.json``) and read back on resume.

Checkpoints hold stock ultralytics models (ultralytics strips the criterion when it saves), so a
model trained with ICR loads and predicts with plain ultralytics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ultralytics.models.rtdetr.train import RTDETRTrainer
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils.torch_utils import unwrap_model

from svmlp.ultralytics._loss import ICRRTDETRLoss, is_icr, with_icr
from svmlp.ultralytics.parents import PARENT_KEY, ClassRoles, LinkingCollate, class_roles
from svmlp.ultralytics.settings import ICRSettings

__all__ = ["ICRRTDETRTrainer", "ICRTrainer", "icr_trainer"]


class _ICR:
    """What the ICR trainers add to ultralytics' (a mix-in, first in the bases)."""

    icr: ICRSettings = ICRSettings()
    args: Any
    data: dict[str, Any]
    model: Any
    ema: Any
    save_dir: Path
    _roles: ClassRoles | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        if self.args.resume:
            saved = ICRSettings.load(self.save_dir)
            if saved is not None:
                self.icr = saved
        if self.icr.on:
            self.roles  # no vehicle or no plate class: one line now, not after the first epoch  # noqa: B018
            self.icr.save(self.save_dir)

    @property
    def roles(self) -> ClassRoles:
        if self._roles is None:
            self._roles = class_roles(
                self.data["names"], parents=self.icr.parents, children=self.icr.children
            )
        return self._roles

    def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None) -> Any:
        dataset = super().build_dataset(img_path, mode, batch)  # type: ignore[misc]
        if self.icr.on:
            dataset.collate_fn = LinkingCollate(type(dataset).collate_fn, self.roles)
        return dataset

    def preprocess_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = super().preprocess_batch(batch)  # type: ignore[misc]
        if self.icr.on:
            for model in (unwrap_model(self.model), getattr(self.ema, "ema", None)):
                if model is not None and not is_icr(getattr(model, "criterion", None)):
                    kept = getattr(model, "criterion", None)
                    model.criterion = with_icr(model, self.icr, self.roles)
                    for k in ("updates", "o2m", "o2o"):  # an E2E loss's schedule, on resume
                        if kept is not None and hasattr(kept, k):
                            setattr(model.criterion, k, getattr(kept, k))
            criterion = unwrap_model(self.model).criterion
            if isinstance(criterion, ICRRTDETRLoss) and PARENT_KEY in batch:
                criterion.handed = (batch["bboxes"], batch[PARENT_KEY])
        return batch


class ICRTrainer(_ICR, DetectionTrainer):
    """ultralytics' :class:`DetectionTrainer` (YOLOv8, YOLO11, YOLO12, …) with ICR (``inverse``,
    roles from svmlp's alias table); :func:`icr_trainer` makes one with other settings."""


class ICRRTDETRTrainer(_ICR, RTDETRTrainer):
    """ultralytics' :class:`RTDETRTrainer` with ICR on the matched queries."""


def icr_trainer(
    mode: str = "inverse",
    *,
    rtdetr: bool = False,
    gain: float = 1.0,
    distance: bool = True,
    parents: list[str] | None = None,
    children: list[str] | None = None,
) -> type:
    """A trainer class with these ICR settings, to pass as ``model.train(trainer=...)``.

    ``rtdetr``: for an ``RTDETR`` model; ``parents``/``children``: the vehicle and plate class
    names (left out: svmlp's alias table); ``mode="off"`` is ultralytics' own trainer, unchanged.
    """
    settings = ICRSettings.of(mode, gain=gain, distance=distance, parents=parents, children=children)
    base = ICRRTDETRTrainer if rtdetr else ICRTrainer
    return type(base.__name__, (base,), {"icr": settings, "__module__": __name__})
