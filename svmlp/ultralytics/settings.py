"""What ICR does inside an ultralytics run: the mode, its gain, and the classes it relates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from svmlp.errors import UsageError

__all__ = ["ICR_MODES", "SETTINGS_FILE", "ICRSettings"]

#: ``off`` is ultralytics' own loss, untouched
ICR_MODES = ("off", "inverse", "linear", "log")
#: written into a run's folder, so that ``--resume`` trains on with the same ICR
SETTINGS_FILE = "svmlp_icr.json"


@dataclass(frozen=True)
class ICRSettings:
    """``mode``: the ICR penalty (:func:`svmlp.train.losses.icr_loss`), ``off`` for none.
    ``gain``: its weight relative to the IoU term it is added to (1.0: the same weighting and
    normalisation as the IoU term). ``distance``/``cap``: as in ``icr_loss``. ``parents``/``children``:
    the vehicle and plate class names; left out, roles come from svmlp's alias table."""

    mode: str = "inverse"
    gain: float = 1.0
    distance: bool = True
    cap: float = 10.0
    parents: tuple[str, ...] | None = None
    children: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ICR_MODES:
            raise UsageError(f"ICR mode {self.mode!r}: choose one of {', '.join(ICR_MODES)}")
        if not (self.gain >= 0 and self.gain < float("inf")):
            raise UsageError(f"ICR gain {self.gain!r}: must be a finite number >= 0")

    @property
    def on(self) -> bool:
        return self.mode != "off"

    @classmethod
    def of(
        cls,
        mode: str = "inverse",
        *,
        parents: Sequence[str] | None = None,
        children: Sequence[str] | None = None,
        **kw: Any,
    ) -> ICRSettings:
        return cls(
            mode,
            parents=tuple(parents) if parents is not None else None,
            children=tuple(children) if children is not None else None,
            **kw,
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {k: v for k, v in asdict(self).items() if k != "extra"}
        (folder / SETTINGS_FILE).write_text(json.dumps(doc, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> ICRSettings | None:
        path = folder / SETTINGS_FILE
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls.of(**doc)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{path}: not svmlp's ICR settings ({exc})") from None
