"""CVAT for images 1.1 XML: the shared Datumaro exports, groups as links, plate text, rotated boxes
and polygons, a round trip through svmlp, and hostile files."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import svmlp
from svmlp.formats import cvat

FIXTURES = Path("/work/shared/fixtures/datumaro/cvat_dataset/for_images")
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not mounted")

_META = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><name>plates</name><labels>
    <label><name>car</name></label><label><name>licence plate</name></label><label><name>dog</name></label>
  </labels></task></meta>
"""


def _write(folder: Path, body: str, name: str = "annotations.xml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(_META + body + "</annotations>\n", encoding="utf-8")
    return path


_LINKED = """
  <image id="7" name="a.jpg" width="100" height="80" subset="train">
    <box label="car" occluded="0" xtl="10" ytl="10" xbr="60" ybr="50" z_order="0" group_id="1"/>
    <box label="licence plate" occluded="1" xtl="20.5" ytl="40" xbr="30.25" ybr="45" z_order="0" group_id="1">
      <attribute name="plate_number">AB 123</attribute>
    </box>
    <box label="car" occluded="0" xtl="60" ytl="10" xbr="90" ybr="50" group_id="2"/>
    <box label="car" occluded="0" xtl="61" ytl="11" xbr="91" ybr="51" group_id="2"/>
    <box label="dog" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5"/>
  </image>
  <image id="9" name="sub/b.jpg" width="50" height="50" subset="val">
    <box label="licence plate" xtl="10" ytl="10" xbr="20" ybr="14" rotation="90"/>
    <polygon label="licence plate" points="1,1;9,2;9,6;1,5"/>
    <polygon label="dog" points="0,0;10,0;12,5;10,10;0,10"/>
  </image>
"""


# -- the shared fixtures ---------------------------------------------------------------------------


@needs_fixtures
def test_project_export() -> None:
    ds = svmlp.read(FIXTURES / "export_project")
    assert svmlp.detect(FIXTURES / "export_project") == "cvat"
    assert len(ds.images) == 6 and len(ds.boxes) == 9
    names = [c.name for c in ds.categories]
    assert names == ["label1", "label2"]
    assert Counter(names[c] for c in ds.boxes.category.tolist()) == {"label1": 6, "label2": 3}
    assert Counter(ds.images.split.tolist()) == {"test": 2, "train": 2, "val": 2}
    assert ds.roots["train"] == FIXTURES / "export_project" / "images" / "Train"
    assert any("Test → test, Train → train, Validation → val" in n for n in ds.notes)
    assert len(set(ds.images.id.tolist())) == 6  # per-subset ids repeat in the XML: renumbered
    assert ds.boxes.occluded.tolist().count(1) == 3
    assert any("3 polyline(s)" in n for n in ds.notes)
    assert ds.boxes.segmentation is not None and sum(s is not None for s in ds.boxes.segmentation) == 6
    assert (ds.images.header_width == ds.images.width).all()
    # attributes typed as <meta> declares them (checkbox, number; radio and text stay text)
    assert ds.boxes.attributes is not None
    assert ds.boxes.attributes[0] == {"a1": True, "a2": "v3", "a3": "0003", "a4": 2.4, "z_order": 1}
    assert [a["z_order"] for a in ds.boxes.attributes.tolist()] == [1, 1, 2] * 3


@needs_fixtures
@pytest.mark.parametrize("given", ["export_task", "export_task/train.xml"])
def test_task_export(given: str) -> None:
    ds = svmlp.read(FIXTURES / given, format="cvat")
    assert len(ds.images) == 2 and len(ds.boxes) == 2
    assert ds.images.split.tolist() == ["train", "train"] and ds.images.id.tolist() == [0, 1]
    assert sorted(ds.images.width.tolist()) == [8, 10]
    assert any("no label" in n for n in ds.notes)


# -- what the XML says -----------------------------------------------------------------------------


def test_groups_text_rotation_polygons(tmp_path: Path) -> None:
    _write(tmp_path, _LINKED)
    ds = svmlp.read(tmp_path, probe=False)
    b = ds.boxes
    assert ds.images.id.tolist() == [7, 9] and ds.images.split.tolist() == ["train", "val"]
    assert [c.role for c in ds.categories] == ["parent", "child", None]
    assert b.parent[:5].tolist() == [-1, 0, -1, -1, -1]  # group 2 holds two cars: not guessed
    assert any("1 group(s) not read as links" in n for n in ds.notes)
    assert b.text is not None and b.text[1] == "AB 123"
    assert b.occluded[:2].tolist() == [0, 1]
    assert b.xyxy[1].tolist() == [20.5, 40.0, 30.25, 45.0]
    # a 10×4 box turned 90° about (15, 12): a 4×10 box, its corners kept
    np.testing.assert_allclose(b.xyxy[5], [13, 7, 17, 17], atol=1e-9)
    assert b.corners is not None
    np.testing.assert_allclose(b.corners[5][0], [17, 7], atol=1e-9)
    assert b.corners[6].tolist() == [[1, 1], [9, 2], [9, 6], [1, 5]] and b.xyxy[6].tolist() == [1, 1, 9, 6]
    assert b.segmentation is not None and b.segmentation[7] == [[0, 0, 10, 0, 12, 5, 10, 10, 0, 10]]
    assert np.isnan(b.corners[7]).all()


def test_round_trip_keeps_links_text_splits_ids(tmp_path: Path) -> None:
    _write(tmp_path / "src", _LINKED)
    ds = svmlp.read(tmp_path / "src", probe=False)
    svmlp.write(ds, tmp_path / "out", format="cvat", images="none")
    assert svmlp.detect(tmp_path / "out") == "cvat"
    back = svmlp.read(tmp_path / "out", probe=False)
    assert back.images.id.tolist() == ds.images.id.tolist()
    assert back.images.split.tolist() == ds.images.split.tolist()
    assert back.boxes.id.tolist() == ds.boxes.id.tolist()
    assert back.boxes.parent.tolist() == ds.boxes.parent.tolist()
    assert back.boxes.xyxy.tolist() == ds.boxes.xyxy.tolist()
    assert back.boxes.text is not None and back.boxes.text.tolist() == ds.boxes.text.tolist()
    np.testing.assert_array_equal(back.boxes.corners, ds.boxes.corners)
    xml = (tmp_path / "out" / "annotations.xml").read_text()
    assert 'group_id="1"' in xml and '<attribute name="plate_number">AB 123</attribute>' in xml
    assert 'subset="val"' in xml
    # without the sidecar, the XML alone still gives the link and the text
    (tmp_path / "out" / "svmlp.sidecar.json").unlink()
    bare = svmlp.read(tmp_path / "out", probe=False)
    assert bare.boxes.parent[:2].tolist() == [-1, 0] and bare.boxes.text is not None
    assert bare.boxes.text[1] == "AB 123"


def test_attributes_and_z_order_survive(tmp_path: Path) -> None:
    _write(
        tmp_path / "src",
        """
  <image id="1" name="a.jpg" width="100" height="80">
    <box label="licence plate" xtl="1" ytl="2" xbr="9" ybr="6" z_order="3">
      <attribute name="colour">yellow</attribute>
      <attribute name="plate_number">XY 9</attribute>
      <attribute name="rear">true</attribute>
    </box>
    <box label="car" xtl="0" ytl="0" xbr="50" ybr="40"/>
  </image>
""",
    )
    ds = svmlp.read(tmp_path / "src", probe=False)
    b = ds.boxes
    assert b.attributes is not None
    assert b.attributes.tolist() == [{"colour": "yellow", "rear": "true", "z_order": 3}, None]
    assert b.text is not None and b.text[0] == "XY 9"
    svmlp.write(ds, tmp_path / "out", format="cvat", images="none")
    xml = (tmp_path / "out" / "annotations.xml").read_text()
    assert 'z_order="3"' in xml and '<attribute name="colour">yellow</attribute>' in xml
    # CVAT imports only attributes its labels declare: the writer declares each one it uses
    assert "<name>colour</name>" in xml and "<name>plate_number</name>" in xml
    back = svmlp.read(tmp_path / "out", probe=False)
    assert back.boxes.attributes is not None and back.boxes.attributes.tolist() == b.attributes.tolist()
    (tmp_path / "out" / "svmlp.sidecar.json").unlink()
    bare = svmlp.read(tmp_path / "out", probe=False)
    assert bare.boxes.attributes is not None and bare.boxes.attributes[0]["z_order"] == 3
    # COCO and the native file carry them as each annotation's "attributes"
    for fmt in ("coco", "svmlp"):
        svmlp.write(ds, tmp_path / fmt, format=fmt, images="none")
        again = svmlp.read(tmp_path / fmt, format=fmt)
        assert again.boxes.attributes is not None
        assert again.boxes.attributes.tolist() == b.attributes.tolist()


def test_typed_attributes_and_polygons_written(tmp_path: Path) -> None:
    _write(tmp_path / "src", _LINKED)
    ds = svmlp.read(tmp_path / "src", probe=False)
    attrs = np.full(len(ds.boxes), None, dtype=object)
    attrs[0] = {"parked": True, "z_order": 2, "speed": 12.5}
    ds = ds.replace(boxes=svmlp.model.BoxTable(**{**ds.boxes.__dict__, "attributes": attrs}))
    svmlp.write(ds, tmp_path / "out", format="cvat", images="none")
    xml = (tmp_path / "out" / "annotations.xml").read_text()
    assert "<input_type>checkbox</input_type>" in xml and '<attribute name="parked">true</attribute>' in xml
    # the plates with corners (a rotated box, a four-point polygon) and the dog's polygon are
    # polygons in the XML, so an annotator sees the shape; the sidecar keeps the exact boxes
    assert xml.count("<polygon ") == 3 and xml.count("<box ") == 5
    back = svmlp.read(tmp_path / "out", probe=False)
    assert back.boxes.xyxy.tolist() == ds.boxes.xyxy.tolist()
    assert back.boxes.attributes is not None and back.boxes.attributes[0] == attrs[0]
    (tmp_path / "out" / "svmlp.sidecar.json").unlink()
    bare = svmlp.read(tmp_path / "out", probe=False)
    assert bare.boxes.corners is not None
    np.testing.assert_allclose(bare.boxes.corners[5], ds.boxes.corners[5], atol=1e-9)
    assert bare.boxes.segmentation is not None and bare.boxes.segmentation[7] == ds.boxes.segmentation[7]
    assert bare.boxes.attributes is not None and bare.boxes.attributes[0] == {
        "parked": True,  # declared a checkbox; numbers are declared text (CVAT's wants a range)
        "speed": "12.5",
        "z_order": 2,
    }


_TRACK = """
  <track id="0" label="car" source="manual">
    <box frame="0" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0"/>
  </track>
"""


def test_video_export_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "video", _TRACK)
    _fails(tmp_path / "video", "a 'CVAT for video' export; export the task as 'CVAT for images 1.1'")
    _write(tmp_path / "mixed", _LINKED + _TRACK)
    ds = svmlp.read(tmp_path / "mixed", probe=False)
    assert any("1 <track>(s) left out" in n for n in ds.notes)


# -- hostile files ---------------------------------------------------------------------------------


def _fails(path: Path, match: str) -> str:
    with pytest.raises(svmlp.SvmlpError, match=match) as info:
        svmlp.read(path, format="cvat")
    assert "\n" not in str(info.value)
    return str(info.value)


def test_entity_bomb_is_refused(tmp_path: Path) -> None:
    lol = "".join(f'<!ENTITY l{k} "{f"&l{k - 1};" * 10}">' for k in range(1, 10))
    (tmp_path / "annotations.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "lol">{lol}]>'
        '<annotations><image id="0" name="&l9;" width="1" height="1"/></annotations>'
    )
    _fails(tmp_path, "annotations.xml")


def test_name_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, '<image id="0" name="../../etc/passwd" width="4" height="4"/>\n')
    _fails(tmp_path, r"annotations\.xml: <image> 0: image file name '\.\./\.\./etc/passwd'")


def test_bad_numbers_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path, '<image id="0" name="a.jpg" width="4" height="4"><box label="car" xtl="x"/></image>\n')
    _fails(tmp_path, "annotations.xml: .*xtl is 'x'")
    _write(
        tmp_path,
        '<image id="0" name="a.jpg" width="4" height="4"><polygon label="car" points="1;2"/></image>\n',
    )
    _fails(tmp_path, "are not x,y")


@pytest.mark.timeout(20)
def test_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "annotations.xml")
    _fails(tmp_path, "annotations.xml")
    assert cvat.sniff(tmp_path) is None


@pytest.mark.parametrize("garbage", [b"\x00\xff\xfe garbage", b"<annotations><image", b"<annotation/>", b""])
def test_garbage_is_one_line(tmp_path: Path, garbage: bytes) -> None:
    (tmp_path / "annotations.xml").write_bytes(garbage)
    message = _fails(tmp_path, "annotations.xml")
    assert "Traceback" not in message


def test_an_image_twice_is_a_finding(tmp_path: Path) -> None:
    one = '<image id="{}" name="a.jpg" width="4" height="4"><box label="car" xtl="0" ytl="0" xbr="1" ybr="1"/></image>\n'
    _write(tmp_path, one.format(0) + one.format(1))
    _fails(tmp_path, "is labelled twice")
    ds = svmlp.read(tmp_path, format="cvat", strict=False, probe=False)
    assert len(ds.images) == 1 and len(ds.boxes) == 1
    assert [c for c, _ in ds.read_issues] == ["duplicate_file"]


def test_sniff(tmp_path: Path) -> None:
    _write(tmp_path / "task", "", name="train.xml")
    assert (
        cvat.sniff(tmp_path / "task") is not None and cvat.sniff(tmp_path / "task" / "train.xml") is not None
    )
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    assert cvat.sniff(tmp_path / "voc") is None and cvat.sniff(tmp_path / "voc" / "a.xml") is None
    _write(tmp_path / "voc", "", name="b.xml")  # a stray CVAT file in a VOC folder: still VOC
    assert cvat.sniff(tmp_path / "voc") is None
