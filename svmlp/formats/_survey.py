"""What a folder holds, in words: the message when no format fits (and when one is forced on
files it cannot read).

The survey walks a bounded part of the tree (two folder levels, a few dozen folders, a few
thousand entries a folder) and opens a bounded number of files (their first 4 KiB, through
:mod:`svmlp.formats._peek`), so detection stays fast on a folder of a million images. What it
finds it names by count and place: ``12 *.json files with `shapes`: this looks like LabelMe JSON``.

Messages exist twice: for Python they name the keyword (``format=``), for the command line the
flag (``--from``). :class:`LayoutError` carries both; ``str()`` is the one its raiser chose and
the command line prints :attr:`LayoutError.cli_message`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from svmlp.errors import AnnotationError
from svmlp.formats._layout import IMAGE_SUFFIXES
from svmlp.formats._peek import kind_of_file

__all__ = ["LayoutError", "Survey", "Verdict", "VERDICTS", "survey"]

#: folder levels below the one given that are looked into (split folders, labels/train/, …)
DEPTH = 2
#: folders listed at most, and entries read from each one's listing
MAX_FOLDERS = 48
MAX_ENTRIES = 50_000
#: files opened at most, in all and of one suffix in one folder
MAX_PEEKS = 48
PEEKS_PER_GROUP = 6


class LayoutError(AnnotationError):
    """A data set svmlp cannot read as given, with the words for Python (``str()``, by default)
    and for the command line (:attr:`cli_message`), which name different options."""

    def __init__(self, python: str, cli: str, *, cli_wording: bool = False) -> None:
        self.python_message = str(AnnotationError(python))
        self.cli_message = str(AnnotationError(cli))
        super().__init__(self.cli_message if cli_wording else self.python_message)


@dataclass(frozen=True)
class Verdict:
    """What a kind of file is: ``evidence`` follows the files' count (``with `shapes```),
    ``verdict`` says what that makes them; ``reads``: the registered formats that read them, in
    order of preference; ``hint``: how else svmlp takes them, for Python and the command line."""

    evidence: str
    verdict: str
    reads: tuple[str, ...] = ()
    hint: tuple[str, str] | None = None


_RESULTS_HINT = (
    "svmlp.audit.audit(..., predictions=) and svmlp.train.coco_eval.evaluate_predictions read it",
    "svmlp evaluate/audit --predictions read it",
)
_NO_NAMES = ("add a data.yaml with `names` beside them",) * 2

VERDICTS: dict[str, Verdict] = {
    "svmlp": Verdict("named *.svmlp.json", "native SVMLP annotations", ("svmlp",)),
    "coco": Verdict("holding an object with `images`", "COCO annotations", ("coco",)),
    "coco?": Verdict("holding JSON", "perhaps COCO", ("coco",)),
    "voc": Verdict("with an <annotation> root", "Pascal VOC annotations", ("voc",)),
    "yolo_config": Verdict("", "a YOLO data set config", ("yolo",)),
    "yolo_labels": Verdict(
        "with rows `class cx cy w h`",
        "YOLO label files, but no data.yaml or obj.names names the classes",
        hint=_NO_NAMES,
    ),
    "yolo_obb": Verdict("with rows `class x1 y1 … x4 y4`", "YOLO oriented-box label files", (), _NO_NAMES),
    "dota": Verdict("with rows `x1 y1 … x4 y4 class difficulty`", "this looks like DOTA", ("dota",)),
    "labelme": Verdict("with `shapes`", "this looks like LabelMe JSON", ("labelme",)),
    "coco_results": Verdict(
        "holding a list of {image_id, category_id, bbox, score}",
        "this is a COCO results file",
        (),
        _RESULTS_HINT,
    ),
    "label_studio": Verdict(
        "holding a list of tasks with `annotations`", "this is a Label Studio export", ("label-studio",)
    ),
    "label_studio_config": Verdict("with a <View> root", "a Label Studio labelling config"),
    "createml": Verdict("holding a list of {image, annotations}", "this looks like Create ML JSON"),
    "datumaro": Verdict("with `items`", "this looks like Datumaro JSON"),
    "via": Verdict("with `regions` per image", "this looks like VGG Image Annotator (VIA) JSON"),
    "cvat": Verdict("with an <annotations> root", "this is CVAT for images XML", ("cvat",)),
    "open_images": Verdict(
        "with ImageID/LabelName columns", "this looks like Open Images CSV", ("openimages",)
    ),
    "open_images_hierarchy": Verdict("with `LabelName`/`Subcategory`", "Open Images' class hierarchy"),
    "tf_csv": Verdict("with filename, xmin, ymin, xmax, ymax columns", "a TensorFlow object detection CSV"),
    "tfrecord": Verdict("", "TFRecord files (TensorFlow Object Detection API)"),
    "json_object": Verdict("holding an object", "not a layout svmlp knows"),
    "json_list": Verdict("holding a list", "not a layout svmlp knows"),
    "unreadable": Verdict("", "that could not be opened"),
}

#: kinds that say only what a file is not
_VAGUE = frozenset({"json_object", "json_list", "unreadable", "txt", "csv"})
#: the suffixes of files the survey opens (or counts by name)
_LOOKED_AT = frozenset({".json", ".xml", ".csv", ".txt", ".yaml", ".yml", ".tfrecord", ".record"})
#: kinds that are worth naming only when nothing better was seen
_FILLER = frozenset({"txt", "csv", "unreadable"})


@dataclass
class _Seen:
    files: int = 0
    folders: list[str] = field(default_factory=list)
    example: str = ""
    suffixes: set[str] = field(default_factory=set)


@dataclass
class Survey:
    """What :func:`survey` saw: files per kind (with the folders they are in), and images."""

    root: Path
    kinds: dict[str, _Seen] = field(default_factory=dict)
    images: int = 0
    more: bool = False  # the walk stopped at one of its bounds: there are more files than counted
    cut: set[str] = field(default_factory=set)  # folders listed only in part

    def add(self, kind: str, rel: str, n: int = 1) -> None:
        seen = self.kinds.setdefault(kind, _Seen(example=rel))
        seen.files += n
        seen.suffixes.add(Path(rel).suffix.lower() or Path(rel).name)
        folder = os.path.dirname(rel)
        if folder not in seen.folders:
            seen.folders.append(folder)

    def count(self, kinds: Collection[str]) -> int:
        return sum(self.kinds[k].files for k in kinds if k in self.kinds)

    def telling(self) -> list[str]:
        """Kinds seen that say what the files are, not merely what they are not."""
        return [k for k in self.kinds if k not in _VAGUE and not k.startswith("xml:")]

    def strong_foreign(self) -> list[str]:
        """Kinds seen that are surely another tool's (LabelMe, CVAT, …), not merely unknown."""
        return [k for k in self.kinds if k in VERDICTS and not VERDICTS[k].reads and k not in _VAGUE]

    def entries(self, *, cli: bool, formats: Collection[str], most: int = 4) -> list[str]:
        """One phrase per kind of file seen (at most ``most``), most telling first, then the
        images; ``formats``: the registered format names (a kind one of them reads by name gets
        its ``--from``)."""
        unknown = lambda k: k.startswith(("json", "xml"))  # noqa: E731
        order = sorted(self.kinds, key=lambda k: (k in _FILLER, unknown(k), -self.kinds[k].files, k))
        told = [k for k in order if k not in _FILLER] or order
        out = [self._phrase(k, cli=cli, formats=formats) for k in told[:most]]
        if len(told) > most:
            out.append(f"{len(told) - most} more kinds of file")
        if self.images:
            out.append(f"{self.images}{'+' if self.more else ''} images")
        return out

    def _phrase(self, kind: str, *, cli: bool, formats: Collection[str]) -> str:
        seen = self.kinds[kind]
        v = _verdict(kind)
        if seen.files == 1:
            what = seen.example
        else:
            globs = sorted(f"*{x}" if x.startswith(".") else x for x in seen.suffixes)
            n = f"{seen.files}{'+' if self.cut & set(seen.folders) else ''}"
            what = f"{n} {globs[0]} files" if len(globs) == 1 else f"{n} files ({', '.join(globs)})"
            where = [f for f in seen.folders if f]
            if len(seen.folders) == 1 and where:
                what += f" in {where[0]}/"
            elif len(seen.folders) > 1:
                what += f" in {len(seen.folders)} folders"
        text = f"{what} {v.evidence}: {v.verdict}" if v.evidence else f"{what}: {v.verdict}"
        hint = _hint(v, seen, cli=cli, formats=formats)
        return f"{text} ({hint})" if hint else text


def _verdict(kind: str) -> Verdict:
    if kind.startswith("xml:"):
        root = kind[4:][:40]
        return Verdict(
            f"with a <{root}> root" if root else "with no root element", "not a layout svmlp knows"
        )
    return VERDICTS.get(kind, Verdict("", "not a layout svmlp knows"))


#: formats that detection finds by their layout; others (read with a flag) are named with it
_DETECTED = ("svmlp", "coco", "voc", "yolo")
#: formats whose reader takes the files of the folder it is given, not of folders below it
_ONE_FOLDER = ("cvat", "label-studio")


def _hint(v: Verdict, seen: _Seen, *, cli: bool, formats: Collection[str]) -> str:
    fmt = next((f for f in v.reads if f in formats), None)
    where = [f for f in seen.folders if f]
    if fmt == "openimages":  # the reader takes the folder that holds annotations/ and images/
        where = sorted({w.rsplit("/", 1)[0] if w.endswith("annotations") and "/" in w else w for w in where})
        if len(where) == 1 and where[0] != "annotations":
            return f"give svmlp the folder {where[0]}/"
    if fmt in _ONE_FOLDER and where and len(where) == len(seen.folders):
        if len(where) == 1:
            return f"give svmlp the folder {where[0]}/"
        shown = ", ".join(f"{w}/" for w in where[:3]) + (", …" if len(where) > 3 else "")
        return f"one export per folder: give svmlp one of {shown}"
    if fmt is not None and fmt not in _DETECTED:
        return f"read it with --from {fmt}" if cli else f"read it with format={fmt!r}"
    if v.hint is not None:
        return v.hint[1] if cli else v.hint[0]
    where = [f for f in seen.folders if f]
    if fmt is not None and len(seen.folders) == 1 and where:
        return f"give svmlp the folder {where[0]}/"  # detection looks at the top and one level down
    return ""


def _listing(folder: Path) -> tuple[list[str], list[str], bool]:
    """Files and (unlinked, not hidden) folders directly in ``folder``, sorted; and whether the
    listing was cut at :data:`MAX_ENTRIES`."""
    files, folders, cut = [], [], False
    try:
        with os.scandir(folder) as it:
            for k, entry in enumerate(it):
                if k >= MAX_ENTRIES:
                    cut = True
                    break
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not entry.name.startswith("."):
                            folders.append(entry.name)
                    else:
                        files.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return [], [], False
    return sorted(files), sorted(folders), cut


def survey(path: Path) -> Survey:
    """What ``path`` (a file or a folder) holds, within the bounds of this module.

    >>> import pathlib, tempfile, json
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for k in range(3):
    ...         _ = (pathlib.Path(tmp) / f"{k}.json").write_text(json.dumps({"shapes": []}))
    ...     survey(pathlib.Path(tmp)).entries(cli=True, formats=["coco"])
    ['3 *.json files with `shapes`: this looks like LabelMe JSON']
    """
    out = Survey(path)
    if not path.is_dir():
        kind = kind_of_file(path)
        if kind is not None:
            out.add(kind, path.name)
            out.kinds[kind].example = f"a {path.suffix or path.name} file"  # the message names it
        return out
    queue, listed, peeks = [(path, 0)], 0, MAX_PEEKS
    while queue:
        folder, depth = queue.pop(0)
        if listed >= MAX_FOLDERS:
            out.more = True
            break
        listed += 1
        files, folders, cut = _listing(folder)
        rel = folder.relative_to(path).as_posix() if folder != path else ""
        if cut:
            out.more = True
            out.cut.add(rel)
        if depth < DEPTH:
            queue += [(folder / f, depth + 1) for f in folders]
        peeks = _survey_files(out, folder, rel, files, peeks)
    return out


def _survey_files(out: Survey, folder: Path, rel: str, files: list[str], peeks: int) -> int:
    """Count ``files`` of one folder into ``out``, opening a few of each suffix; returns the
    peeks left. A group whose files looked at are all of one kind is counted as that kind whole."""
    groups: dict[str, list[str]] = {}
    for name in files:
        suffix = os.path.splitext(name)[1].lower()
        if suffix in IMAGE_SUFFIXES:
            out.images += 1
        elif suffix in _LOOKED_AT or name in ("obj.names", "obj.data"):
            groups.setdefault(suffix, []).append(name)
    for names in groups.values():
        kinds: Counter[str] = Counter()
        looked = 0
        for name in names[: min(PEEKS_PER_GROUP, max(peeks, 0))]:
            kind = kind_of_file(folder / name)
            looked += 1
            if kind is not None:
                kinds[kind] += 1
                out.add(kind, f"{rel}/{name}" if rel else name)
        peeks -= looked
        rest = len(names) - looked
        if rest and len(kinds) == 1 and sum(kinds.values()) == looked:
            kind = next(iter(kinds))
            out.add(kind, f"{rel}/{names[looked]}" if rel else names[looked], rest)
    return peeks


def refuse_foreign(path: Path, kind: str, expected: str) -> None:
    """Raise a :class:`LayoutError` when ``kind`` (of :mod:`svmlp.formats._peek`) is surely
    another tool's format: one line saying what ``path`` looks like instead of ``expected``.

    >>> refuse_foreign(Path("x.json"), "labelme", "COCO")
    Traceback (most recent call last):
    ...
    svmlp.formats._survey.LayoutError: x.json: a .json file with `shapes`: this looks like LabelMe JSON, not COCO; read it with format='labelme'
    """
    if kind not in VERDICTS or {"svmlp", "coco"} & set(VERDICTS[kind].reads) or kind in _VAGUE:
        return
    v = _verdict(kind)
    other = v.reads[0] if v.reads else None  # a format svmlp reads (LabelMe, Label Studio)

    def text(cli: bool) -> str:
        hint = "" if v.hint is None else f"; {v.hint[1] if cli else v.hint[0]}"
        if other is not None:
            hint = f"; read it with --from {other}" if cli else f"; read it with format={other!r}"
        return f"{path}: a {path.suffix or 'file'} file {v.evidence}: {v.verdict}, not {expected}{hint}"

    raise LayoutError(text(False), text(True))
