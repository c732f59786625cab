"""Units of measure for geof:distance, geof:buffer, geof:area, geof:length and geof:perimeter: the IRIs accepted
(OGC for GeoSPARQL 1.0, EPSG and QUDT for 1.1) and what each is worth in metres or degrees."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from semantic.geosparql.errors import InvalidArgument

_OGC_UOM = "http://www.opengis.net/def/uom/OGC/1.0/"
_EPSG_UOM = "http://www.opengis.net/def/uom/EPSG/0/"
_QUDT = "http://qudt.org/vocab/unit/"


@dataclass(frozen=True)
class Unit:
    """A unit of measure for distances and buffers.

    Attributes:
        iri: The unit's IRI.
        kind: ``length`` (computed on the ellipsoid, in metres) or ``angle`` (planar, in degrees).
        factor: Metres (length) or degrees (angle) in one unit.
    """

    iri: str
    kind: Literal["length", "angle"]
    factor: float


def _units() -> dict[str, Unit]:
    table: list[tuple[str, Literal["length", "angle"], float]] = [
        (_OGC_UOM + "metre", "length", 1.0),
        (_OGC_UOM + "degree", "angle", 1.0),
        (_OGC_UOM + "radian", "angle", 180 / math.pi),
        (_EPSG_UOM + "9001", "length", 1.0),
        (_EPSG_UOM + "9036", "length", 1000.0),
        (_EPSG_UOM + "9002", "length", 0.3048),
        (_EPSG_UOM + "9102", "angle", 1.0),
        (_EPSG_UOM + "9101", "angle", 180 / math.pi),
        (_QUDT + "M", "length", 1.0),
        (_QUDT + "KiloM", "length", 1000.0),
        (_QUDT + "FT", "length", 0.3048),
        (_QUDT + "MI", "length", 1609.344),
        (_QUDT + "DEG", "angle", 1.0),
        (_QUDT + "RAD", "angle", 180 / math.pi),
    ]
    return {iri: Unit(iri, kind, factor) for iri, kind, factor in table}


UNITS: dict[str, Unit] = _units()
"""Units IRIs accepted by geof:distance, geof:buffer, geof:area, geof:length: OGC (GeoSPARQL 1.0), EPSG, QUDT
(GeoSPARQL 1.1)."""


def unit(iri: object) -> Unit:
    """The unit a units argument names.

    Raises:
        InvalidArgument: ``iri`` is not a constant IRI string, or not a unit in :data:`UNITS`.
    """
    if not isinstance(iri, str):
        raise InvalidArgument("the units argument must be a constant IRI (uom:metre, uom:degree, uom:radian, ...)")
    try:
        return UNITS[iri]
    except KeyError:
        raise InvalidArgument(f"unsupported units IRI <{iri}>; known: {', '.join(sorted(UNITS))}") from None


METRE = _OGC_UOM + "metre"
"""The OGC metre, the unit of the geof:metric* functions."""
