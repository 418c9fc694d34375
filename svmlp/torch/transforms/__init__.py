"""Joint image + target transforms that keep boxes and car→plate links right.

Each transform is a callable ``Sample -> Sample`` (see :class:`svmlp.torch.sample.Sample`); random
ones draw only from ``sample.rng``, so a data set seeded by (seed, epoch, index) gives the same
result in any worker. Boxes that leave the picture are dropped, and a plate whose vehicle is
dropped keeps no parent (−1). Nothing here needs torchvision.

>>> from svmlp.torch import transforms as T
>>> T.eval_preset(640)
Compose([Letterbox((640, 640), fill=114, center=True)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from svmlp.torch.sample import Sample
from svmlp.torch.transforms.affine import RandomAffine, RandomZoomCrop
from svmlp.torch.transforms.colour import ColorJitter, RandomHSV
from svmlp.torch.transforms.geometry import HorizontalFlip, Letterbox, Resize
from svmlp.torch.transforms.mosaic import Mosaic

__all__ = [
    "ColorJitter",
    "Compose",
    "HorizontalFlip",
    "Letterbox",
    "Mosaic",
    "RandomAffine",
    "RandomHSV",
    "RandomZoomCrop",
    "Resize",
    "eval_preset",
    "train_preset",
]


class Compose:
    """Apply ``transforms`` in order. ``load_size`` (the longer side images are decoded at) is the
    first one's that has one, so a data set decodes no larger than the pipeline needs."""

    def __init__(self, transforms: Iterable[Callable[[Sample], Sample]]) -> None:
        self.transforms = list(transforms)

    @property
    def load_size(self) -> int | None:
        for t in self.transforms:
            size = getattr(t, "load_size", None)
            if size:
                return int(size)
        return None

    def __call__(self, sample: Sample) -> Sample:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose([{', '.join(map(repr, self.transforms))}])"


def train_preset(
    size: int,
    *,
    mosaic: float = 1.0,
    degrees: float = 0.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.5, 1.5),
    hsv: tuple[float, float, float] = (0.015, 0.7, 0.4),
    flip: float = 0.5,
    min_visible: float = 0.3,
) -> Compose:
    """YOLO-style training augmentation at ``size``: mosaic (probability ``mosaic``), a random
    affine (``degrees``, ``translate``, ``scale``), HSV jitter, a horizontal flip (``flip``),
    letterboxed to ``size``×``size``."""
    return Compose(
        [
            Mosaic(size, p=mosaic, min_visible=min_visible),
            RandomAffine(degrees=degrees, translate=translate, scale=scale, min_visible=min_visible),
            RandomHSV(*hsv),
            HorizontalFlip(flip),
            Letterbox(size),
        ]
    )


def eval_preset(size: int) -> Compose:
    """Evaluation at ``size``: letterboxed, nothing random (``matrix`` maps predictions back)."""
    return Compose([Letterbox(size)])
