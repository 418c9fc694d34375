"""Find a YOLO data set's class names and each split's images.

Understands the ultralytics ``data.yaml`` (``names`` as a list or a dict; split entries that are
folders, ``.txt`` image lists, or lists of those; a ``path`` key), darknet's ``obj.data`` /
``obj.names`` / ``train.txt``, and a loose names file (``obj.names``, ``classes.txt``) beside
``images/`` and ``labels/``.
Paths written on another machine are looked up relative to the config file (see
:func:`~svmlp.formats._layout.resolve_moved`), and each such repair is reported as a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from svmlp._files import LinkGuard, within
from svmlp.errors import AnnotationError, where
from svmlp.formats._layout import (
    CONFIG_LIMIT,
    DEFAULT_SPLIT,
    infer_split,
    is_image,
    read_text,
    resolve_moved,
    walk_files,
)
from svmlp.formats._yolo_yaml import names_from_yaml, read_names, read_yaml
from svmlp.model import Inputs
from svmlp.model.paths import check_split_name

__all__ = [
    "NAMES_FILES",
    "SplitSource",
    "YoloLayout",
    "find_layout",
    "label_path_candidates",
    "names_file_of",
]

_CONFIG_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
_NOT_SPLITS = {
    "path",
    "download",
    "names",
    "nc",
    "roboflow",
    "kpt_shape",
    "flip_idx",
    "channels",
    "yaml_file",
}
_DARKNET_SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


@dataclass
class SplitSource:
    """One split: the folder its image keys are relative to, and its image files."""

    root: Path
    images: list[Path] = field(default_factory=list)
    label_dirs: list[Path] = field(default_factory=list)
    #: folders searched with everything below them
    walked: list[Path] = field(default_factory=list)
    #: image list files read (``train.txt``)
    lists: list[Path] = field(default_factory=list)


@dataclass
class YoloLayout:
    base: Path
    config: Path | None
    names: list[str] | None
    splits: dict[str, SplitSource]
    notes: list[str] = field(default_factory=list)
    #: files read on the way (names files, image lists), besides the config
    files: list[Path] = field(default_factory=list)

    def inputs(self) -> Inputs:
        """What this layout reads: its files, the folders it walks, the folder it stands in; its
        bounds are the config's folder and the folders the config names outside it."""
        walked = [d for src in self.splits.values() for d in (*src.walked, *src.label_dirs)]
        home = self.config.parent if self.config is not None else self.base
        named = [
            self.base,
            *(src.root for src in self.splits.values()),
            *(d for src in self.splits.values() for d in src.walked),
        ]
        return Inputs.of(
            files=[self.config, *self.files, *(f for src in self.splits.values() for f in src.lists)],
            trees=walked,
            folders=[self.base, *(src.root for src in self.splits.values())],
            bounds=[home, *(_data_set_folder(p) for p in named if not _lexically_inside(p, home))],
        )


def _lexically_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` as written (links not resolved) lies in ``folder``."""
    return within(os.path.abspath(path), os.path.abspath(folder))  # abspath normalises too


def _data_set_folder(path: Path) -> Path:
    """The folder a named image folder belongs to: above its last ``images`` part (which holds
    ``labels/`` too), else the folder itself."""
    parts = Path(os.path.normpath(os.path.abspath(path))).parts
    for name in ("images", "Images", "JPEGImages"):
        if name in parts:
            k = len(parts) - 1 - parts[::-1].index(name)
            return Path(*parts[:k]) if k else path
    return path


def _images_under(folder: Path) -> list[Path]:
    return walk_files(folder, match=is_image)


def label_path_candidates(image: Path) -> list[Path]:
    """Label files an image may have, most likely first (ultralytics' rule first)."""
    parts = image.parts
    out = []
    for src, dst in (
        ("images", "labels"),
        ("Images", "Annotations"),
        ("images", "Annotations"),
        ("JPEGImages", "labels"),
    ):
        if src in parts:
            k = len(parts) - 1 - parts[::-1].index(src)
            out.append(Path(*parts[:k], dst, *parts[k + 1 :]).with_suffix(".txt"))
    out.append(image.with_suffix(".txt"))
    return out


def _labels_dir_of(images_dir: Path) -> Path | None:
    cands = label_path_candidates(images_dir / "x.jpg")
    for c in cands[:-1]:
        if c.parent.is_dir():
            return c.parent
    return None


def _resolve(text: str, base: Path, config: Path, key: str, notes: list[str]) -> Path | None:
    found = resolve_moved(text, base)
    direct = Path(text) if Path(text).is_absolute() else base / text
    if found is not None and found != direct:
        notes.append(f"{config.name}: {key} path {text!r} does not exist; using {found}")
    return found


def _split_from_entries(
    entries: list[str], base: Path, config: Path, key: str, notes: list[str]
) -> SplitSource:
    roots: list[Path] = []
    images: list[Path] = []
    label_dirs: list[Path] = []
    walked: list[Path] = []
    lists: list[Path] = []
    for text in entries:
        p = _resolve(str(text), base, config, key, notes)
        if p is None:
            raise AnnotationError(
                f"{config}: {key} path {text!r} was not found, as given or relative to {base}; fix the path in the file"
            )
        if p.is_dir():
            roots.append(p)
            walked.append(p)
            images.extend(_images_under(p))
            if (d := _labels_dir_of(p)) is not None:
                label_dirs.append(d)
        else:
            lists.append(p)
            listed = _image_list(p, base, notes, config.parent)
            roots.append(_common_root(listed, base))
            images.extend(listed)
    root = roots[0] if len(set(roots)) == 1 else _common_root(images, base)
    return SplitSource(root, images, label_dirs, walked, lists)


def _common_root(images: list[Path], base: Path) -> Path:
    """``base`` when every image lies below it, else the deepest folder holding them all (so that
    each image's key stays a relative path; an image list may name absolute paths)."""
    if all(p.is_relative_to(base) for p in images):
        return base
    return Path(os.path.commonpath([os.path.abspath(p.parent) for p in images]))


def _image_list(txt: Path, base: Path, notes: list[str], config_folder: Path) -> list[Path]:
    out, unresolved = [], 0
    inside = Inputs.of(bounds=[config_folder, txt.parent])
    for lineno, line in enumerate(read_text(txt, limit=1 << 30, what="image list").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = resolve_moved(line, txt.parent) or resolve_moved(line, base)
        if found is None:
            raise AnnotationError(
                f"{where(txt, lineno)}: image {line!r} not found, as given or relative to {base}"
            )
        if not is_image(found.name) or not inside.contains(found):
            why = (
                "is not an image file"
                if not is_image(found.name)
                else f"lies outside the data set (the folders of {txt.name} and of the config)"
            )
            raise AnnotationError(
                f"{where(txt, lineno)}: {line!r} {why}; svmlp reads the images of the data set only"
            )
        out.append(found)
        unresolved += found != (txt.parent / line)
    if unresolved:
        notes.append(
            f"{txt.name}: {unresolved} image path(s) did not exist as written; found them under {base}"
        )
    return out


def _from_yaml(config: Path) -> YoloLayout:
    data = read_yaml(config)
    names = names_from_yaml(config, data)
    notes: list[str] = []
    base = config.parent
    if isinstance(data.get("path"), str) and data["path"].strip():
        base = _resolve(data["path"], config.parent, config, "path", notes) or config.parent
    splits: dict[str, SplitSource] = {}
    guessed: set[str] = set()
    for key, value in data.items():
        if key in _NOT_SPLITS or value is None:
            continue
        entries = value if isinstance(value, list) else [value]
        if not entries or not all(isinstance(e, str) for e in entries):
            continue
        before = len(notes)
        check_split_name(str(key), where=str(config))
        splits[str(key)] = _split_from_entries(entries, base, config, str(key), notes)
        if len(notes) > before:
            guessed.add(str(key))
    _check_guesses(config, splits, guessed)
    if not splits:
        raise AnnotationError(f"{config}: names no split (train:, val:, test: ...) to read images from")
    return YoloLayout(base, config, names, splits, notes)


def _check_guesses(config: Path, splits: dict[str, SplitSource], guessed: set[str]) -> None:
    """A repaired path must not land on another split's images: that would leak one into the other."""
    for key in sorted(guessed):
        mine = set(splits[key].images)
        for other, src in splits.items():
            if other != key and mine and mine & set(src.images):
                raise AnnotationError(
                    f"{config}: {key} path was not found as written, and the nearest folder, {splits[key].root}, "
                    f"holds {other}'s images too; fix the paths in the file"
                )


def _from_darknet(obj_data: Path) -> YoloLayout:
    base = obj_data.parent
    notes: list[str] = []
    entries: dict[str, str] = {}
    for lineno, line in enumerate(
        read_text(obj_data, limit=CONFIG_LIMIT, what="darknet .data file").splitlines(), 1
    ):
        if not line.strip() or line.strip().startswith("#"):
            continue
        if "=" not in line:
            raise AnnotationError(
                f"{where(obj_data, lineno)}: expected 'key = value', found {line.strip()!r}"
            )
        k, v = (s.strip() for s in line.split("=", 1))
        entries[k] = v
    names_file = _resolve(entries.get("names", "obj.names"), base, obj_data, "names", notes)
    if names_file is None:
        raise AnnotationError(f"{obj_data}: names file {entries.get('names', 'obj.names')!r} not found")
    splits = {}
    for key, split in _DARKNET_SPLITS.items():
        if key in entries:
            splits[split] = _split_from_entries([entries[key]], base, obj_data, key, notes)
    return YoloLayout(base, obj_data, read_names(names_file), splits, notes, [names_file])


def _from_loose(folder: Path, names: list[str] | None) -> YoloLayout:
    img_dir = next((folder / d for d in ("images", "Images") if (folder / d).is_dir()), folder)
    splits: dict[str, SplitSource] = {}
    for p in _images_under(img_dir):
        rel = p.relative_to(img_dir).parts
        split = infer_split(rel[0]) if len(rel) > 1 else None
        root = img_dir / rel[0] if split else img_dir
        src = splits.setdefault(split or DEFAULT_SPLIT, SplitSource(root))
        src.images.append(p)
    for src in splits.values():
        src.walked.append(img_dir)
        if (d := _labels_dir_of(src.root)) is not None:
            src.label_dirs.append(d)
    names_file = names_file_of(folder)
    return YoloLayout(folder, None, names, splits, [], [names_file] if names_file is not None else [])


def find_layout(path: Path) -> YoloLayout:
    """Locate the config and the images of each split under ``path`` (a folder or a config file)."""
    if path.is_file():
        if path.name.endswith(".data"):
            return _from_darknet(path)
        if path.suffix in (".yaml", ".yml"):
            return _from_yaml(path)
        raise AnnotationError(f"{path}: expected a data.yaml, an obj.data or a folder")
    if not path.is_dir():
        raise AnnotationError(f"{path}: no such file or folder")
    for name in _CONFIG_NAMES:
        if (path / name).is_file():
            return _from_yaml(path / name)
    for cand in sorted(path.glob("*.y*ml")):
        if "names" in read_yaml(cand):
            return _from_yaml(cand)
    if (path / "obj.data").is_file():
        return _from_darknet(path / "obj.data")
    names_file = names_file_of(path)
    if names_file is not None:  # found by its name, not declared: its lines are quoted as class names
        LinkGuard([path]).check(names_file, what="names file")
    return _from_loose(path, read_names(names_file) if names_file is not None else None)


#: class-names files of a loose layout, where tools put them: darknet's ``obj.names``; the
#: ``classes.txt`` of LabelImg (in its label folder), Label Studio and CVAT (beside ``images/``)
NAMES_FILES = ("obj.names", "classes.txt", "labels/classes.txt", "labels/obj.names")


def names_file_of(folder: Path) -> Path | None:
    """The class-names file of a loose layout in ``folder``, or None."""
    return next((folder / n for n in NAMES_FILES if _not_a_folder(folder / n)), None)


def _not_a_folder(path: Path) -> bool:
    """Something that is not a folder is at ``path``: a FIFO or a dangling link counts (reading it
    says what is wrong, instead of "no class names found")."""
    try:
        return os.path.lexists(path) and not path.is_dir()
    except OSError:
        return False
