"""The defaults of :func:`svmlp.links.link_plates`, in a module of their own so that the command
line's ``--help`` shows them without importing the linker (and numpy)."""

from __future__ import annotations

__all__ = ["MARGIN", "MAX_PLATES", "MIN_INSIDE"]

#: Share of a plate inside a vehicle for the vehicle to be a candidate, in (0, 1].
MIN_INSIDE = 0.5
#: Plates one vehicle may carry.
MAX_PLATES = 2
#: Candidates whose shares are this close to the best are near-equal, in [0, 1].
MARGIN = 0.1
