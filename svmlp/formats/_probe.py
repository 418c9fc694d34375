"""Fill the header columns of a data set's image table from the image files that exist."""

from __future__ import annotations

import os

from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import Dataset

__all__ = ["probe_headers"]


def probe_headers(ds: Dataset) -> Dataset:
    """Read the header of every image that exists (missing ones stay 0); in place, returns ``ds``."""
    if not ds.roots or not len(ds.images):
        return ds
    roots = {split: os.fspath(root) for split, root in ds.roots.items()}
    paths = [
        None if (root := roots.get(split)) is None else os.path.join(root, name)
        for split, name in zip(ds.images.split.tolist(), ds.images.file_name.tolist())
    ]
    w, h, o = header_columns(read_headers(paths))
    ds.images.header_width, ds.images.header_height, ds.images.orientation = w, h, o
    return ds
