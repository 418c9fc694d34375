"""Where a VOC data set keeps its files, as people have them.

- the devkit: ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``, at the top or
  nested as ``VOC2007/`` or ``VOCdevkit/VOC2007/``;
- Kaggle's layout: ``annotations/*.xml`` beside ``images/`` (either case, or beside ``JPEGImages/``);
- Roboflow's VOC export: split folders (``train/``, ``valid/``, ``test/``), each holding its XML
  files and images, or a layout above of its own;
- a flat folder of XML files with the images beside them.

Images are looked up in one listing of the image folder (:class:`ImageIndex`), never beside the XML
files unless that is where they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from svmlp._files import LinkGuard, walk
from svmlp.errors import AnnotationError, where
from svmlp.formats._layout import CONFIG_LIMIT, infer_split, is_image, list_files, read_text, walk_files
from svmlp.model.paths import check_file_name, check_split_name

__all__ = ["ANNOTATION_FOLDERS", "ImageIndex", "Layout", "Part", "find_layout", "sniff_reason", "split_lists"]

ANNOTATION_FOLDERS = ("Annotations", "annotations")
IMAGE_FOLDERS = ("JPEGImages", "images", "Images")
#: split folder names that say "validation" the long way; Roboflow names its split ``valid``
_SPLIT_NAMES = {"valid": "val", "validation": "val"}
#: the image suffixes tried first for an XML's stem, in this order (then any other, sorted)
_PREFERRED = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


@dataclass(frozen=True)
class Part:
    """One folder of XML files and where its images and split lists are.

    ``split``: the split of a split folder (Roboflow), None when the lists or the default decide."""

    annotations: Path | None
    images: Path | None
    sets: Path | None
    split: str | None = None


@dataclass(frozen=True)
class Layout:
    """``base``: where ``svmlp.sidecar.json`` and ``labelmap.txt`` live; ``parts``: one, or one per
    split folder."""

    base: Path
    parts: list[Part] = field(default_factory=list)


def _folder(path: Path, names: tuple[str, ...]) -> Path | None:
    return next((path / n for n in names if (path / n).is_dir()), None)


def _holds_xml(folder: Path, *, deep: bool = False) -> bool:
    """Whether ``folder`` (or, ``deep``, any folder below it) holds a ``*.xml`` file; walked without
    recursion and without following links to folders (a tree a thousand folders deep is data too)."""
    for _, _, files in walk(folder):
        if any(f.endswith(".xml") for f in files):
            return True
        if not deep:
            break
    return False


def _devkit_root(path: Path) -> Path:
    """``path`` itself, or the one ``VOC*/`` tree below it (through ``VOCdevkit/``)."""
    if _folder(path, ANNOTATION_FOLDERS) or (path / "ImageSets" / "Main").is_dir():
        return path
    if (path / "VOCdevkit").is_dir():
        path = path / "VOCdevkit"
    nested = sorted(
        d
        for d in path.glob("VOC*")
        if d.is_dir() and (_folder(d, ANNOTATION_FOLDERS) or (d / "ImageSets" / "Main").is_dir())
    )
    if len(nested) > 1:
        raise AnnotationError(
            f"{path}: holds {len(nested)} VOC trees ({', '.join(d.name for d in nested)}); "
            f"read one at a time (e.g. {nested[0]})"
        )
    return nested[0] if nested else path


def _holds_voc(folder: Path) -> bool:
    """XML files in ``folder`` itself or in an annotation folder of its own (Kaggle's, the
    devkit's), or a ``VOCdevkit/`` tree in it."""
    if _holds_xml(folder) or (folder / "VOCdevkit").is_dir():
        return True
    annotations = _folder(folder, ANNOTATION_FOLDERS)
    return annotations is not None and _holds_xml(annotations, deep=True)


def _split_folders(path: Path) -> list[Path]:
    """Sub-folders holding VOC files, when at least one of them is named as a split (those are
    looked into first: a COCO or YOLO root's big image folders are listed only when named so)."""
    try:
        subs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return []
    if not any(_holds_voc(d) for d in subs if infer_split(d.name)):
        return []
    return [d for d in subs if _holds_voc(d)]


def split_name(folder: Path) -> str:
    """The split a split folder holds: ``valid`` → ``val``; a name that is no split is kept as is."""
    guess = infer_split(folder.name)
    name = _SPLIT_NAMES.get(guess, guess) if guess else folder.name
    return check_split_name(name, where=str(folder))


def _part(path: Path, split: str | None = None) -> Part:
    annotations = _folder(path, ANNOTATION_FOLDERS)
    sets = path / "ImageSets" / "Main"
    sets_dir = sets if sets.is_dir() else None
    images = _folder(path, IMAGE_FOLDERS)
    if annotations is None and sets_dir is None:  # a flat folder: XML files, images beside or in images/
        return Part(path, images if images is not None and not _holds_images(path) else path, None, split)
    if images is None and annotations is not None and _holds_images(annotations):
        images = annotations  # no image folder, the images lie with the XML files
    # a split folder's own lists are not read: the folder says the split
    return Part(annotations, images, sets_dir if split is None else None, split)


def _holds_images(folder: Path) -> bool:
    return any(is_image(p) for p in list_files(folder))


def find_layout(path: Path) -> Layout:
    """The layout of the folder ``path`` (see the module's description)."""
    if path.is_file():
        raise AnnotationError(
            f"{path}: VOC is read a folder at a time; give svmlp the folder that holds it ({path.parent})"
        )
    if not path.is_dir():
        raise AnnotationError(f"{path}: no such folder")
    base = _devkit_root(path)
    splits = _split_folders(base)
    top = _folder(base, ANNOTATION_FOLDERS)
    if splits and (top is not None or _holds_xml(base)):
        _refuse_both(base, f"{top.name}/" if top is not None else "*.xml files", splits)
    if splits:
        parts = [_part(_devkit_root(d), split_name(d)) for d in splits]
    else:
        part = _part(base)
        parts = _split_annotations(part) or [part]
    seen: dict[str, Part] = {}
    for part in parts:
        if part.split is not None and part.split in seen:
            raise AnnotationError(
                f"{base}: the folders {seen[part.split].annotations} and {part.annotations} both hold "
                f"split {part.split}; merge them or read one at a time"
            )
        seen[str(part.split)] = part
    return Layout(base, parts)


def _refuse_both(folder: Path, held: str, splits: list[Path]) -> None:
    raise AnnotationError(
        f"{folder}: holds {held} and split folders with VOC files too "
        f"({', '.join(d.name + '/' for d in splits)}); svmlp will not guess which images belong to "
        f"which split: read one of them (e.g. {splits[0]}), or move the loose files into a split folder"
    )


def _split_annotations(part: Part) -> list[Part]:
    """``annotations/train/``, ``annotations/val/`` (with ``images/train/`` … or one ``images/``):
    one part per split, so that no split's files are read as another's."""
    if part.sets is not None or part.annotations is None or part.annotations == part.images:
        return []
    subs = _split_folders(part.annotations)
    if not subs:
        return []
    if _holds_xml(part.annotations):
        _refuse_both(part.annotations, "*.xml files", subs)
    images = part.images
    return [
        Part(
            d,
            images / d.name if images is not None and (images / d.name).is_dir() else images,
            None,
            split_name(d),
        )
        for d in subs
    ]


def sniff_reason(path: Path) -> str | None:
    """Why the folder ``path`` looks like VOC, or None."""
    for name in ANNOTATION_FOLDERS:
        if (path / name).is_dir() and _holds_xml(path / name, deep=True):
            return f"{name}/ holds *.xml files"
    if (path / "ImageSets" / "Main").is_dir():
        return "it holds ImageSets/Main/"
    if _holds_xml(path):
        return "it holds *.xml files"
    try:
        nested = _devkit_root(path)
    except AnnotationError:  # several devkit trees: still VOC (reading says which to choose)
        return "it holds VOC devkit trees"
    if nested != path:
        return f"it holds a VOC devkit tree ({nested.relative_to(path).as_posix()}/)"
    splits = _split_folders(path)
    if splits:
        return (
            f"its split folders hold VOC files ({', '.join(d.name + '/' for d in splits)}; Roboflow's export)"
        )
    return None


def split_lists(sets: Path | None, bound: Path) -> dict[str, list[tuple[str, int]]]:
    """``ImageSets/Main/<split>.txt``: split → (entry, line number), per-class lists left out."""
    if sets is None:
        return {}
    out: dict[str, list[tuple[str, int]]] = {}
    guard = LinkGuard([bound])
    for p in list_files(sets, (".txt",)):
        guard.check(p, what="image set list")
        lines = [
            (ln.strip(), k)
            for k, ln in enumerate(read_text(p, limit=CONFIG_LIMIT, what="image set list").splitlines(), 1)
        ]
        entries = [(ln, k) for ln, k in lines if ln and not ln.startswith("#")]
        if "_" in p.stem and entries and _is_class_row(entries[0][0]):
            continue  # a per-class list ("cat_train.txt": "2007_000001  1"), not a split
        check_split_name(p.stem, where=str(p))
        for stem, k in entries:  # each becomes a path: checked before it is joined to a folder
            check_file_name(stem, where=where(p, k), what="image set entry")
        out[p.stem] = entries  # the whole line: file names may hold spaces
    if "trainval" in out and "train" in out and "val" in out:
        del out["trainval"]  # the union of the two; keeping it would put images in two splits
    return out


def _is_class_row(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and parts[1] in ("-1", "0", "1")


class ImageIndex:
    """The image files under one folder (names relative to it), listed once: every lookup of an
    XML's image is a set lookup, not a file-system call."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        names: list[str] = []
        if folder is not None and folder.is_dir():
            cut = len(os.fspath(folder)) + 1
            names = [os.fspath(p)[cut:].replace(os.sep, "/") for p in walk_files(folder, match=is_image)]
        self.names = set(names)
        self._stems: dict[str, list[str]] = {}
        for name in sorted(names):
            self._stems.setdefault(os.path.splitext(name)[0], []).append(name)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def by_stem(self, stem: str) -> str | None:
        """The image named ``stem`` plus an image suffix (``.jpg`` first), or None."""
        found = self._stems.get(stem)
        if not found:
            return None
        return next((stem + s for s in _PREFERRED if stem + s in self.names), found[0])

    def lookup(self, name: str) -> str | None:
        """``name`` (checked by the path rule already) when it is an image here, or ``name`` plus a
        suffix when it has none."""
        if name in self.names:
            return name
        return None if is_image(name) else self.by_stem(name)
