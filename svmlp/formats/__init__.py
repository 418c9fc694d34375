"""Readers and writers, one module per format, registered in :data:`FORMATS`.

``convert`` is ``write(read(src))``: there is no format-to-format code.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from svmlp._files import open_regular_file
from svmlp.errors import AnnotationError, UsageError
from svmlp.formats._images import IMAGE_MODES, place_images
from svmlp.formats._layout import atomic_output_dir
from svmlp.formats._lenient import lenient
from svmlp.model import Dataset

__all__ = ["FORMATS", "IMAGE_MODES", "WriteReport", "convert", "detect", "read", "write"]

#: Format name → module. Each module has ``read(path, **options)``, ``write(ds, folder)`` and
#: ``image_destination(split, file_name)``.
FORMATS: dict[str, str] = {
    "svmlp": "svmlp.formats.native",
    "coco": "svmlp.formats.coco",
    "yolo": "svmlp.formats.yolo",
    "voc": "svmlp.formats.voc",
}


def _module(name: str) -> ModuleType:
    if name not in FORMATS:
        raise UsageError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def _json_kind(path: Path) -> str | None:
    try:
        with open_regular_file(path) as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b'"svmlp"' in head or path.name.endswith(".svmlp.json"):
        return "svmlp"
    if head.lstrip()[:1] == b"{":
        return "coco"
    return None


def detect(path: str | Path) -> str:
    """The format of a file or folder, from its layout; raises when nothing fits."""
    p = Path(path)
    if p.is_file():
        if p.suffix == ".json":
            kind = _json_kind(p)
            if kind:
                return kind
        if p.suffix in (".yaml", ".yml", ".data"):
            return "yolo"
        if p.suffix == ".xml":
            return "voc"
        raise AnnotationError(f"{p}: cannot tell its format from its name; pass --from")
    if not p.is_dir():
        raise AnnotationError(f"{p}: no such file or folder")
    ann = p / "annotations"
    if list(p.glob("*.svmlp.json")) or (ann.is_dir() and list(ann.glob("*.svmlp.json"))):
        return "svmlp"
    voc_xml = (p / "Annotations").is_dir() and next((p / "Annotations").rglob("*.xml"), None)
    if voc_xml or (p / "ImageSets" / "Main").is_dir() or next(p.glob("*.xml"), None):
        return "voc"
    yaml_names = ("data.yaml", "dataset.yaml", "data.yml", "obj.data", "obj.names")
    if any((p / n).is_file() for n in yaml_names) or list(p.glob("*.yaml")):
        return "yolo"
    if (
        (ann.is_dir() and list(ann.glob("*.json")))
        or list(p.glob("*.json"))
        or list(p.glob("*/_annotations.coco.json"))
    ):
        return "coco"
    if (p / "labels").is_dir():
        return "yolo"
    raise AnnotationError(
        f"{p}: cannot tell the format (no *.svmlp.json, COCO *.json, YOLO data.yaml/obj.names, "
        "or VOC Annotations/ found); pass --from"
    )


def read(path: str | Path, *, format: str | None = None, strict: bool = True, **options: Any) -> Dataset:
    """Read a data set in any registered format (detected when ``format`` is None).

    ``strict=False`` reads what can be read past duplicate ids, impossible boxes, label files with
    no image and a data set that breaks the model's rules; what was found is in ``ds.read_issues``
    as (check, message) pairs. The audit reads this way.

    >>> from svmlp.formats import read  # doctest: +SKIP
    >>> ds = read("data/plates", format="yolo")  # doctest: +SKIP
    """
    name = format or detect(path)
    if strict:
        return _module(name).read(path, **options)
    with lenient() as found:
        ds = _module(name).read(path, **options)
    ds.read_issues = found
    return ds


@dataclass
class WriteReport:
    """What a write produced, for the command line's summary."""

    format: str
    out: Path
    images: int
    boxes: int
    links: int
    images_placed: int
    splits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        per_split = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        out = [
            f"wrote {self.format} to {self.out}: {self.images} images ({per_split}), "
            f"{self.boxes} boxes, {self.links} car-plate links, {self.images_placed} image files"
        ]
        return out + [f"note: {n}" for n in self.notes]

    def to_json(self) -> str:
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        return json.dumps(d, indent=2)


def write(
    ds: Dataset,
    out: str | Path,
    *,
    format: str,
    overwrite: bool = False,
    images: str = "copy",
    splits: list[str] | None = None,
) -> WriteReport:
    """Write ``ds`` to the folder ``out`` in ``format``, all at once or not at all.

    ``images``: ``copy`` (default), ``hardlink``, ``symlink``, or ``none`` (labels only).
    ``splits``: only these splits. ``out`` must be empty or missing unless ``overwrite``.
    """
    module = _module(format)
    if images not in IMAGE_MODES:
        raise UsageError(f"images mode {images!r}: expected one of {', '.join(IMAGE_MODES)}")
    _refuse_own_source(ds, Path(out))  # names were checked when the data set was built; each
    # destination the writers join is checked again (check_destinations), so none is checked twice here
    if splits:
        ds = ds.split(*splits)
    cleaned: list[str] = []  # work folders a killed run left beside out, removed under the lock
    # beside an output inside the data set, "left-over work folders" may be the data's own files
    inside = ds.inputs.report_conflict(Path(out).absolute().parent) is not None
    with atomic_output_dir(out, overwrite=overwrite, notes=cleaned, keep_leftovers=inside) as tmp:
        notes = module.write(ds, tmp)
        placed = place_images(ds, tmp, module.image_destination, images)
    names, counts = np.unique(ds.images.split, return_counts=True)
    split_counts = dict(zip(names.tolist(), counts.tolist()))
    return WriteReport(
        format=format,
        out=Path(out),
        images=len(ds.images),
        boxes=len(ds.boxes),
        links=int((ds.boxes.parent >= 0).sum()),
        images_placed=placed,
        splits={s: split_counts[s] for s in ds.splits},
        notes=[*cleaned, *notes],
    )


def _refuse_own_source(ds: Dataset, out: Path) -> None:
    """An output folder that is, holds or lies inside what the data set was read from would
    replace the user's files (``--overwrite``) or mix into them."""
    conflict = ds.inputs.output_conflict(out)
    if conflict is not None:
        raise UsageError(f"{out}: {conflict}; choose an output folder outside the source")


def convert(
    src: str | Path,
    out: str | Path,
    *,
    to: str,
    from_: str | None = None,
    read_options: dict[str, Any] | None = None,
    **write_options: Any,
) -> WriteReport:
    """``write(read(src), out)``."""
    return write(read(src, format=from_, **(read_options or {})), out, format=to, **write_options)
