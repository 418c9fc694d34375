"""Hostile data sets through every verb.

Each case is built in the test (no network; nothing written outside ``tmp_path``) and run through
``convert`` to every format, ``link``, ``stats``, ``audit`` with reports, ``SVMLPDataset`` and, for
data that cannot be read, ``view`` and ``train``. The only outcomes allowed are exit 2 with one
``error:`` line (no traceback) or a complete, correct result; in every run a canary folder outside
the output stays byte-identical, the source stays byte-identical, nothing appears beside the output
but the output, and no numpy or Pillow warning escapes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svmlp._files import remove_tree, walk
from svmlp.cli import main
from svmlp.errors import SvmlpError

SECRET = "SECRET-CANARY root:x:0:0:root:/root:/bin/bash"
CATS = [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "plate"}]


# -- building blocks ----------------------------------------------------------------------------


def jpeg(path: Path, w: int = 64, h: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, format="JPEG", quality=80)
    return path


def coco_doc(names: list[str], *, w: int = 64, h: int = 48, **extra: object) -> dict:
    images = [{"id": k + 1, "file_name": n, "width": w, "height": h} for k, n in enumerate(names)]
    anns = [
        {"id": 2 * k + 1, "image_id": k + 1, "category_id": 1, "bbox": [4, 4, 40, 30]}
        for k in range(len(names))
    ] + [
        {"id": 2 * k + 2, "image_id": k + 1, "category_id": 2, "bbox": [20, 24, 10, 4]}
        for k in range(len(names))
    ]
    return {"images": images, "annotations": anns, "categories": CATS, **extra}


def coco(src: Path, doc: dict | str, *, images: list[str] = (), split: str = "train") -> Path:
    """``src/annotations/instances_<split>.json`` and real JPEGs at ``src/images/<split>/<name>``."""
    ann = src / "annotations" / f"instances_{split}.json"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    for name in images:
        jpeg(src / "images" / split / name)
    return src


def yolo(src: Path, names: dict[str, str] | None = None, *, yaml: str | None = None) -> Path:
    """A YOLO set: ``data.yaml`` and, per image name, a JPEG and a two-row label file."""
    names = {"a.jpg": "0 0.35 0.4 0.56 0.62\n1 0.39 0.54 0.16 0.08\n"} if names is None else names
    for name, rows in names.items():
        jpeg(src / "images" / "train" / name)
        label = src / "labels" / "train" / (os.path.splitext(name)[0] + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(rows)
    (src / "data.yaml").write_text(yaml or "train: images/train\nnames: [vehicle, plate]\n")
    return src


def voc(src: Path, xml: dict[str, str], *, sets: dict[str, str] | None = None) -> Path:
    ann = src / "Annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for stem, text in xml.items():
        (ann / f"{stem}.xml").write_text(text)
        jpeg(src / "JPEGImages" / f"{stem}.jpg")
    for split, text in (sets or {}).items():
        (src / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (src / "ImageSets" / "Main" / f"{split}.txt").write_text(text)
    return src


def voc_xml(filename: str = "a.jpg", *, box: tuple[str, ...] = ("5", "5", "44", "34"), size: str = "") -> str:
    size = size or "<size><width>64</width><height>48</height><depth>3</depth></size>"
    x0, y0, x1, y1 = box
    return (
        f"<annotation><filename>{filename}</filename>{size}<object><name>vehicle</name>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
        "</object></annotation>"
    )


# -- what a run must leave as it was ------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): kind and content digest."""
    out = {}
    for dirpath, dirnames, filenames in walk(root):  # os.walk recurses: deep trees are a case
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            key = p.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[key] = "link:" + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISDIR(st.st_mode):
                out[key] = "dir"
            else:
                out[key] = f"special:{stat.S_IFMT(st.st_mode)}"
    return out


@dataclass
class Case:
    build: Callable[[Path, Path], Path]  # (source folder, outside folder) -> the path to give svmlp
    error: str = ""  # a regex every failing verb's line must match
    ok: set[str] = field(default_factory=set)  # verbs that must succeed; the others must fail
    secret: bool = False  # stderr must not quote the outside file


VERBS = [
    "convert-coco",
    "convert-yolo",
    "convert-voc",
    "convert-svmlp",
    "convert-none",
    "link",
    "stats",
    "audit",
    "dataset",
]
READ_ONLY = {"stats", "audit", "convert-none"}


def _args(verb: str, src: Path, out: Path, reports: Path) -> list[str]:
    if verb.startswith("convert-"):
        to = verb.split("-")[1]
        if to == "none":
            return ["convert", str(src), "--to", "coco", "-o", str(out), "--images", "none"]
        return ["convert", str(src), "--to", to, "-o", str(out)]
    if verb == "link":
        return ["link", str(src), "--to", "yolo", "-o", str(out)]
    if verb == "stats":
        return ["stats", str(src)]
    if verb == "audit":
        return ["audit", str(src), "--json-out", str(reports / "r.json"), "--html", str(reports / "r.html")]
    if verb == "view":
        return ["view", str(src), "--port", "1"]
    if verb == "train":
        return ["train", str(src), "--epochs", "1", "--device", "cpu", "--out", str(out)]
    raise AssertionError(verb)


def _dataset_verb(src: Path) -> tuple[int, str]:
    from svmlp.torch import SVMLPDataset

    try:
        data = SVMLPDataset(src, include_unlabelled=True, link=False)
        for i in range(len(data)):
            data[i]
    except SvmlpError as exc:
        return 2, f"dataset: error: {exc}"
    return 0, ""


def run_verb(
    verb: str, src: Path, out: Path, reports: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if verb == "dataset":
            rc, err = _dataset_verb(src)
        else:
            rc = main(_args(verb, src, out, reports))
            err = capsys.readouterr().err
    leaked = [
        w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
    ]
    assert not leaked, f"{verb}: warnings escaped: {[str(w.message) for w in leaked]}"
    return rc, err


def check_case(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], verbs: list[str]) -> None:
    root = tmp_path / "src"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("canary\n")
    (outside / "secret.txt").write_text(SECRET + "\n")
    jpeg(outside / "canary.jpg", seed=9)
    root.mkdir()
    src = case.build(root, outside)
    before_src, before_outside = tree_digest(root), tree_digest(outside)
    for verb in verbs:
        out, reports = tmp_path / "out", tmp_path / "reports"
        reports.mkdir(exist_ok=True)
        rc, err = run_verb(verb, src, out, reports, capsys)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert "Traceback" not in err, f"{verb}: {err}"
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", err), (
            f"{verb}: a raw control character reached stderr: {err!r}"
        )
        if case.secret:
            assert "SECRET-CANARY" not in err, f"{verb} quoted the file outside: {err}"
        if verb in case.ok:
            assert rc in ((0, 1) if verb == "audit" else (0,)), f"{verb}: expected success, got {rc}: {err}"
            if verb.startswith(("convert", "link")):
                assert out.is_dir() and any(out.iterdir()), verb
        else:
            assert rc == 2, f"{verb}: expected exit 2, got {rc}: {err}"
            errors = [ln for ln in lines if "error:" in ln]
            assert len(errors) == 1, f"{verb}: expected one error line, got {lines}"
            assert re.search(case.error, errors[0]), f"{verb}: {errors[0]!r} does not match {case.error!r}"
            assert not out.exists() or not any(out.iterdir()), f"{verb}: left output behind"
        assert tree_digest(root) == before_src, f"{verb} changed the source"
        assert tree_digest(outside) == before_outside, f"{verb} wrote outside the output"
        beside = sorted(p.name for p in tmp_path.iterdir())
        assert beside == sorted({"src", "outside", "reports", *(["out"] if out.exists() else [])}), beside
        for p in (out, reports):
            remove_tree(p)
    remove_tree(root)  # pytest's own clean-up recurses


# -- the corpus ---------------------------------------------------------------------------------


def _coco_names(*names: str, files: bool = False) -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        return coco(src, coco_doc(list(names)), images=[n for n in names] if files else [])

    return build


def _coco_split(src: Path, outside: Path) -> Path:
    doc = coco_doc(["target.txt"], svmlp_split="../../../../../../" + str(outside / "victim").lstrip("/"))
    coco(src, doc)
    (src / "images").mkdir(exist_ok=True)
    (src / "target.txt").write_text("attacker\n")
    return src


def _yaml_split(src: Path, outside: Path) -> Path:
    victim = "../../../../../../" + str(outside / "victim2").lstrip("/")
    return yolo(src, yaml=f"{victim}: images/train\nnames: [vehicle, plate]\n")


def _sidecar_split(src: Path, outside: Path) -> Path:
    yolo(src)
    side = {
        "svmlp_sidecar": "1.0",
        "format": "yolo",
        "categories": [{"id": 0, "name": "vehicle"}, {"id": 1, "name": "plate"}],
        "images": [{"split": "../../escape", "file_name": "a.jpg", "id": 1}],
    }
    (src / "svmlp.sidecar.json").write_text(json.dumps(side))
    return src


def _sidecar_file(src: Path, outside: Path) -> Path:
    yolo(src)
    side = {
        "svmlp_sidecar": "1.0",
        "format": "yolo",
        "categories": [{"id": 0, "name": "vehicle"}, {"id": 1, "name": "plate"}],
        "images": [{"split": "train", "file_name": "../../../outside/canary.jpg", "id": 7}],
    }
    (src / "svmlp.sidecar.json").write_text(json.dumps(side))
    return src


def _voc_set_entry(src: Path, outside: Path) -> Path:
    return voc(src, {"a": voc_xml()}, sets={"train": "a\n../../outside/canary\n"})


def _voc_filename(src: Path, outside: Path) -> Path:
    return voc(src, {"a": voc_xml("..")})


def _disk_newline(src: Path, outside: Path) -> Path:
    return yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n", "b\nc.jpg": "0 0.5 0.5 0.2 0.2\n"})


def _image_link(target: Callable[[Path], Path], fmt: str = "yolo") -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        if fmt == "yolo":
            yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n", "b.jpg": "0 0.5 0.5 0.2 0.2\n"})
            link = src / "images" / "train" / "b.jpg"
        else:
            coco(src, coco_doc(["a.jpg", "b.jpg"]), images=["a.jpg", "b.jpg"])
            link = src / "images" / "train" / "b.jpg"
        link.unlink()
        os.symlink(target(outside), link)
        return src

    return build


def _label_link(src: Path, outside: Path) -> Path:
    yolo(src)
    label = src / "labels" / "train" / "a.txt"
    label.unlink()
    os.symlink(outside / "secret.txt", label)
    return src


def _voc_xml_link(src: Path, outside: Path) -> Path:
    voc(src, {"a": voc_xml()})
    xml = src / "Annotations" / "b.xml"
    os.symlink(outside / "secret.txt", xml)
    return src


def _fifo_image(fmt: str) -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        if fmt == "yolo":
            yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n", "b.jpg": "0 0.5 0.5 0.2 0.2\n"})
        else:
            coco(src, coco_doc(["a.jpg", "b.jpg"]), images=["a.jpg", "b.jpg"])
        fifo = src / "images" / "train" / "b.jpg"
        fifo.unlink()
        os.mkfifo(fifo)
        return src

    return build


def _fifo_label(src: Path, outside: Path) -> Path:
    yolo(src)
    label = src / "labels" / "train" / "a.txt"
    label.unlink()
    os.mkfifo(label)
    return src


def _yaml_bomb(src: Path, outside: Path) -> Path:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return yolo(src, yaml="\n".join(lines) + "\ntrain: images/train\nnames: *i\n")


def _yaml_names(value: str) -> Callable[[Path, Path], Path]:
    return lambda src, outside: yolo(src, yaml=f"train: images/train\nnames: {value}\n")


def _long_row(src: Path, outside: Path) -> Path:
    row = "0 " + " ".join(["0.5 0.5"] * 150_000) + "\n"  # 2.1 MB, an odd count of values
    return yolo(src, {"a.jpg": row})


def _json_deep(src: Path, outside: Path) -> Path:
    return coco(
        src, '{"images": [], "annotations": [], "categories": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )


def _voc_coord(value: str) -> Callable[[Path, Path], Path]:
    return lambda src, outside: voc(src, {"a": voc_xml(box=("5", "5", value, "34"))})


def _coco_patch(names: list[str], files: bool = True, **changes: object) -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        doc = coco_doc(names)
        text = json.dumps(doc)
        for key, value in changes.items():
            text = text.replace(key, str(value), 1)
        return coco(src, text, images=names if files else [])

    return build


def _sidecar_corners(src: Path, outside: Path) -> Path:
    yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n"})
    side = {
        "svmlp_sidecar": "1.0",
        "format": "yolo",
        "categories": [{"id": 0, "name": "vehicle"}, {"id": 1, "name": "plate"}],
        "images": [
            {
                "split": "train",
                "file_name": "a.jpg",
                "id": 1,
                "rows": [[5, 0]],
                "annotations": [{"id": 5, "plate": {"corners": [[1, 2]]}}],
            }
        ],
    }
    (src / "svmlp.sidecar.json").write_text(json.dumps(side))
    return src


def _sidecar_big_id(src: Path, outside: Path) -> Path:
    yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n"})
    side = {
        "svmlp_sidecar": "1.0",
        "format": "yolo",
        "categories": [{"id": 0, "name": "vehicle"}],
        "images": [{"split": "train", "file_name": "a.jpg", "id": 2**64, "rows": [[5, 0]]}],
    }
    (src / "svmlp.sidecar.json").write_text(json.dumps(side))
    return src


def _sidecar2(images: dict[str, object], **columns: object) -> Callable[[Path, Path], Path]:
    """A version 2.0 (columns) sidecar beside one YOLO label file."""

    def build(src: Path, outside: Path) -> Path:
        yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n"})
        base: dict[str, object] = {
            "split": ["train"],
            "file_name": ["a.jpg"],
            "id": [1],
            "width": [0],
            "height": [0],
            "labelled": [True],
            "rows": [1],
            "digest": [""],
        }
        side = {
            "svmlp_sidecar": "2.0",
            "format": "yolo",
            "categories": [{"id": 0, "name": "vehicle"}, {"id": 1, "name": "plate"}],
            "images": {**base, **images},
            "rows": {"id": [5], "category": [0]},
            **columns,
        }
        (src / "svmlp.sidecar.json").write_text(json.dumps(side))
        return src

    return build


ALL_FAIL: set[str] = set()
CASES: dict[str, Case] = {
    # paths from data that would be joined outside the output
    "coco split '../..'": Case(_coco_split, r"split name .* climbs out"),
    "coco file name '../..'": Case(_coco_names("../../outside/target.txt"), r"climbs out"),
    "coco absolute file name": Case(_coco_names("/etc/hostname"), r"absolute path"),
    "coco empty file name": Case(_coco_names(""), r"is empty"),
    "coco '.' file name": Case(_coco_names("."), r"is '\.'"),
    "coco NUL in file name": Case(_coco_names("a\x00b.jpg"), r"control character"),
    "coco newline in file name": Case(_coco_names("a\nb.jpg"), r"control character '\\n'"),
    "coco backslash file name": Case(_coco_names("sub\\a.jpg"), r"backslash"),
    "coco file name over 255 bytes": Case(_coco_names("x" * 300 + ".jpg"), r"longer than 255 bytes"),
    "coco category NUL": Case(
        lambda s, o: coco(
            s,
            {**coco_doc(["a.jpg"]), "categories": [{"id": 1, "name": "car\x00"}, CATS[1]]},
            images=["a.jpg"],
        ),
        r"class name .* control character",
    ),
    "yaml split '../..'": Case(_yaml_split, r"split name .* climbs out"),
    "sidecar split '../..'": Case(_sidecar_split, r"split name .* climbs out"),
    "sidecar file name '../..'": Case(_sidecar_file, r"climbs out"),
    "sidecar 2.0 split '../..'": Case(_sidecar2({"split": ["../../escape"]}), r"split name .* climbs out"),
    "sidecar 2.0 file name '../..'": Case(
        _sidecar2({"file_name": ["../../../outside/x.jpg"]}), r"climbs out"
    ),
    "voc ImageSets entry '../..'": Case(_voc_set_entry, r"image set entry .* climbs out"),
    "voc <filename>..": Case(_voc_filename, r"climbs out"),
    "yolo newline in a file name on disk": Case(_disk_newline, r"control character"),
    # links out of the data set
    "yolo image linked outside": Case(
        _image_link(lambda o: o / "canary.jpg"),
        r"symbolic link .* outside the data set",
        ok={"stats", "audit", "convert-none", "dataset"},
    ),
    "coco image linked to /etc/hostname": Case(
        _image_link(lambda o: Path("/etc/hostname"), "coco"),
        r"symbolic link|not an image",
        ok={"stats", "audit", "convert-none"},
    ),
    "yolo label linked to a secret": Case(_label_link, r"symbolic link .* outside the data set", secret=True),
    "voc xml linked to a secret": Case(_voc_xml_link, r"symbolic link .* outside the data set", secret=True),
    # files that are not regular files
    "coco image is a FIFO": Case(_fifo_image("coco"), r"FIFO", ok={"stats", "audit", "convert-none"}),
    "yolo image is a FIFO": Case(_fifo_image("yolo"), r"FIFO"),
    "yolo label is a FIFO": Case(_fifo_label, r"FIFO"),
    "coco image linked to /dev/zero": Case(
        _image_link(lambda o: Path("/dev/zero"), "coco"),
        r"character device|symbolic link",
        ok={"stats", "audit", "convert-none"},
    ),
    # denial of service
    "yaml alias bomb": Case(_yaml_bomb, r"aliases"),
    "yaml nested 5000 deep": Case(_yaml_names("[" * 5000 + "]" * 5000), r"nest"),
    "yaml names not text": Case(_yaml_names("[[a, b], c]"), r"names\[0\] is a list"),
    "yolo row of 2 MB": Case(_long_row, r"a row of \d+ characters"),
    "coco json nested 100k deep": Case(_json_deep, r"instances_train\.json"),
    # out-of-range numbers
    "voc xmax 1e308": Case(_voc_coord("1e308"), r"<xmax> is '1e308', expected a finite number within"),
    "voc xmax inf": Case(_voc_coord("inf"), r"<xmax> is 'inf'"),
    "coco width 1e12": Case(
        _coco_patch(["a.jpg"], **{'"width": 64': '"width": 1000000000000'}),
        r"width: Expected `int` <= 2147483647",
    ),
    "coco id 2**63": Case(
        _coco_patch(["a.jpg"], **{'"id": 1,': f'"id": {2**63},'}), r"Expected `int` <= 9223372036854775807"
    ),
    "coco bbox 1e300": Case(
        _coco_patch(["a.jpg"], **{"[4, 4, 40, 30]": "[4, 4, 1e300, 30]"}),
        r"bbox",
        ok={"audit"},  # a finding there
    ),
    "voc svmlp id 2**63": Case(
        lambda s, o: voc(s, {"a": voc_xml().replace("<filename>", f'<svmlp id="{2**63}"/><filename>')}),
        r"out of range",
    ),
    "sidecar id 2**64": Case(_sidecar_big_id, r"Expected `int` <= 9223372036854775807"),
    "sidecar corners with one point": Case(_sidecar_corners, r"expected 4 \[x, y\] points"),
    "sidecar 2.0 corners with one point": Case(
        _sidecar2({}, plates={"image": [0], "id": [5], "text": [""], "corners": [[1, 2]]}),
        r"plates.corners\[0\]: expected 8 numbers",
    ),
    "sidecar 2.0 columns of different lengths": Case(
        _sidecar2({"width": [0, 0]}), r"images.width: 2 entries for 1 images"
    ),
    "sidecar 2.0 more rows than ids": Case(_sidecar2({"rows": [3]}), r"1 row ids for the 3 rows"),
    "sidecar 2.0 link to a missing image": Case(
        _sidecar2({}, links={"image": [4], "id": [5], "parent_id": [6], "link_score": [None]}),
        r"links.image: an image index past the 1 images",
    ),
    "sidecar 2.0 kept box without its image": Case(
        _sidecar2({}, kept=[{"id": 9, "category_id": 0, "bbox": [0, 0, 1, 1]}]),
        r"kept\[0\].image: missing",
    ),
    "sidecar of an unknown version": Case(_sidecar2({}, svmlp_sidecar="9.0"), r"not a valid svmlp sidecar"),
}


def _folder_link(kind: str) -> Callable[[Path, Path], Path]:
    """A folder the reader finds by convention, linked to a folder outside the data set."""

    def build(src: Path, outside: Path) -> Path:
        away = outside / "away"
        if kind == "yolo labels":
            yolo(src)
            (away).mkdir()
            (away / "a.txt").write_text(SECRET + "\n")
            shutil.rmtree(src / "labels" / "train")
            os.symlink(away, src / "labels" / "train")
        elif kind == "voc ImageSets":
            voc(src, {"a": voc_xml()}, sets={"train": "a\n"})
            (away).mkdir()
            (away / "train.txt").write_text(SECRET + "\n")
            shutil.rmtree(src / "ImageSets" / "Main")
            os.symlink(away, src / "ImageSets" / "Main")
        elif kind == "voc Annotations":
            voc(src, {"a": voc_xml()})
            away.mkdir()
            (away / "a.xml").write_text(voc_xml(SECRET))
            shutil.rmtree(src / "Annotations")
            os.symlink(away, src / "Annotations")
        else:  # coco images
            coco(src, coco_doc(["canary.jpg"]))
            (src / "images").mkdir()
            os.symlink(outside, src / "images" / "train")
        return src

    return build


def _list_with_root_path(src: Path, outside: Path) -> Path:
    yolo(src)
    (src / "train.txt").write_text(f"{outside / 'canary.jpg'}\n")
    return yolo(src, yaml=f"path: /\ntrain: {src / 'train.txt'}\nnames: [vehicle, plate]\n")


def _deep_images(src: Path, outside: Path) -> Path:
    yolo(src)
    here = os.getcwd()
    os.chdir(src / "images" / "train")
    try:
        for _ in range(1100):
            os.mkdir("d")
            os.chdir("d")
        jpeg(Path(os.getcwd()) / "deep.jpg")
    finally:
        os.chdir(here)
    return src


def _sparse_label(src: Path, outside: Path) -> Path:
    yolo(src)
    with open(src / "labels" / "train" / "a.txt", "r+b") as fh:
        fh.truncate(100 << 20)  # 100 MB, a few kB on disk
    return src


def _plate_text(text: str) -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        doc = coco_doc(["a.jpg"])
        doc["annotations"][1]["plate"] = {"text": text}
        return coco(src, doc, images=["a.jpg"])

    return build


def _sidecar_crowd(box: object) -> Callable[[Path, Path], Path]:
    def build(src: Path, outside: Path) -> Path:
        yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n"})
        side = {
            "svmlp_sidecar": "1.0",
            "format": "yolo",
            "categories": [{"id": 0, "name": "vehicle"}],
            "images": [
                {
                    "split": "train",
                    "file_name": "a.jpg",
                    "id": 1,
                    "rows": [[5, 0]],
                    "annotations": [{"id": 6, "category_id": 0, "bbox": box, "iscrowd": 1}],
                }
            ],
        }
        (src / "svmlp.sidecar.json").write_text(json.dumps(side))
        return src

    return build


CASES.update(
    {
        "yolo label folder linked outside": Case(
            _folder_link("yolo labels"), r"symbolic link .* outside", secret=True
        ),
        "voc ImageSets linked outside": Case(
            _folder_link("voc ImageSets"), r"symbolic link .* outside", secret=True
        ),
        "voc Annotations linked outside": Case(
            _folder_link("voc Annotations"), r"symbolic link .* outside", secret=True
        ),
        "coco image folder linked outside": Case(
            _folder_link("coco images"),
            r"symbolic link .* outside",
            ok={"stats", "audit", "convert-none", "dataset"},
        ),
        "yolo image list out of the data set through path: /": Case(
            _list_with_root_path, r"lies outside the data set"
        ),
        "yolo folders 1100 deep": Case(_deep_images, "", ok=set(VERBS)),
        "yolo label file of 100 MB": Case(_sparse_label, r"more than the \d+ a label file may have"),
        "yolo row of 1e308": Case(lambda s, o: yolo(s, {"a.jpg": "0 1e308 0.5 0.2 0.2\n"}), r"normalised"),
        "yolo class inf": Case(lambda s, o: yolo(s, {"a.jpg": "inf 0.5 0.5 0.2 0.2\n"}), r"class 'inf'"),
        "yaml names key '00'": Case(_yaml_names("{'00': vehicle}"), r"class indices"),
        "yaml names key 0.5": Case(_yaml_names("{0.5: vehicle}"), r"class indices"),
        "yaml integer of 5000 digits": Case(
            lambda s, o: yolo(
                s, yaml="x: " + "9" * 5000 + "\ntrain: images/train\nnames: [vehicle, plate]\n"
            ),
            r"digits",
        ),
        "voc unknown XML encoding": Case(
            lambda s, o: voc(s, {"a": '<?xml version="1.0" encoding="x-nope"?>' + voc_xml()}),
            r"cannot decode the XML",
        ),
        "sidecar crowd box null": Case(_sidecar_crowd(None), r"a kept box with no bbox"),
        "coco class name U+FFFE": Case(
            lambda s, o: coco(
                s,
                {**coco_doc(["a.jpg"]), "categories": [{"id": 1, "name": "car\ufffe"}, CATS[1]]},
                images=["a.jpg"],
            ),
            r"control character",
        ),
        "coco escape sequence in a file name": Case(_coco_names("a\x1b[31m.jpg"), r"control character"),
        "plate text VOC cannot hold": Case(
            _plate_text("AB\x01C"), r"VOC XML cannot hold", ok=set(VERBS) - {"convert-voc"}
        ),
    }
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_case(CASES[name], tmp_path, capsys, VERBS)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["coco split '../..'", "yaml alias bomb", "yolo label linked to a secret"])
def test_unreadable_data_stops_view_and_train_too(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    check_case(CASES[name], tmp_path, capsys, ["view", "train"])


# -- the source is never touched ----------------------------------------------------------------


def _labels_of(src: Path) -> dict[str, str]:
    return tree_digest(src)


@pytest.mark.parametrize(
    ("build", "to", "out_of"),
    [
        (lambda s: yolo(s), "yolo", lambda s: s / "labels"),
        (lambda s: yolo(s), "yolo", lambda s: s / "labels" / "train"),
        (lambda s: yolo(s), "coco", lambda s: s / "images" / "train"),
        (lambda s: yolo(s), "voc", lambda s: s),
        (lambda s: voc(s, {"a": voc_xml()}), "coco", lambda s: s / "Annotations"),
        (lambda s: voc(s, {"a": voc_xml()}, sets={"train": "a\n"}), "voc", lambda s: s / "ImageSets"),
        (lambda s: coco(s, coco_doc(["a.jpg"]), images=["a.jpg"]), "coco", lambda s: s / "annotations"),
        (lambda s: coco(s, coco_doc(["a.jpg"]), images=["a.jpg"]), "yolo", lambda s: s / "images"),
    ],
)
def test_an_output_over_what_was_read_is_refused(
    build: Callable[[Path], Path],
    to: str,
    out_of: Callable[[Path], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = build(tmp_path / "src")
    before = tree_digest(src)
    rc = main(["convert", str(src), "--to", to, "-o", str(out_of(src)), "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "which the data set was read from" in err and len(err.strip().splitlines()) == 1, err
    assert tree_digest(src) == before


def test_an_output_inside_a_label_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = yolo(tmp_path / "src")
    before = tree_digest(src)
    assert main(["convert", str(src), "--to", "coco", "-o", str(src / "labels" / "train" / "new")]) == 2
    assert "lies inside" in capsys.readouterr().err
    assert tree_digest(src) == before
    # beside the data, in a folder the reader never looks into, is fine
    assert main(["convert", str(src), "--to", "coco", "-o", str(src / "converted"), "-q"]) == 0


@pytest.mark.parametrize(
    ("flag", "target"),
    [
        ("--json-out", lambda s: s / "annotations" / "instances_train.json"),
        ("--html", lambda s: s / "annotations" / "instances_train.json"),
        ("--json-out", lambda s: s / "annotations" / "report.json"),
        ("--html", lambda s: s / "report.html"),
        ("--json-out", lambda s: s / "images" / "train" / "a.jpg"),
    ],
)
def test_audit_reports_never_land_on_or_in_the_data(
    flag: str, target: Callable[[Path], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = coco(tmp_path / "src", coco_doc(["a.jpg"]), images=["a.jpg"])
    before = tree_digest(src)
    rc = main(["audit", str(src), flag, str(target(src))])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "which the data set was read from" in err or "is a file the data set was read from" in err, err
    assert tree_digest(src) == before


def test_a_report_that_cannot_be_written_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = coco(tmp_path / "src", coco_doc(["a.jpg"]), images=["a.jpg"])
    reports = tmp_path / "reports"
    (reports / "r.json").mkdir(parents=True)
    assert main(["audit", str(src), "--json-out", str(reports / "r.json")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert [p.name for p in reports.iterdir()] == ["r.json"]
    # a full disk: the file size limit stands in for it (EFBIG where ENOSPC would be)
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000));"
        "from svmlp.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "audit", str(src), "--html", str(reports / "r.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert [p.name for p in reports.iterdir()] == ["r.json"], "a partial report was left"


# -- sizes the file contradicts -----------------------------------------------------------------


def _yolo_rows(out: Path) -> list[list[float]]:
    text = (out / "labels" / "train" / "a.txt").read_text()
    return [[float(v) for v in row.split()] for row in text.splitlines()]


def test_a_stored_size_the_image_contradicts_is_not_used_to_normalise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = coco(tmp_path / "src", coco_doc(["a.jpg"], w=1280, h=960), images=["a.jpg"])  # the file is 64x48
    assert main(["convert", str(src), "--to", "yolo", "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "differs from the image file" in captured.out and "stored 1280x960, file 64x48" in captured.out
    vehicle = _yolo_rows(tmp_path / "out")[0]
    np.testing.assert_allclose(vehicle[1:], [24 / 64, 19 / 48, 40 / 64, 30 / 48], rtol=1e-9)
    # the audit reports it too
    assert main(["audit", str(src), "--no-images"]) in (0, 1)
    assert main(["audit", str(src)]) == 1
    assert "size_mismatch" in capsys.readouterr().out


def test_boxes_past_the_file_keep_the_stored_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = coco_doc(["a.jpg"], w=128, h=96)
    doc["annotations"][0]["bbox"] = [8, 8, 100, 70]  # labelled on a 128x96 image, since halved
    src = coco(tmp_path / "src", doc, images=["a.jpg"])
    assert main(["convert", str(src), "--to", "yolo", "-o", str(tmp_path / "out")]) == 0
    assert "resized after labelling" in capsys.readouterr().out
    vehicle = _yolo_rows(tmp_path / "out")[0]
    np.testing.assert_allclose(vehicle[1:], [58 / 128, 43 / 96, 100 / 128, 70 / 96], rtol=1e-9)


def test_a_size_of_zero_uses_the_image_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = coco(tmp_path / "src", coco_doc(["a.jpg"], w=0, h=0), images=["a.jpg"])
    assert main(["convert", str(src), "--to", "yolo", "-o", str(tmp_path / "out")]) == 0
    assert "store no size" in capsys.readouterr().out
    vehicle = _yolo_rows(tmp_path / "out")[0]
    np.testing.assert_allclose(vehicle[1:], [24 / 64, 19 / 48, 40 / 64, 30 / 48], rtol=1e-9)


# -- folders that cannot be listed --------------------------------------------------------------


def _without_root_powers() -> list[str]:
    """A prefix that runs a command without the power to read any file (root ignores modes)."""
    if os.geteuid() != 0:
        return []
    setpriv = subprocess.run(["which", "setpriv"], capture_output=True, text=True).stdout.strip()
    if not setpriv:
        pytest.skip("running as root without setpriv (util-linux): cannot make a folder unreadable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.mark.parametrize(
    ("build", "locked"),
    [
        (lambda s: voc(s, {"a": voc_xml()}, sets={"train": "a\n"}), lambda s: s / "Annotations"),
        (lambda s: yolo(s), lambda s: s / "labels" / "train"),
        (lambda s: yolo(s), lambda s: s / "images" / "train"),
    ],
)
def test_an_unreadable_folder_is_an_error_not_an_empty_data_set(
    build: Callable[[Path], Path], locked: Callable[[Path], Path], tmp_path: Path
) -> None:
    src = build(tmp_path / "src")
    folder = locked(src)
    prefix = _without_root_powers()
    folder.chmod(0)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "svmlp", "stats", str(src)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert folder.name in proc.stderr and "Permission denied" in proc.stderr, proc.stderr


# -- outputs of the other verbs -----------------------------------------------------------------


def test_train_never_writes_its_run_over_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    src = yolo(tmp_path / "src")
    before = tree_digest(src)
    assert (
        main(["train", str(src), "--epochs", "1", "--device", "cpu", "--out", str(src / "images" / "train")])
        == 2
    )
    assert "which the data set was read from" in capsys.readouterr().err
    assert tree_digest(src) == before


def test_the_image_cache_stays_out_of_the_data(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from svmlp.torch import SVMLPDataset
    from svmlp.torch import transforms as T

    src = yolo(tmp_path / "src")
    before = tree_digest(src)
    with pytest.raises(SvmlpError, match="keep the cache outside the data set"):
        SVMLPDataset(src, transforms=T.eval_preset(32), cache=src / "images" / "train" / "cache")
    assert tree_digest(src) == before


def test_left_over_work_folders_inside_the_data_are_named_not_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = coco(tmp_path / "src", coco_doc(["a.jpg"]), images=["a.jpg"])
    (src / ".converted.aaaaaaaa.svmlp-old" / "x").mkdir(parents=True)
    (src / ".converted.aaaaaaaa.svmlp-old" / "x" / "README").write_text("the data's own\n")
    (src / ".converted.bbbbbbbb.svmlp-tmp").mkdir()
    (src / ".converted.bbbbbbbb.svmlp-tmp" / "keep.txt").write_text("the data's own\n")
    before = tree_digest(src)
    assert main(["convert", str(src), "--to", "coco", "-o", str(src / "converted")]) == 0
    assert "svmlp does not remove it" in capsys.readouterr().out
    after = {k: v for k, v in tree_digest(src).items() if not k.startswith("converted")}
    assert after == before


def test_the_audit_page_shows_no_image_linked_out_of_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    outside = tmp_path / "outside"
    jpeg(outside / "canary.jpg", seed=9)
    yolo(src, {"a.jpg": "0 0.5 0.5 0.2 0.2\n", "b.jpg": "0 0.5 0.5 0.001 0.001\n"})  # a tiny box: a card
    (src / "images" / "train" / "b.jpg").unlink()
    os.symlink(outside / "canary.jpg", src / "images" / "train" / "b.jpg")
    page = tmp_path / "r.html"
    assert main(["audit", str(src), "--html", str(page)]) in (0, 1)
    html = page.read_text()
    assert "b.jpg" in html and "a link out of the data set; not shown" in html
