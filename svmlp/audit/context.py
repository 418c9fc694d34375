"""What every check sees: the data set, the configuration, and what is worth computing once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from svmlp.audit.config import AuditConfig
from svmlp.audit.issues import Issue
from svmlp.model import Dataset

if TYPE_CHECKING:
    from svmlp.audit.scan import ImageScan
    from svmlp.links import LinkResult

__all__ = ["Context"]


@dataclass
class Context:
    ds: Dataset
    config: AuditConfig
    scan: ImageScan | None = None
    predictions: Any = None
    _links: LinkResult | None = field(default=None, repr=False)

    def issue(
        self,
        check: str,
        image: int,
        box: int,
        message: str,
        *,
        score: float | None = None,
        related: tuple[int, ...] = (),
        other_image: int = -1,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> Issue:
        """An issue of ``check`` at the severity the configuration gives it."""
        return Issue(
            check, self.config.severity[check], image, box, message, score, related, other_image, bbox
        )

    def enabled(self, check: str) -> bool:
        return bool(self.config.enabled.get(check, True))

    @property
    def links(self) -> LinkResult:
        """Car→plate links: the data set's own, completed where a plate has none (in memory only)."""
        if self._links is None:
            from svmlp.links import link_plates

            # the linked copy is checked like any new data set; one read leniently may break the
            # model's rules, and its findings are already recorded (ds.read_issues)
            self._links = link_plates(
                self.ds,
                min_inside=float(self.config["min_inside"]),
                max_plates=int(self.config["max_plates"]),
                strict=False,
            )
        return self._links

    def where(self, image: int, box: int = -1) -> str:
        ds = self.ds
        text = f"{ds.images.split[image]}/{ds.images.file_name[image]}"
        if box < 0:
            return text
        cat = ds.categories[int(ds.boxes.category[box])].name
        return f"{text} box id {int(ds.boxes.id[box])} ({cat})"

    def sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """Width and height of each box's image, per box row."""
        im, b = self.ds.images, self.ds.boxes
        return im.width[b.image].astype(np.float64), im.height[b.image].astype(np.float64)
