"""The columnar data model: categories, an image table and a box table (DESIGN.md §2)."""

from __future__ import annotations

from svmlp.model.categories import ROLE_ALIASES, Category, categories_from_names, normalise_name, role_for
from svmlp.model.dataset import SPLIT_ORDER, BoxRecord, Dataset, ImageRecord, sort_splits
from svmlp.model.paths import Inputs
from svmlp.model.tables import BoxTable, ImageTable, concat_tables

__all__ = [
    "ROLE_ALIASES",
    "SPLIT_ORDER",
    "BoxRecord",
    "BoxTable",
    "Category",
    "Dataset",
    "ImageRecord",
    "ImageTable",
    "Inputs",
    "categories_from_names",
    "concat_tables",
    "normalise_name",
    "role_for",
    "sort_splits",
]
