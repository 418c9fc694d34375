"""The columnar data model: categories, an image table and a box table (DESIGN.md §2)."""

from __future__ import annotations

from svmlp.model.categories import ROLE_ALIASES, Category, categories_from_names, normalise_name, role_for
from svmlp.model.dataset import SPLIT_ORDER, BoxRecord, Dataset, ImageRecord, sort_splits
from svmlp.model.paths import Inputs
from svmlp.model.predictions import PredictionRecord, Predictions, load_predictions, read_prediction_records
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
    "PredictionRecord",
    "Predictions",
    "categories_from_names",
    "concat_tables",
    "load_predictions",
    "normalise_name",
    "read_prediction_records",
    "role_for",
    "sort_splits",
]
