"""Readers and writers, one module per format, registered in :data:`FORMATS`.

``convert`` is ``write(read(src))``: there is no format-to-format code. Each format module is a
:class:`FormatPlugin` (``read``, ``write``, ``image_destination``, ``sniff`` and what a round
trip keeps); the registry, auto-detection, the command line and the tests all read
:data:`FORMATS`, so a new format is one module and one line there.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from svmlp._formatnames import FORMAT_MODULES, IMAGE_MODES, READ_ONLY
from svmlp.errors import AnnotationError, UsageError
from svmlp.formats._images import place_images
from svmlp.formats._layout import atomic_output_dir
from svmlp.formats._plugin import FormatPlugin, RoundTrip, Sniff
from svmlp.formats._survey import LayoutError, Survey, survey
from svmlp.model import Dataset
from svmlp.model.strictness import STRICT, Findings

__all__ = [
    "FORMATS",
    "IMAGE_MODES",
    "FormatPlugin",
    "Registry",
    "RoundTrip",
    "Sniff",
    "WriteReport",
    "convert",
    "detect",
    "read",
    "write",
]


class Registry(Mapping[str, FormatPlugin]):
    """Format name → plugin module, in the order formats are listed (``--from``/``--to``, errors).

    A module is imported on first use, so that ``import svmlp.formats`` (and the command line's
    start) does not load every reader's dependencies.

    >>> from svmlp.formats import FORMATS
    >>> list(FORMATS)  # doctest: +NORMALIZE_WHITESPACE
    ['svmlp', 'coco', 'yolo', 'yolo-obb', 'dota', 'voc', 'cvat', 'label-studio', 'labelme',
     'ufpr', 'openalpr', 'openimages', 'ccpd']
    >>> FORMATS.writable()[-1]
    'labelme'
    >>> FORMATS["voc"].ROUND_TRIP.tolerance
    0.5
    """

    def __init__(self, modules: Mapping[str, str], *, read_only: frozenset[str] = frozenset()) -> None:
        self._modules = dict(modules)
        #: formats read but never written (the plate benchmarks); their plugins say ``WRITES = False``
        self._read_only = read_only

    def __getitem__(self, name: str) -> FormatPlugin:
        return cast(FormatPlugin, importlib.import_module(self._modules[name]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return f"Registry({self._modules!r})"

    def plugin(self, name: str) -> FormatPlugin:
        """The plugin of ``name``; an unknown name is a :class:`UsageError` listing the known ones."""
        if name not in self._modules:
            raise UsageError(f"unknown format {name!r}; expected one of {', '.join(self)}")
        return self[name]

    def writable(self) -> list[str]:
        """The formats svmlp writes (``--to``): every one but the read-only benchmarks (named in
        the registry, so that listing imports nothing; their plugins say ``WRITES = False``)."""
        return [n for n in self if n not in self._read_only]

    def by_priority(self) -> list[FormatPlugin]:
        """Every plugin, in the order :func:`detect` asks them (lowest ``PRIORITY`` first)."""
        return sorted(self.values(), key=lambda p: p.PRIORITY)


#: the registered formats: name → the module that implements it (a :class:`FormatPlugin`)
FORMATS = Registry(FORMAT_MODULES, read_only=READ_ONLY)


def detect(path: str | Path) -> str:
    """The format of a file or folder, from its layout; raises when nothing fits.

    Each registered format's ``sniff`` is asked in ``PRIORITY`` order and the first strong sign
    wins; a weak one (a bare ``labels/`` folder) counts only when no format finds a strong one.
    When nothing fits, or what fits by name is something else by content (a CVAT ``*.xml`` in
    a folder VOC would take), the error lists what was seen (:mod:`svmlp.formats._survey`) and
    names ``--from`` (:func:`read` words it for Python, with ``format=``).

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (pathlib.Path(tmp) / "data.yaml").write_text("names: [car, plate]")
    ...     print(detect(tmp), "because", FORMATS["yolo"].sniff(pathlib.Path(tmp)).why)
    yolo because it holds data.yaml
    """
    return _detect(Path(path), cli=True)


#: formats whose sniff goes by file names that other tools use too (``*.xml``, ``*.json``), and
#: the kinds of content (:mod:`svmlp.formats._peek`) that are theirs
_CONTENT = {"voc": ("voc", "unreadable"), "coco": ("coco", "coco?", "svmlp", "unreadable")}


def _detect(p: Path, *, cli: bool) -> str:
    if not p.is_file() and not p.is_dir():
        raise AnnotationError(f"{p}: no such file or folder")
    weak: str | None = None
    for plugin in FORMATS.by_priority():
        sniffed = plugin.sniff(p)
        if sniffed is not None and not sniffed.weak:
            if plugin.NAME in _CONTENT:  # a folder of CVAT XML is not VOC for its *.xml
                seen = survey(p)
                if seen.strong_foreign() and not seen.count(_CONTENT[plugin.NAME]):
                    raise _undetected(p, seen, cli=cli)
            return plugin.NAME
        if sniffed is not None and weak is None:
            weak = plugin.NAME
    if weak is not None:
        return weak
    raise _undetected(p, survey(p), cli=cli)


def _undetected(p: Path, seen: Survey, *, cli: bool) -> LayoutError:
    """No format fits ``p``: what was seen there, in Python's words and the command line's."""
    looked = [plugin.LOOKS_FOR for plugin in FORMATS.values()]
    either = f"{', '.join(looked[:-1])}, or {looked[-1]}" if len(looked) > 1 else looked[0]

    def text(cli: bool) -> str:
        option = "--from" if cli else "format="
        entries = seen.entries(cli=cli, formats=list(FORMATS))
        if p.is_file() and not seen.telling():
            return f"{p}: cannot tell its format from its name; pass {option}"
        if not seen.kinds:
            images = f"; {entries[0]} but no annotation file next to them" if entries else ""
            return f"{p}: cannot tell the format (no {either} found{images}); pass {option}"
        return (
            f"{p}: cannot tell the format: {'; '.join(entries)}. svmlp reads {either}; "
            f"pass {option} to choose one"
        )

    return LayoutError(text(False), text(True), cli_wording=cli)


def read(path: str | Path, *, format: str | None = None, strict: bool = True, **options: Any) -> Dataset:
    """Read a data set in any registered format (detected when ``format`` is None).

    ``strict=False`` reads what can be read past duplicate ids, impossible boxes, label files with
    no image and a data set that breaks the model's rules; what was found is in ``ds.read_issues``
    as (check, message) pairs. The audit reads this way. ``options`` go to the format's reader
    (``probe``; VOC's ``origin``).

    >>> from svmlp.formats import read  # doctest: +SKIP
    >>> ds = read("data/plates", format="yolo")  # doctest: +SKIP
    """
    plugin = FORMATS.plugin(format or _detect(Path(path), cli=False))
    findings = STRICT if strict else Findings(strict=False)
    ds = plugin.read(path, findings=findings, **options)
    if not strict:
        ds.read_issues = findings.found
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
    **options: Any,
) -> WriteReport:
    """Write ``ds`` to the folder ``out`` in ``format``, all at once or not at all.

    ``images``: ``copy`` (default), ``hardlink``, ``symlink``, or ``none`` (labels only).
    ``splits``: only these splits. ``out`` must be empty or missing unless ``overwrite``.
    ``options`` go to the format's ``write`` and ``image_destination`` (VOC's ``layout``); one
    the format does not take is a :class:`~svmlp.errors.UsageError`.
    """
    module = FORMATS.plugin(format)
    if format not in FORMATS.writable() or not getattr(module, "WRITES", True):
        raise UsageError(
            f"svmlp reads {format} but does not write it; write one of {', '.join(FORMATS.writable())}"
        )
    _check_write_options(format, module.write, options)
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
        notes = module.write(ds, tmp, **options)
        destination = (
            functools.partial(module.image_destination, **options) if options else module.image_destination
        )
        placed = place_images(ds, tmp, destination, images)
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


def _check_write_options(format: str, writer: Any, options: dict[str, Any]) -> None:
    """A misspelt or foreign option is one line naming what the format takes, not a TypeError."""
    if not options:
        return
    import inspect

    takes = [
        p.name
        for p in inspect.signature(writer).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise UsageError(
            f"the {format} writer takes no option {', '.join(map(repr, unknown))}"
            f" ({'it takes ' + ', '.join(takes) if takes else 'it takes none'})"
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
