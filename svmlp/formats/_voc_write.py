"""Pascal VOC writing: each box as an ``<object>`` element, checked before anything is written.

Apart from :mod:`svmlp.formats.voc` (which reads, and writes the files) to keep both short.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from svmlp._files import make_folders
from svmlp.errors import AnnotationError
from svmlp.formats._xmltext import escape, quoteattr
from svmlp.model import Dataset, sort_splits

__all__ = ["check_writable", "check_xml_text", "objects_xml", "write_tree"]


def check_writable(ds: Dataset) -> None:
    """Every image's XML goes to ``Annotations/<stem>.xml``, all splits in one folder: two images
    with one stem would share a file."""
    seen: dict[str, tuple[str, str]] = {}
    for split, name in zip(ds.images.split.tolist(), ds.images.file_name.tolist()):
        stem = Path(name).with_suffix("").as_posix()
        if stem in seen:
            other_split, other = seen[stem]
            if other == name:
                what = f"image {name!r} is in split {other_split} and in split {split}"
            else:
                what = f"images {other!r} ({other_split}) and {name!r} ({split}) would share Annotations/{stem}.xml"
            raise AnnotationError(
                f"{what}; VOC keeps every split's images in one folder, so names must differ"
            )
        seen[stem] = (split, name)


#: what XML 1.0 cannot hold at all, not even as a character reference
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_xml_text(ds: Dataset) -> None:
    """Plate text goes into an XML attribute: a character XML cannot hold would make a file no
    reader (svmlp's included) can read back, so it is an error, not a broken file."""
    b = ds.boxes
    if b.text is None:
        return
    for r in np.flatnonzero(b.text != "").tolist():
        if m := _NOT_XML.search(str(b.text[r])):
            raise AnnotationError(
                f"box id {int(b.id[r])}: plate text {str(b.text[r])[:40]!r} holds {m.group()!r}, which VOC XML "
                "cannot hold; write COCO or the native format, or fix the text"
            )


def _svmlp_attrs(ds: Dataset) -> list[str]:
    """The ``<svmlp .../>`` attributes of every box, built column by column."""
    b = ds.boxes
    attrs = [[f'id="{v}"'] for v in b.id.tolist()]
    ids = b.id.tolist()
    scores = b.link_score.tolist()
    for r, p in zip(np.flatnonzero(b.parent >= 0).tolist(), b.parent[b.parent >= 0].tolist()):
        attrs[r].append(f'parent="{ids[p]}"')
        if scores[r] == scores[r]:
            attrs[r].append(f'score="{scores[r]!r}"')
    for r in np.flatnonzero(b.truncated < 0).tolist():  # <truncated> is always written: 0 stands in
        attrs[r].append('truncated="-1"')
    difficult = b.difficult.tolist()
    for r in np.flatnonzero(b.iscrowd).tolist():
        attrs[r].append('crowd="1"')
        if difficult[r] >= 0:
            attrs[r].append(f'difficult="{difficult[r]}"')
    area = b.area.tolist()
    for r in np.flatnonzero(~np.isnan(b.area)).tolist():
        attrs[r].append(f'area="{area[r]!r}"')
    if b.text is not None:
        for r in np.flatnonzero(b.text != "").tolist():
            attrs[r].append(f"text={quoteattr(str(b.text[r]))}")
    if b.corners is not None:
        have = np.flatnonzero(~np.isnan(b.corners).any(axis=(1, 2)))
        for r, pts in zip(have.tolist(), b.corners[have].reshape(-1, 8).tolist()):
            attrs[r].append('corners="' + " ".join(map(repr, pts)) + '"')
    return [" ".join(a) for a in attrs]


def objects_xml(ds: Dataset) -> list[str]:
    """Every box as an ``<object>`` element, in box order."""
    b = ds.boxes
    names = [escape(c.name) for c in ds.categories]
    # 1-based inclusive pixel indices; numpy's round is Python's (half to even)
    ints = np.round(b.xyxy).astype(np.int64) + np.array([1, 1, 0, 0])
    # <truncated> and <difficult> on every object: devkit readers (voc_eval's parse_rec) int() both
    difficult = np.where(b.iscrowd, 1, np.maximum(b.difficult, 0)).tolist()
    truncated = np.maximum(b.truncated, 0).tolist()
    occluded = [f"<occluded>{v}</occluded>" if v >= 0 else "" for v in b.occluded.tolist()]
    return [
        f"<object><name>{names[c]}</name><pose>Unspecified</pose><truncated>{t}</truncated>"
        f"<difficult>{d}</difficult>{o}"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
        f"<svmlp {a}/></object>"
        for c, t, d, o, (x0, y0, x1, y1), a in zip(
            b.category.tolist(),
            truncated,
            difficult,
            occluded,
            ints.tolist(),
            _svmlp_attrs(ds),
        )
    ]


def write_tree(ds: Dataset, root: Path) -> list[str]:
    """``Annotations/``, ``ImageSets/Main/`` and an empty ``JPEGImages/`` under ``root`` (checked by
    the caller); returns notes for the summary.

    What devkit readers need is always there: ``<size>`` and ``<segmented>`` on every file;
    ``<name>``, ``<pose>``, ``<truncated>``, ``<difficult>`` and ``<bndbox>`` on every object. The
    lists name the images that have an XML file (a reader opens ``Annotations/<id>.xml`` for each
    entry); unlabelled images are kept in the sidecar only."""
    im = ds.images
    objects = objects_xml(ds)
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    lists: dict[str, list[str]] = defaultdict(list)
    off = ds.offsets.tolist()
    made: set[str] = set()
    annotations = str(root / "Annotations")
    for i, (name, split, id_, w, h, labelled) in enumerate(
        zip(
            im.file_name.tolist(),
            im.split.tolist(),
            im.id.tolist(),
            im.width.tolist(),
            im.height.tolist(),
            im.labelled.tolist(),
        )
    ):
        lists.setdefault(split, [])
        if not labelled:
            continue
        stem = os.path.splitext(name)[0]
        lists[split].append(stem)
        xml = (
            f"<annotation><folder>JPEGImages</folder><filename>{escape(name.rsplit('/', 1)[-1])}</filename>"
            f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
            f'<segmented>0</segmented><svmlp id="{id_}"/>{"".join(objects[off[i] : off[i + 1]])}</annotation>\n'
        )
        dst = os.path.join(annotations, f"{stem}.xml")
        if (folder := os.path.dirname(dst)) not in made:
            make_folders(folder)
            made.add(folder)
        with open(dst, "xb") as fh:  # exclusive: two names one file system folds together never overwrite
            fh.write(xml.encode())
    if "train" in lists and "val" in lists and "trainval" not in lists:
        lists["trainval"] = lists["train"] + lists["val"]  # the devkit's union, read back as train and val
    for split in sort_splits(lists):
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text(
            "".join(s + "\n" for s in lists[split]), encoding="utf-8"
        )
    return _notes(ds)


def _notes(ds: Dataset) -> list[str]:
    b, im = ds.boxes, ds.images
    notes = []
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) written as difficult objects (marked crowd in <svmlp>)"
        )
    unlabelled = int((~im.labelled).sum())
    if unlabelled:
        notes.append(
            f"{unlabelled} unlabelled image(s) have no XML file and are in no ImageSets list (VOC tools "
            "read listed images only); svmlp.sidecar.json keeps them"
        )
    names = im.file_name[im.labelled].tolist()
    other = [n for n in names if not n.endswith(".jpg")]
    if other:
        notes.append(
            f"{len(other)} labelled image(s) are not .jpg files (e.g. {other[0]!r}): tools that open "
            "JPEGImages/<id>.jpg for each listed id (torchvision's VOCDetection) will not find them"
        )
    return notes
