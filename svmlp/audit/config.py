"""The audit's thresholds and severities: named, with defaults, overridable by a TOML file.

[thresholds]
min_box_size = 6          # px: the shorter side of a smaller box is flagged
duplicate_iou = 0.9

[severity]
vehicle_without_plate = "warning"

[checks]
near_duplicates_within_split = false   # do not run this check
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svmlp._files import read_file
from svmlp.audit.issues import SEVERITIES
from svmlp.errors import UsageError
from svmlp.links import MAX_PLATES, MIN_INSIDE

__all__ = ["CHECKS", "THRESHOLDS", "AuditConfig", "load_config"]

#: name: (default, what it means)
THRESHOLDS: dict[str, tuple[float | int | bool, str]] = {
    "decode_images": (True, "decode every image fully (finds truncated JPEGs; the slowest part)"),
    "border_tolerance": (1.0, "px a box may reach past the image border before it is flagged"),
    "min_box_size": (2.0, "px: boxes whose shorter side is smaller are flagged"),
    "whole_image_share": (0.98, "a box covering at least this share of its image is flagged"),
    "plate_aspect_min": (0.8, "a plate's width / height below this is flagged"),
    "plate_aspect_max": (8.0, "a plate's width / height above this is flagged"),
    "duplicate_iou": (0.85, "same-class boxes of one image overlapping this much (IoU) are duplicates"),
    # the linker's own defaults: the audit links as `svmlp link` does unless told otherwise
    "min_inside": (MIN_INSIDE, "share of a plate inside a vehicle for the vehicle to carry it (linking)"),
    "max_plates": (MAX_PLATES, "plates one vehicle may carry"),
    "plate_inside_parent": (0.98, "a linked plate with less of itself inside its vehicle is flagged"),
    "plate_max_share": (0.35, "a plate larger than this share of its vehicle's area is flagged"),
    "confusion_z": (4.0, "robust distance from its own class's size and shape for a class-confusion flag"),
    "outlier_z": (3.5, "robust z-score of plate area / vehicle area for a size outlier"),
    "large_vehicle_side": (
        96.0,
        "px: vehicles whose shorter side is at least this and carry no plate are listed",
    ),
    "near_duplicate_bits": (4, "differing bits (of 64) of the perceptual hash for near-duplicate images"),
    "prediction_min_score": (0.5, "predictions below this score are ignored"),
    "prediction_match_iou": (0.5, "IoU for a prediction to match a labelled box"),
    "misplaced_iou": (0.7, "a matched box with IoU below this to its prediction is badly placed"),
    "misplaced_min_iou": (
        0.1,
        "a box and the prediction paired with it (one to one, best IoU first) overlapping at least "
        "this but below misplaced_iou: the box is badly placed",
    ),
}

#: check: (default severity, what it finds)
CHECKS: dict[str, tuple[str, str]] = {
    "missing_image": ("error", "an image the labels refer to is not on disk"),
    "undecodable_image": ("error", "an image that does not decode fully (truncated JPEGs included)"),
    "size_mismatch": ("error", "the size the labels state differs from the image's (EXIF turn included)"),
    "duplicate_id": ("error", "an image or box id that appears twice"),
    "duplicate_file": ("error", "an image file listed twice in one split"),
    "stem_collision": ("warning", "two images of one folder whose names differ only by extension"),
    "orphan_label": ("error", "a label file with no image"),
    "invalid_dataset": ("error", "a rule of the data model broken (see the message)"),
    "schema": ("error", "a native annotation file that does not validate against its schema"),
    "unlabelled_image": ("info", "an image with no label file at all (not a verified negative)"),
    "nonfinite_box": (
        "error",
        "a box with a coordinate that is not a finite number, or beyond any image (over 2^31 px)",
    ),
    "degenerate_box": ("error", "a box with zero or negative width or height"),
    "box_past_border": ("warning", "a box reaching past the image border"),
    "tiny_box": ("warning", "a box smaller than min_box_size"),
    "whole_image_box": (
        "warning",
        "a box covering (nearly) the whole image: an image-level label saved as a box?",
    ),
    "plate_aspect": ("warning", "a plate whose width / height is implausible"),
    "duplicate_box": ("warning", "two same-class boxes of one image that overlap almost entirely"),
    "orphan_plate": ("warning", "a plate that lies in no vehicle"),
    "ambiguous_plate": ("info", "a plate that two separate vehicles could carry"),
    "plate_outside_vehicle": ("warning", "a plate partly outside the vehicle it is linked to"),
    "too_many_plates": ("warning", "a vehicle carrying more than max_plates plates"),
    "plate_too_large": ("warning", "a plate larger than plate_max_share of its vehicle"),
    "class_confusion": ("warning", "a box whose size and shape belong to the other class"),
    "vehicle_without_plate": ("info", "a large vehicle fully in view that carries no plate"),
    "plate_size_outlier": ("warning", "plate area / vehicle area far from the data set's norm"),
    "identical_images_across_splits": ("error", "the same image file in two splits (leakage)"),
    "identical_images_within_split": ("warning", "the same image file twice in one split"),
    "near_duplicates_across_splits": ("warning", "near-identical images in two splits (leakage)"),
    "near_duplicates_within_split": ("info", "near-identical images in one split"),
    "missed_box": ("warning", "a confident prediction that matches no labelled box"),
    "misplaced_box": ("warning", "a labelled box its matching prediction overlaps only partly"),
    "swapped_class": ("warning", "a labelled box a confident prediction of another class covers"),
}


@dataclass
class AuditConfig:
    thresholds: dict[str, Any] = field(default_factory=lambda: {k: v for k, (v, _) in THRESHOLDS.items()})
    severity: dict[str, str] = field(default_factory=lambda: {k: v for k, (v, _) in CHECKS.items()})
    enabled: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(CHECKS, True))

    def __getitem__(self, name: str) -> Any:
        return self.thresholds[name]


def load_config(path: Path | None = None, *, overrides: dict[str, Any] | None = None) -> AuditConfig:
    """The defaults, then a TOML file's ``[thresholds]``, ``[severity]`` and ``[checks]``, then
    ``overrides``; an unknown name or a value of the wrong type is a :class:`UsageError` naming it."""
    config = AuditConfig()
    doc: dict[str, Any] = {}
    if path is not None:
        doc = _read_toml(path)
    unknown = set(doc) - {"thresholds", "severity", "checks"}
    if unknown:
        raise UsageError(
            f"{path}: unknown section [{sorted(unknown)[0]}]; expected [thresholds], [severity], [checks]"
        )
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: {section} must be a table ([{section}] with name = value lines)")
    for name, value in {**doc.get("thresholds", {}), **(overrides or {})}.items():
        config.thresholds[name] = _threshold(path, name, value)
    for name, value in doc.get("severity", {}).items():
        _known(path, "severity", name, CHECKS)
        if value not in SEVERITIES:
            raise UsageError(
                f"{path}: [severity] {name} = {value!r}; expected one of {', '.join(SEVERITIES)}"
            )
        config.severity[name] = value
    for name, value in doc.get("checks", {}).items():
        _known(path, "checks", name, CHECKS)
        if not isinstance(value, bool):
            raise UsageError(f"{path}: [checks] {name} = {value!r}; expected true or false")
        config.enabled[name] = value
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    data = read_file(path, limit=1 << 20, error=UsageError, what="TOML configuration")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: malformed TOML ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: TOML nested too deeply") from None
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        raise UsageError(f"{path}: {exc}") from None


def _known(path: Path | None, section: str, name: str, table: dict[str, Any]) -> None:
    if name not in table:
        raise UsageError(
            f"{path}: [{section}] {name}: no such {'check' if section != 'thresholds' else 'threshold'}; "
            f"expected one of {', '.join(sorted(table))}"
        )


def _threshold(path: Path | None, name: str, value: Any) -> Any:
    _known(path, "thresholds", name, THRESHOLDS)
    default = THRESHOLDS[name][0]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise UsageError(f"{path}: [thresholds] {name} = {value!r}; expected a {type(default).__name__}")
    if not isinstance(value, bool):
        top = 64 if name.endswith("_bits") else 1_000_000
        if not (math.isfinite(value) and 0 <= value <= top):
            raise UsageError(f"{path}: [thresholds] {name} = {value!r}; expected a number from 0 to {top}")
    return value
