"""Which image each VOC annotation file labels, and the images no file labels.

``<filename>`` is often stale: augmented copies keep the original's name (``photo12_aug1.xml``
says ``<filename>photo12.png</filename>``). The rule: the image ``<filename>`` (or ``<path>``)
names, if it exists; otherwise the XML's own stem with an image suffix; and where several XML
files name one image while their own stems are distinct images, each takes its own. Two annotation
files never silently share an image: what the rule cannot part is a complaint naming both files.
Images that no annotation file labels are unlabelled images, counted in a note, never dropped.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svmlp.errors import AnnotationError
from svmlp.formats._layout import DEFAULT_SPLIT
from svmlp.formats._voc_layout import ImageIndex, Part
from svmlp.formats._voc_parse import Parsed
from svmlp.model import sort_splits
from svmlp.model.paths import check_file_name, names_ok
from svmlp.model.strictness import Findings

__all__ = ["UNLISTED_SPLIT", "Key", "Record", "assign_splits", "name_images", "records", "unlabelled"]

UNLISTED_SPLIT = "unlisted"


@dataclass(frozen=True)
class Record:
    """One image: its split, file name (relative to its part's image folder), the parsed XML that
    labels it (None: unlabelled) and the part it was found in."""

    split: str
    file_name: str
    parsed: Parsed | None
    part: Part


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def assign_splits(
    xmls: dict[str, Path], lists: dict[str, list[tuple[str, int]]], part: Part
) -> dict[str, str]:
    """Split of every XML stem and list entry: the split folder's, the list's, or the default."""
    if part.split is not None:
        return dict.fromkeys(xmls, part.split)
    split_of: dict[str, str] = {}
    for split in sort_splits(lists):
        for stem, lineno in lists[split]:
            if stem in split_of and split_of[stem] != split:
                listed = part.sets / f"{split}.txt" if part.sets else Path(f"{split}.txt")
                raise AnnotationError(
                    f"{listed}:{lineno}: {stem!r} is also listed in {split_of[stem]}.txt; "
                    "an image belongs to one split"
                )
            split_of[stem] = split
    fallback = UNLISTED_SPLIT if lists else DEFAULT_SPLIT
    for stem in xmls:
        split_of.setdefault(stem, fallback)
    return split_of


#: an annotation file: (its part, its stem relative to the part's annotation folder)
Key = tuple[int, str]


def name_images(
    parsed: dict[Key, Parsed], index: ImageIndex, split_of: dict[Key, str], findings: Findings
) -> list[str]:
    """Set ``file_name`` on every parsed file of the parts that share ``index``'s image folder
    (all at once: two files of two splits may name one image); returns notes on what was found
    elsewhere than the files say."""
    given = {
        key: [_join(posixpath.dirname(key[1]), n) for n in (p.named, p.path_named) if n]
        for key, p in parsed.items()
    }
    if not names_ok([name for names in given.values() for name in names]):
        for key, names in given.items():  # a name that breaks the path rule is an error, not a miss
            for name in names:
                check_file_name(name, where=str(parsed[key].path))
    named: dict[Key, str | None] = {}
    for key, p in parsed.items():
        stem = key[1]
        hit = None
        if index.folder is not None:
            hit = next((h for n in given[key] if (h := index.lookup(n))), None)
        named[key] = hit
        fallback = _join(posixpath.dirname(stem), p.named) if p.named else f"{stem}.jpg"
        p.file_name = hit or index.by_stem(stem) or fallback
    _part_shared(parsed, index)
    _refuse_shared(parsed, split_of, findings)
    return _notes(parsed, named, index)


def _groups(parsed: dict[Key, Parsed]) -> list[list[Key]]:
    by_image: dict[str, list[Key]] = defaultdict(list)
    for key, p in parsed.items():
        by_image[p.file_name].append(key)
    return [keys for keys in by_image.values() if len(keys) > 1]


def _part_shared(parsed: dict[Key, Parsed], index: ImageIndex) -> None:
    """Files that name one image while their own stems are distinct images take their own."""
    for keys in _groups(parsed):
        own = [index.by_stem(key[1]) for key in keys]
        if all(own) and len(set(own)) == len(own):
            for key, name in zip(keys, own):
                parsed[key].file_name = str(name)


def _refuse_shared(parsed: dict[Key, Parsed], split_of: dict[Key, str], findings: Findings) -> None:
    for keys in _groups(parsed):
        first, second = parsed[keys[0]], parsed[keys[1]]
        splits = sort_splits({split_of[key] for key in keys})
        more = f" (and {len(keys) - 2} more)" if len(keys) > 2 else ""
        across = f", in splits {' and '.join(splits)}" if len(splits) > 1 else ""
        findings.complain(
            "duplicate_file",
            f"{second.path}: labels image {first.file_name!r}, as {first.path} does{more}{across}; "
            "two annotation files cannot share one image: give each its own image (or <filename>), "
            "or remove the copy",
        )


def _notes(parsed: dict[Key, Parsed], named: dict[Key, str | None], index: ImageIndex) -> list[str]:
    notes = []
    found = [
        key
        for key, p in parsed.items()
        if (p.named or p.path_named) and p.file_name != named[key] and p.file_name in index
    ]
    if found:
        p = parsed[found[0]]
        notes.append(
            f"{len(found)} image(s) found by their annotation file's own name, not its <filename>, "
            "which names a missing image or one that other annotation files label (augmented "
            f"copies keep the original's name): e.g. {p.path} says {p.named or p.path_named!r}, "
            f"read as labelling {p.file_name!r}"
        )
    kept = [key for key, p in parsed.items() if named[key] is not None and p.file_name == named[key]]
    kept = [key for key in kept if index.by_stem(key[1]) not in (None, parsed[key].file_name)]
    if kept:
        p = parsed[kept[0]]
        notes.append(
            f"{len(kept)} annotation file(s) label the image their <filename> names although an image of "
            f"their own name exists too: e.g. {p.path} labels {p.file_name!r}, not "
            f"{index.by_stem(kept[0][1])!r} (that one is read as unlabelled unless another file labels it)"
        )
    return notes


def records(
    part: Part,
    parsed: dict[str, Parsed],
    split_of: dict[str, str],
    known: dict[tuple[str, str], Any],
    index: ImageIndex,
) -> list[Record]:
    """(split, file name, parsed XML or None) of the images of ``part`` that an XML file labels or a
    split list names, in split order, and those the sidecar keeps as never annotated."""
    by_stem = {(s, posixpath.splitext(k)[0]): e for (s, k), e in known.items()}
    out: list[Record] = []
    for stem, split in split_of.items():
        p = parsed.get(stem)
        if p is not None:
            out.append(Record(split, p.file_name, p, part))
            continue
        entry = by_stem.get((split, stem))
        name = entry.file_name if entry else index.by_stem(stem)
        if name is None:
            listed = part.sets / f"{split}.txt" if part.sets else split
            raise AnnotationError(f"{listed}: {stem!r} has neither an annotation file nor an image")
        out.append(Record(split, name, None, part))
    claimed = {r.file_name for r in out}
    for (split, name), entry in known.items():
        if not entry.labelled and name not in claimed:  # svmlp wrote it: never annotated
            out.append(Record(split, name, None, part))
            claimed.add(name)
    return out


def unlabelled(
    index: ImageIndex, claimed: set[str], split: str, part: Part
) -> tuple[list[Record], list[str]]:
    """The images in ``index`` that no record claims, as unlabelled images of ``split``, and a note."""
    found = sorted(index.names - claimed)
    if not found:
        return [], []
    carried = found if names_ok(found) else [n for n in found if names_ok([n])]
    notes = []
    if carried:
        said = f" (split {split})" if split != DEFAULT_SPLIT else ""
        notes.append(
            f"{len(carried)} image(s) in {index.folder} have no annotation file: read as unlabelled "
            f"images{said}, e.g. {carried[0]!r}"
        )
    if len(carried) < len(found):
        bad = sorted(set(found) - set(carried))
        notes.append(
            f"{len(bad)} image file(s) in {index.folder} with no annotation file have names svmlp cannot "
            f"carry (e.g. {bad[0]!r}): left out"
        )
    return [Record(split, name, None, part) for name in carried], notes
