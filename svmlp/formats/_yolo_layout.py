"""Find a YOLO data set's class names and each split's images.

Understands the ultralytics ``data.yaml`` (``names`` as a list or a dict; split entries that are
folders, ``.txt`` image lists, or lists of those; a ``path`` key), darknet's ``obj.data`` /
``obj.names`` / ``train.txt``, and a loose ``obj.names`` beside ``images/`` and ``labels/``.
Paths written on another machine are looked up relative to the config file (see
:func:`~svmlp.formats._layout.resolve_moved`), and each such repair is reported as a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from svmlp.errors import AnnotationError, where
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, is_image, read_text, resolve_moved

__all__ = ["SplitSource", "YoloLayout", "find_layout", "label_path_candidates"]

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


@dataclass
class YoloLayout:
    base: Path
    config: Path | None
    names: list[str] | None
    splits: dict[str, SplitSource]
    notes: list[str] = field(default_factory=list)


def _images_under(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found.extend(Path(dirpath) / f for f in sorted(filenames) if is_image(f))
    return found


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


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise AnnotationError(
            f"{where(path, line)}: malformed YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise AnnotationError(
            f"{path}: expected a mapping with 'names' and split paths, found {type(data).__name__}"
        )
    return data


def _names_from_yaml(path: Path, data: dict[str, Any]) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise AnnotationError(f"{path}: 'names' keys must be class indices 0, 1, ...") from None
        if keys != list(range(len(keys))):
            raise AnnotationError(
                f"{path}: 'names' keys must be 0..{len(keys) - 1} without gaps, found {keys}"
            )
        out = [str(names[k] if k in names else names[str(k)]) for k in keys]
    elif isinstance(names, list):
        out = [str(n) for n in names]
    else:
        raise AnnotationError(f"{path}: 'names' must be a list or a mapping of class index to name")
    nc = data.get("nc")
    if nc is not None and nc != len(out):
        raise AnnotationError(f"{path}: nc is {nc} but 'names' has {len(out)} entries")
    return out


def _resolve(text: str, base: Path, config: Path, key: str, notes: list[str]) -> Path | None:
    found = resolve_moved(text, base)
    direct = Path(text) if Path(text).is_absolute() else base / text
    if found is not None and found != direct:
        notes.append(f"{config.name}: {key} path {text!r} does not exist; using {found}")
    return found


def _split_from_entries(
    entries: list[str], base: Path, config: Path, key: str, notes: list[str]
) -> SplitSource:
    roots, images, label_dirs = [], [], []
    for text in entries:
        p = _resolve(str(text), base, config, key, notes)
        if p is None:
            raise AnnotationError(
                f"{config}: {key} path {text!r} was not found, as given or relative to {base}; fix the path in the file"
            )
        if p.is_dir():
            roots.append(p)
            images.extend(_images_under(p))
            if (d := _labels_dir_of(p)) is not None:
                label_dirs.append(d)
        else:
            roots.append(base)
            images.extend(_image_list(p, base, notes))
    root = roots[0] if len(set(roots)) == 1 else base
    return SplitSource(root, images, label_dirs)


def _image_list(txt: Path, base: Path, notes: list[str]) -> list[Path]:
    out, unresolved = [], 0
    for lineno, line in enumerate(read_text(txt).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = resolve_moved(line, txt.parent) or resolve_moved(line, base)
        if found is None:
            raise AnnotationError(
                f"{where(txt, lineno)}: image {line!r} not found, as given or relative to {base}"
            )
        out.append(found)
        unresolved += found != (txt.parent / line)
    if unresolved:
        notes.append(
            f"{txt.name}: {unresolved} image path(s) did not exist as written; found them under {base}"
        )
    return out


def _from_yaml(config: Path) -> YoloLayout:
    data = _read_yaml(config)
    names = _names_from_yaml(config, data)
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


def _read_names(path: Path) -> list[str]:
    return [n.strip() for n in read_text(path).splitlines() if n.strip()]


def _from_darknet(obj_data: Path) -> YoloLayout:
    base, notes = obj_data.parent, []
    entries: dict[str, str] = {}
    for lineno, line in enumerate(read_text(obj_data).splitlines(), 1):
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
    return YoloLayout(base, obj_data, _read_names(names_file), splits, notes)


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
        if (d := _labels_dir_of(src.root)) is not None:
            src.label_dirs.append(d)
    return YoloLayout(folder, None, names, splits, [])


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
        if "names" in _read_yaml(cand):
            return _from_yaml(cand)
    if (path / "obj.data").is_file():
        return _from_darknet(path / "obj.data")
    names_file = path / "obj.names"
    return _from_loose(path, _read_names(names_file) if names_file.is_file() else None)
