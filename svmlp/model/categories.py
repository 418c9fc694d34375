"""Categories and the alias table that gives each class name its role (vehicle or plate)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["parent", "child"]
ROLES: tuple[str, ...] = ("parent", "child")

#: Class names (normalised: lower case, separators removed) that mean a vehicle (``parent``)
#: or a licence plate (``child``). One table, so every reader agrees.
ROLE_ALIASES: Mapping[str, Role] = {
    **dict.fromkeys(
        (
            "vehicle",
            "vehicles",
            "car",
            "cars",
            "truck",
            "bus",
            "van",
            "suv",
            "pickup",
            "taxi",
            "motorcycle",
            "motorbike",
            "moped",
            "scooter",
            "lorry",
            "trailer",
            "automobile",
            "smallvehicle",
            "largevehicle",
            "minivan",
            "jeep",
            "landvehicle",
        ),
        "parent",
    ),
    **dict.fromkeys(
        (
            "plate",
            "plates",
            "licenseplate",
            "licenseplates",
            "licenceplate",
            "licenceplates",
            "license",
            "licence",
            "numberplate",
            "numberplates",
            "lp",
            "lpr",
            "carplate",
            "vehicleplate",
            "registrationplate",
            "vehicleregistrationplate",
            "platenumber",
        ),
        "child",
    ),
}

_SEPARATORS = re.compile(r"[\s_\-./]+")


def normalise_name(name: str) -> str:
    """The key a class name is looked up under in :data:`ROLE_ALIASES`.

    >>> normalise_name("License_Plate")
    'licenseplate'
    """
    return _SEPARATORS.sub("", name.strip().lower())


def role_for(name: str, overrides: Mapping[str, Role | None] | None = None) -> Role | None:
    """The role of a class name: ``parent`` (vehicle), ``child`` (plate) or ``None``.

    ``overrides`` maps exact class names to roles and wins over the alias table.

    >>> role_for("license-plate"), role_for("Vehicle"), role_for("dog")
    ('child', 'parent', None)
    """
    if overrides and name in overrides:
        return overrides[name]
    return ROLE_ALIASES.get(normalise_name(name))


@dataclass(frozen=True)
class Category:
    """One class. ``id`` is the source's own id, never renumbered."""

    id: int
    name: str
    supercategory: str = ""
    role: Role | None = None


def categories_from_names(
    names: Iterable[str], *, start: int = 0, overrides: Mapping[str, Role | None] | None = None
) -> tuple[Category, ...]:
    """Categories numbered from ``start`` in the given order, roles from the alias table.

    >>> [c.id for c in categories_from_names(["plate", "vehicle"])]
    [0, 1]
    """
    return tuple(
        Category(id=start + i, name=name, role=role_for(name, overrides)) for i, name in enumerate(names)
    )
