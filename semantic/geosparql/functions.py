"""GeoSPARQL query functions and geometry properties as SQLAlchemy Core expressions for PostGIS.

:data:`FUNCTIONS` maps each IRI the rewriter may meet (``geof:`` functions, ``geo:`` geometry properties and
``geo:`` topology properties) to a :class:`FunctionSpec`: how to build the SQL, the kinds of its arguments and the
kind of its result. Geometry arguments are SQL expressions of PostGIS ``geometry`` in SRID 4326, longitude/latitude
(docs/sparql.md); constant literals become bound parameters (:func:`~semantic.geosparql.literals.geometry_param`).

Metric units (metre and its multiples) are computed on the WGS 84 ellipsoid through ``geography``; angular units
(degree, radian) are planar in longitude/latitude degrees, the CRS of the arguments (the standard computes "in the
spatial reference system of geom1"). Set operations (intersection, union, envelope, ...) are planar in
longitude/latitude, like every Simple Features implementation working in CRS84. IRIs that are deliberately not
translated are listed in :data:`UNSUPPORTED` with the reason; :func:`function` raises
:class:`~semantic.geosparql.literals.UnsupportedFunction` for them and for any unknown IRI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry

from semantic.geosparql.literals import (
    CRS84,
    GEO,
    GEOF,
    GEOJSON_LITERAL,
    GEOMETRY,
    GML_LITERAL,
    WKT_LITERAL,
    InvalidArgument,
    UnsupportedFunction,
    as_geojson,
    as_gml,
    as_wkt,
    geometry_param,
    sql_function,
)
from semantic.geosparql.measures import area, buffer, distance, length, perimeter
from semantic.geosparql.relations import RELATE, RELATION_LIST, Relation, relate
from semantic.geosparql.units import METRE, UNITS, unit
from semantic.sql import case
from semantic.vocab import XSD_BOOLEAN, XSD_DOUBLE, XSD_INTEGER, XSD_STRING

Expr = sa.ColumnElement[Any]


class ArgKind(StrEnum):
    """What a function argument must be."""

    GEOMETRY = "geometry"
    """A geometry: a SQL expression (or a shapely geometry, bound as a parameter)."""
    NUMBER = "number"
    """A number: a SQL expression or a Python int/float (its domain is checked in SQL)."""
    INTEGER = "integer"
    """An integer: a SQL expression or a Python int."""
    UNITS = "units"
    """A units-of-measure IRI, constant (a Python str): the SQL differs per unit."""
    PATTERN = "pattern"
    """A DE-9IM pattern: a Python str (checked now) or a SQL text expression (checked in SQL)."""


class ResultKind(StrEnum):
    """What a function returns; :data:`RESULT_DATATYPES` gives the RDF datatype of the literal kinds."""

    BOOLEAN = "boolean"
    GEOMETRY = "geometry"
    DOUBLE = "double"
    INTEGER = "integer"
    IRI = "iri"
    STRING = "string"
    WKT = "wkt"
    GEOJSON = "geojson"
    GML = "gml"


RESULT_DATATYPES: dict[ResultKind, str | None] = {
    ResultKind.BOOLEAN: XSD_BOOLEAN,
    # a geometry value is written in the serialisation of the function's first argument (semantic/sparql/geo.py);
    # this is the datatype where that is not known (a computed geometry)
    ResultKind.GEOMETRY: WKT_LITERAL,
    ResultKind.DOUBLE: XSD_DOUBLE,
    ResultKind.INTEGER: XSD_INTEGER,
    ResultKind.IRI: None,  # an IRI, not a literal
    ResultKind.STRING: XSD_STRING,
    ResultKind.WKT: WKT_LITERAL,
    ResultKind.GEOJSON: GEOJSON_LITERAL,
    ResultKind.GML: GML_LITERAL,
}
"""RDF datatype of each result kind's literals (``None``: the result is an IRI)."""


# -- SQL helpers -----------------------------------------------------------------------------------------------


def _double(name: str, *args: Any) -> Expr:
    return sql_function(name, *args, type_=sa.Double())


def _geometry(name: str, *args: Any) -> Expr:
    return sql_function(name, *args, type_=GEOMETRY)


def _has_z(g: Expr) -> Expr:
    # ST_Zmflag: 0 2D, 1 M, 2 Z, 3 ZM
    return sql_function("ST_Zmflag", g, type_=sa.SmallInteger()).in_([2, 3])


# -- builders --------------------------------------------------------------------------------------------------


def get_srid(g: Expr) -> Expr:
    """geof:getSRID: the CRS IRI of ``g``; CRS84 for every geometry in SQL (NULL for NULL)."""
    crs = sa.bindparam(None, CRS84, type_=sa.Text(), unique=True)
    return case((g.is_(None), sa.null()), else_=crs)


def spatial_dimension(g: Expr) -> Expr:
    """geo:spatialDimension: coordinates that locate a point in space, i.e. the coordinate dimension without M
    (GeoSPARQL: "if the direct positions do not carry a measure coordinate, equal to the coordinate dimension")."""
    return case((g.is_(None), sa.null()), (_has_z(g), 3), else_=2)


def _z_bound(name: str) -> Callable[[Expr], Expr]:
    def build(g: Expr) -> Expr:
        return case((_has_z(g), _double(name, g)), else_=sa.null())

    build.__doc__ = f"``{name}(g)``, NULL (no value) for a geometry without Z."
    return build


def _unary(name: str, type_: Any) -> Callable[[Expr], Expr]:
    def build(g: Expr) -> Expr:
        return sql_function(name, g, type_=type_)

    build.__doc__ = f"``{name}(g)``."
    return build


def _binary(name: str) -> Callable[[Expr, Expr], Expr]:
    def build(a: Expr, b: Expr) -> Expr:
        return _geometry(name, a, b)

    build.__doc__ = f"``{name}(a, b)``, planar in longitude/latitude."
    return build


def geometry_n(g: Expr, n: Expr) -> Expr:
    """geof:geometryN: the ``n``-th member of ``g``, counting from 1 as Simple Features does."""
    return _geometry("ST_GeometryN", g, n)


# -- the registry ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """How one GeoSPARQL IRI becomes SQL.

    Attributes:
        iri: The ``geof:`` function or ``geo:`` property IRI.
        build: Called with the checked arguments: SQL expressions, a :class:`Unit` for units, a ``str`` or SQL
            for a pattern.
        args: The kinds of the arguments, in order.
        result: The kind of the result.
        optional: How many trailing arguments may be left out.
    """

    iri: str
    build: Callable[..., Expr]
    args: tuple[ArgKind, ...]
    result: ResultKind
    optional: int = 0

    @property
    def is_property(self) -> bool:
        """Whether the IRI is a ``geo:`` property (used as a triple pattern predicate) rather than a function."""
        return self.iri.startswith(GEO)

    @property
    def datatype(self) -> str | None:
        """The RDF datatype of the result (``None``: an IRI)."""
        return RESULT_DATATYPES[self.result]

    def __call__(self, *args: Any) -> Expr:
        """The SQL expression of this function applied to ``args``.

        Raises:
            InvalidArgument: Wrong number of arguments, a non-constant or unknown units IRI, an invalid constant
                DE-9IM pattern or number.
        """
        low, high = len(self.args) - self.optional, len(self.args)
        if not low <= len(args) <= high:
            expected = str(high) if low == high else f"{low} to {high}"
            raise InvalidArgument(f"<{self.iri}> takes {expected} arguments, got {len(args)}")
        return self.build(*(_argument(self.iri, kind, arg) for kind, arg in zip(self.args, args, strict=False)))


def _argument(iri: str, kind: ArgKind, value: Any) -> Any:
    if kind is ArgKind.UNITS:
        return unit(value)
    if kind is ArgKind.PATTERN:
        return value
    if kind is ArgKind.GEOMETRY:
        if isinstance(value, BaseGeometry):
            return geometry_param(value)
        if not isinstance(value, sa.ColumnElement):
            raise InvalidArgument(f"<{iri}>: a geometry argument must be a SQL expression, got {value!r}")
        return value
    sql_type: Any = sa.Double() if kind is ArgKind.NUMBER else sa.Integer()
    if isinstance(value, sa.ColumnElement):
        return sa.cast(value, sql_type)
    ok = isinstance(value, int) if kind is ArgKind.INTEGER else isinstance(value, int | float)
    if not ok or isinstance(value, bool):
        raise InvalidArgument(f"<{iri}>: expected a {kind.value}, got {value!r}")
    # a number out of a function's domain (NaN, infinite, too large) is checked in SQL, where it is used: an
    # expression error there, whether it was written in the query or computed
    return sa.bindparam(None, value, type_=sql_type, unique=True)


def _specs() -> list[FunctionSpec]:
    G, N, U = ArgKind.GEOMETRY, ArgKind.NUMBER, ArgKind.UNITS
    R = ResultKind
    specs: list[FunctionSpec] = []

    def add(
        names: tuple[str, ...], build: Callable[..., Expr], args: tuple[ArgKind, ...], result: ResultKind, **kw: Any
    ) -> None:
        specs.extend(FunctionSpec(name, build, args, result, **kw) for name in names)

    def topology(rel: Relation) -> Callable[[Expr, Expr], Expr]:
        return rel.sql

    for rel in RELATION_LIST:
        add((rel.function_iri, rel.property_iri), topology(rel), (G, G), R.BOOLEAN)
    add((RELATE,), relate, (G, G, ArgKind.PATTERN), R.BOOLEAN)

    add((GEOF + "distance",), distance, (G, G, U), R.DOUBLE)
    add((GEOF + "buffer",), buffer, (G, N, U), R.GEOMETRY)
    add((GEOF + "area",), area, (G, U), R.DOUBLE, optional=1)
    add((GEOF + "length",), length, (G, U), R.DOUBLE, optional=1)
    add((GEOF + "perimeter",), perimeter, (G, U), R.DOUBLE, optional=1)
    add((GEOF + "metricDistance",), lambda a, b: distance(a, b, UNITS[METRE]), (G, G), R.DOUBLE)
    add((GEOF + "metricBuffer",), lambda g, r: buffer(g, r, UNITS[METRE]), (G, N), R.GEOMETRY)
    add((GEOF + "metricArea",), area, (G,), R.DOUBLE)
    add((GEOF + "metricLength",), length, (G,), R.DOUBLE)
    add((GEOF + "metricPerimeter",), perimeter, (G,), R.DOUBLE)

    for name, sql in [
        ("envelope", "ST_Envelope"),
        ("convexHull", "ST_ConvexHull"),
        ("boundary", "ST_Boundary"),
        ("centroid", "ST_Centroid"),
    ]:
        add((GEOF + name,), _unary(sql, GEOMETRY), (G,), R.GEOMETRY)
    for name, sql in [
        ("intersection", "ST_Intersection"),
        ("union", "ST_Union"),
        ("difference", "ST_Difference"),
        ("symDifference", "ST_SymDifference"),
    ]:
        add((GEOF + name,), _binary(sql), (G, G), R.GEOMETRY)
    add((GEOF + "geometryN",), geometry_n, (G, ArgKind.INTEGER), R.GEOMETRY)
    add((GEOF + "numGeometries",), _unary("ST_NumGeometries", sa.Integer()), (G,), R.INTEGER)
    for name, sql in [("minX", "ST_XMin"), ("maxX", "ST_XMax"), ("minY", "ST_YMin"), ("maxY", "ST_YMax")]:
        add((GEOF + name,), _unary(sql, sa.Double()), (G,), R.DOUBLE)
    add((GEOF + "minZ",), _z_bound("ST_ZMin"), (G,), R.DOUBLE)
    add((GEOF + "maxZ",), _z_bound("ST_ZMax"), (G,), R.DOUBLE)
    add((GEOF + "getSRID",), get_srid, (G,), R.IRI)

    # geometry properties (GeoSPARQL 1.0) and their 1.1 function forms
    add((GEOF + "dimension", GEO + "dimension"), _unary("ST_Dimension", sa.Integer()), (G,), R.INTEGER)
    add((GEO + "coordinateDimension",), _unary("ST_CoordDim", sa.Integer()), (G,), R.INTEGER)
    add((GEO + "spatialDimension",), spatial_dimension, (G,), R.INTEGER)
    add((GEOF + "isEmpty", GEO + "isEmpty"), _unary("ST_IsEmpty", sa.Boolean()), (G,), R.BOOLEAN)
    add((GEOF + "isSimple", GEO + "isSimple"), _unary("ST_IsSimple", sa.Boolean()), (G,), R.BOOLEAN)
    add((GEOF + "asWKT", GEO + "asWKT", GEO + "hasSerialization"), as_wkt, (G,), R.WKT)
    add((GEOF + "asGeoJSON", GEO + "asGeoJSON"), as_geojson, (G,), R.GEOJSON)
    add((GEOF + "asGML", GEO + "asGML"), as_gml, (G,), R.GML)
    return specs


FUNCTIONS: dict[str, FunctionSpec] = {spec.iri: spec for spec in _specs()}
"""Every translated GeoSPARQL function and property, by IRI."""

_AGGREGATE = "an aggregate, not a scalar function: the SPARQL aggregate translation does not handle it"
_SERIALIZATION = "only WKT, GeoJSON and GML serializations are produced"

UNSUPPORTED: dict[str, str] = {
    GEOF + "transform": "geometries in SQL are always CRS84; a geometry in another CRS has no term representation",
    GEOF + "concaveHull": "targetPercent is not defined precisely enough to map to ST_ConcaveHull's ratio",
    GEOF + "boundingCircle": "PostGIS 3.3's ST_MinimumBoundingCircle returns rings that are not exactly closed",
    GEOF + "union2": "not defined precisely by the standard",
    GEOF + "concatLines": "not defined precisely by the standard",
    GEOF + "asKML": _SERIALIZATION,
    GEOF + "asDGGS": _SERIALIZATION,
    GEO + "asKML": _SERIALIZATION,
    GEO + "asDGGS": _SERIALIZATION,
    **{
        GEOF + name: _AGGREGATE
        for name in (
            "aggBoundingBox",
            "aggBoundingCircle",
            "aggCentroid",
            "aggConcaveHull",
            "aggConvexHull",
            "aggUnion",
        )
    },
}
"""GeoSPARQL IRIs deliberately left untranslated, with the reason."""


def function(iri: str) -> FunctionSpec:
    """The spec of a GeoSPARQL function or property IRI.

    Raises:
        UnsupportedFunction: ``iri`` is listed in :data:`UNSUPPORTED` (the message gives the reason) or unknown.
    """
    spec = FUNCTIONS.get(iri)
    if spec is None:
        if iri in UNSUPPORTED:
            raise UnsupportedFunction(iri, UNSUPPORTED[iri])
        raise UnsupportedFunction(iri)
    return spec


def call(iri: str, *args: Any) -> Expr:
    """``function(iri)(*args)``: the SQL expression of a GeoSPARQL function or property applied to ``args``.

    Raises:
        UnsupportedFunction: ``iri`` is not translated.
        InvalidArgument: The arguments do not fit (see :meth:`FunctionSpec.__call__`).
    """
    return function(iri)(*args)
