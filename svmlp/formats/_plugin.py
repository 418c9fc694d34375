"""What a format module declares so that the registry, auto-detection, the CLI and the tests can
use it without knowing it by name (DESIGN.md §3: a new format is one module and one registry line).

A format module *is* its plugin: its module-level names satisfy :class:`FormatPlugin`, and
:data:`svmlp.formats.FORMATS` maps the format's name to the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from svmlp.model import Dataset
from svmlp.model.strictness import Findings

if TYPE_CHECKING:  # each format module must satisfy the protocol (checked by mypy, never run)
    from svmlp.formats import (
        ccpd,
        coco,
        cvat,
        dota,
        labelme,
        labelstudio,
        native,
        openalpr,
        openimages,
        ufpr,
        voc,
        yolo,
        yolo_obb,
    )

__all__ = ["BOX_ATTRIBUTES", "FormatPlugin", "Reader", "RoundTrip", "Sniff"]

#: the optional box attributes a format may or may not carry; a round trip compares each one a
#: format's :attr:`RoundTrip.keeps` names
BOX_ATTRIBUTES = frozenset(
    {"link_score", "text", "corners", "difficult", "truncated", "occluded", "attributes"}
)


@dataclass(frozen=True)
class Sniff:
    """Why a file or folder looks like a format.

    ``weak``: a sign that other layouts share (a bare ``labels/`` folder); it counts only when no
    format finds a strong one.

    >>> Sniff("holds annotations/*.svmlp.json")
    Sniff(why='holds annotations/*.svmlp.json', weak=False)
    """

    why: str
    weak: bool = False


@dataclass(frozen=True)
class RoundTrip:
    """What writing a data set in a format and reading it back keeps; the round-trip, property
    and conformance tests hold every registered format to its own declaration.

    >>> RoundTrip(tolerance=0.5, unset_as={"difficult": 0}).keeps == BOX_ATTRIBUTES
    True
    """

    #: the largest change of a box coordinate or plate corner, in pixels
    tolerance: float = 0.0
    #: the optional box attributes (of :data:`BOX_ATTRIBUTES`) that come back as written; one left
    #: out is a loss by design, never compared
    keeps: frozenset[str] = BOX_ATTRIBUTES
    #: flags the format may fill in, and the value an unspecified one (−1) may come back as
    unset_as: Mapping[str, int] = field(default_factory=dict)
    #: boxes are clipped to their image on write (and the write's notes say how many)
    clamps: bool = False


class Reader(Protocol):
    """A format's ``read``: every reader takes ``findings`` and ``probe``; some take more
    (VOC's ``origin``), passed through :func:`svmlp.formats.read`'s ``**options``."""

    def __call__(self, path: str | Path, *, probe: bool = ..., findings: Findings = ...) -> Dataset: ...


@runtime_checkable
class FormatPlugin(Protocol):
    """The contract of a format module.

    - ``NAME``: its key in the registry and on the command line (``--from``/``--to``).
    - ``PRIORITY``: the order :func:`~svmlp.formats.detect` asks the formats in, lowest first; a
      layout that two formats' signs fit goes to the one asked first.
    - ``LOOKS_FOR``: what :func:`sniff` looks for, in a few words, for the error when no format fits.
    - ``ROUND_TRIP``: what a write-then-read keeps (:class:`RoundTrip`).
    - ``read(path, *, probe, findings, ...)``: the data set at ``path``; complaints that leave the rest
      readable go to ``findings`` (:class:`~svmlp.model.strictness.Findings`), which it also hands to
      the :class:`~svmlp.model.Dataset` it builds.
    - ``write(ds, out)``: the annotation files into the empty folder ``out`` (the registry makes it
      and renames it into place); refuses, before writing anything, any name that would land
      outside ``out``; returns notes for the summary.
    - ``image_destination(split, file_name)``: where an image goes, relative to ``out``.
    - ``sniff(path)``: why ``path`` looks like this format, or None.

    >>> from svmlp.formats import FORMATS
    >>> isinstance(FORMATS["coco"], FormatPlugin), FORMATS["coco"].LOOKS_FOR
    (True, 'COCO *.json')
    """

    NAME: str
    PRIORITY: int
    LOOKS_FOR: str
    ROUND_TRIP: RoundTrip
    read: Reader

    def write(self, ds: Dataset, out: Path) -> list[str]: ...

    def image_destination(self, split: str, file_name: str) -> str: ...

    def sniff(self, path: Path) -> Sniff | None: ...


if TYPE_CHECKING:
    _CHECKED: tuple[FormatPlugin, ...] = (
        native,
        coco,
        yolo,
        yolo_obb,
        dota,
        voc,
        cvat,
        labelstudio,
        labelme,
        ufpr,
        openalpr,
        openimages,
        ccpd,
    )
