"""The measures of GeoSPARQL in SQL: geof:distance, geof:buffer, geof:area, geof:length, geof:perimeter.

Length units (metre and its multiples) are computed on the WGS 84 ellipsoid through ``geography``; angle units
(degree, radian) are planar in longitude/latitude degrees, the CRS of the arguments (the standard computes "in
the spatial reference system of geom1"); docs/sparql.md, "Distances and units".
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geography, Geometry

from semantic.geosparql.literals import GEOMETRY, sql_function
from semantic.geosparql.units import Unit
from semantic.sql import case

Expr = sa.ColumnElement[Any]

_GEOGRAPHY_CAST = Geography(geometry_type=None)  # renders as plain ``geography``
_GEOMETRY_CAST = Geometry(geometry_type=None)  # renders as plain ``geometry``


def _geography(g: Expr) -> Expr:
    return sa.cast(g, _GEOGRAPHY_CAST)


def _to_geometry(geog: Expr) -> Expr:
    """A geography expression back to geometry (SRID 4326 is kept), typed as our geometries."""
    return sa.type_coerce(sa.cast(geog, _GEOMETRY_CAST), GEOMETRY)


def _double(name: str, *args: Any) -> Expr:
    return sql_function(name, *args, type_=sa.Double())


def _geometry(name: str, *args: Any) -> Expr:
    return sql_function(name, *args, type_=GEOMETRY)


def _scaled(value: Expr, divisor: float) -> Expr:
    """``value / divisor``, or ``value`` itself for 1."""
    return value if divisor == 1 else value / sa.bindparam(None, divisor, type_=sa.Double(), unique=True)


def _times(value: Expr, factor: float) -> Expr:
    return value if factor == 1 else value * sa.bindparam(None, factor, type_=sa.Double(), unique=True)


def _within(value: Expr, limit: float) -> Expr:
    """``value`` where it is a finite number of magnitude at most ``limit``, else NULL: an expression error.

    The check is in SQL because the value may be computed there (``?x * 1e308``, ``"NaN"^^xsd:double`` read from
    data): GEOS crashes the backend on a NaN radius. PostGIS functions are STRICT, so a NULL argument never
    reaches GEOS, even when the planner folds a constant expression. In PostgreSQL NaN sorts above every number,
    so ``abs(value) <= limit`` is false for NaN and both infinities.
    """
    bound: Expr = sa.bindparam(None, limit, type_=sa.Double(), unique=True)
    return case((sa.func.abs(value) <= bound, value), else_=sa.null()).cast(sa.Double())


MAX_BUFFER_METRES = 1.0e7
"""The largest buffer radius on the spheroid: 10,000 km, about a quarter of a meridian. PostGIS buffers geography
in a projection chosen for the geometry; past this the result stops meaning anything (its area shrinks) and
then fails ("Point outside of projection domain")."""
MAX_BUFFER_DEGREES = 360.0
"""The largest planar buffer radius in degrees of longitude/latitude (2π radians)."""


def distance(a: Expr, b: Expr, units: Unit) -> Expr:
    """geof:distance: the shortest distance between ``a`` and ``b`` in ``units``.

    Length units: ``ST_Distance(a::geography, b::geography)`` (on the WGS 84 spheroid) divided by the unit.
    Angle units: planar ``ST_Distance(a, b)`` in degrees of longitude/latitude (radians: times π/180).
    """
    if units.kind == "length":
        return _scaled(_double("ST_Distance", _geography(a), _geography(b)), units.factor)
    return _scaled(_double("ST_Distance", a, b), units.factor)


def buffer(g: Expr, radius: Expr, units: Unit) -> Expr:
    """geof:buffer: the points within ``radius`` (in ``units``) of ``g``.

    Length units: ``ST_Buffer(g::geography, metres)::geometry`` (PostGIS buffers in a suitable planar projection
    and transforms back). Angle units: planar ``ST_Buffer(g, degrees)`` in longitude/latitude.
    """
    if units.kind == "length":
        metres = _within(_times(radius, units.factor), MAX_BUFFER_METRES)
        return _to_geometry(sql_function("ST_Buffer", _geography(g), metres))
    return _geometry("ST_Buffer", g, _within(_times(radius, units.factor), MAX_BUFFER_DEGREES))


def area(g: Expr, units: Unit | None = None) -> Expr:
    """geof:area: the area of ``g``; square metres on the spheroid by default, else in square ``units``
    (angle units: planar square degrees)."""
    if units is None or units.kind == "length":
        return _scaled(_double("ST_Area", _geography(g)), (units.factor if units else 1.0) ** 2)
    return _scaled(_double("ST_Area", g), units.factor**2)


def length(g: Expr, units: Unit | None = None) -> Expr:
    """geof:length: the length of ``g`` (curves; 0 for points and surfaces), metres on the spheroid by default."""
    if units is None or units.kind == "length":
        return _scaled(_double("ST_Length", _geography(g)), units.factor if units else 1.0)
    return _scaled(_double("ST_Length", g), units.factor)


def perimeter(g: Expr, units: Unit | None = None) -> Expr:
    """geof:perimeter: the boundary length of the surfaces of ``g``, metres on the spheroid by default."""
    if units is None or units.kind == "length":
        return _scaled(_double("ST_Perimeter", _geography(g)), units.factor if units else 1.0)
    return _scaled(_double("ST_Perimeter", g), units.factor)
