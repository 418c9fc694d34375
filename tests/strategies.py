"""Hypothesis strategies: random valid data sets, every feature a format must carry."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from svmlp.model import BoxTable, Category, Dataset, ImageTable

_NAME_CHARS = st.characters(
    whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" -_.()&'", max_codepoint=0x24F
)
_SPLITS = ("train", "val", "test", "extra")
#: a labelling tool's per-box attributes: mostly none, else a few names of each value type
_ATTRIBUTES = st.none() | st.dictionaries(
    st.sampled_from(["color", "z_order", "country", "Plate type", "weight"]),
    st.text(_NAME_CHARS, max_size=6) | st.integers(-5, 5) | st.booleans() | st.floats(-1e6, 1e6),
    max_size=3,
)


@st.composite
def categories(draw: st.DrawFn) -> list[Category]:
    n = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            st.text(_NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    roles = ["parent", "child"] + [None] * (n - 2) if n >= 2 else [None]
    return [
        Category(i, nm, draw(st.sampled_from(["", "vehicle", "thing"])), r)
        for i, nm, r in zip(ids, names, roles)
    ]


@st.composite
def datasets(draw: st.DrawFn, *, crowd: bool = True, text: bool = True, attributes: bool = True) -> Dataset:
    """A valid data set. File stems are unique across splits (VOC keeps all images in one folder);
    boxes lie inside their image (YOLO clips at the border)."""
    cats = draw(categories())
    n_img = draw(st.integers(1, 6))
    stems = draw(
        st.lists(
            st.text(_NAME_CHARS, min_size=1, max_size=10)
            .map(str.strip)
            .filter(lambda s: s and not s.startswith(".")),
            min_size=n_img,
            max_size=n_img,
            unique_by=str.lower,
        )
    )
    folder = draw(st.sampled_from(["", "sub dir/"]))
    names = [f"{folder}{s}.{draw(st.sampled_from(['jpg', 'png', 'jpeg']))}" for s in stems]
    splits = [draw(st.sampled_from(_SPLITS)) for _ in range(n_img)]
    sizes = [(draw(st.integers(1, 4000)), draw(st.integers(1, 4000))) for _ in range(n_img)]
    labelled = [draw(st.booleans()) or i == 0 for i in range(n_img)]
    cols: dict[str, list] = {
        k: [] for k in ("image", "category", "xyxy", "iscrowd", "parent", "text", "attributes")
    }
    for i in range(n_img):
        if not labelled[i]:
            continue
        w, h = sizes[i]
        first = len(cols["image"])
        for _ in range(draw(st.integers(0, 5))):
            # drawn as COCO [x, y, w, h]: every box a COCO file can hold (an arbitrary float x1 may
            # have no float w with x0 + w == x1; then COCO is within one ulp, not exact)
            x0, bw = draw(st.floats(0, w / 2)), draw(st.floats(0, w / 2))
            y0, bh = draw(st.floats(0, h / 2)), draw(st.floats(0, h / 2))
            x, y = (x0, x0 + bw), (y0, y0 + bh)
            cat = draw(st.integers(0, len(cats) - 1))
            cols["image"].append(i)
            cols["category"].append(cat)
            cols["xyxy"].append((x[0], y[0], x[1], y[1]))
            cols["iscrowd"].append(
                crowd and cats[cat].role is None and draw(st.booleans()) and draw(st.booleans())
            )
            cols["text"].append(
                draw(st.text("ABC 123", max_size=8)).strip() if text and cats[cat].role == "child" else ""
            )
            cols["parent"].append(-1)
            cols["attributes"].append(draw(_ATTRIBUTES) if attributes else None)
        rows = range(first, len(cols["image"]))
        parents = [r for r in rows if cats[cols["category"][r]].role == "parent" and not cols["iscrowd"][r]]
        for r in rows:
            if cats[cols["category"][r]].role == "child" and parents and draw(st.booleans()):
                cols["parent"][r] = draw(st.sampled_from(parents))
    n_box = len(cols["image"])
    images = ImageTable.build(
        id=draw(st.lists(st.integers(0, 10**9), min_size=n_img, max_size=n_img, unique=True)),
        file_name=names,
        split=splits,
        width=[s[0] for s in sizes],
        height=[s[1] for s in sizes],
        labelled=labelled,
    )
    boxes = BoxTable.build(
        id=draw(st.lists(st.integers(1, 10**9), min_size=n_box, max_size=n_box, unique=True)),
        image=cols["image"],
        category=cols["category"],
        xyxy=np.array(cols["xyxy"], dtype=float).reshape(-1, 4),
        iscrowd=cols["iscrowd"],
        parent=cols["parent"],
        text=cols["text"] if any(cols["text"]) else None,
        attributes=cols["attributes"] if any(cols["attributes"]) else None,
    )
    return Dataset(cats, images, boxes)


@st.composite
def oriented_datasets(draw: st.DrawFn, *, inside: bool = True) -> Dataset:
    """A valid data set whose boxes carry four ``corners`` (an oriented box: a quadrilateral
    turned by up to ±45° about the box's centre, scaled to fit in it when ``inside``), some
    boxes without; the box itself stays as drawn, so it is not always its corners' bounds."""
    ds = draw(datasets())
    b, n = ds.boxes, len(ds.boxes)
    corners = np.full((n, 4, 2), np.nan)
    for r in range(n):
        if not draw(st.booleans()):
            continue
        x0, y0, x1, y1 = b.xyxy[r].tolist()
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        t = np.deg2rad(draw(st.floats(-45, 45)))
        unit = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=np.float64) * (hw, hh)
        turned = unit @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        if inside:  # shrink into the box, so the corners lie in the image as the box does
            reach = np.abs(turned).max(axis=0)
            turned *= min([1.0, *(h / m for h, m in zip((hw, hh), reach) if m > 0)])
        corners[r] = turned + (cx, cy)
    if np.isnan(corners).all():
        return ds
    return ds.replace(boxes=BoxTable(**{**b.__dict__, "corners": corners}))
