"""The registered formats' names and modules, and the image modes: what the command line lists
in ``--help`` without importing the formats (and numpy) themselves."""

from __future__ import annotations

__all__ = ["FORMAT_MODULES", "IMAGE_MODES", "READ_ONLY", "writable"]

#: format name → the module that implements it, in the order formats are listed
FORMAT_MODULES = {
    "svmlp": "svmlp.formats.native",
    "coco": "svmlp.formats.coco",
    "yolo": "svmlp.formats.yolo",
    "yolo-obb": "svmlp.formats.yolo_obb",
    "dota": "svmlp.formats.dota",
    "voc": "svmlp.formats.voc",
    "cvat": "svmlp.formats.cvat",
    "label-studio": "svmlp.formats.labelstudio",
    "labelme": "svmlp.formats.labelme",
    "ufpr": "svmlp.formats.ufpr",
    "openalpr": "svmlp.formats.openalpr",
    "openimages": "svmlp.formats.openimages",
    "ccpd": "svmlp.formats.ccpd",
}
#: formats read but never written (the plate benchmarks)
READ_ONLY = frozenset({"ufpr", "openalpr", "openimages", "ccpd"})
#: how image files reach a written data set
IMAGE_MODES = ("copy", "hardlink", "symlink", "none")


def writable() -> list[str]:
    """The formats svmlp writes, in order."""
    return [n for n in FORMAT_MODULES if n not in READ_ONLY]
