"""GeoSPARQL geometry literals: reading geo:wktLiteral / geo:geoJSONLiteral / geo:gmlLiteral, writing them from SQL.

Every geometry the SQL side handles is a PostGIS ``geometry`` in SRID 4326 with longitude/latitude axis order
(docs/sparql.md, "RDF terms in SQL"). This module turns literal lexical forms into such geometries (as shapely
objects, then as bound parameters) and renders SQL geometry expressions back as literal lexical forms.

It re-exports the errors of :mod:`semantic.geosparql` (:mod:`~semantic.geosparql.errors`) and holds
:func:`sql_function`, the one way the package calls PostGIS functions. GML is read by :mod:`semantic.geosparql.gml`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy.sql.functions import Function

from semantic.geosparql.errors import GeoSparqlError, InvalidArgument, InvalidGeometryLiteral, UnsupportedFunction
from semantic.geosparql.geometry import CRS84, CRS84_IRIS, EPSG_4326, GeometryValue, checked, short, transform_for
from semantic.geosparql.gml import parse_gml_literal
from semantic.sql import case
from semantic.vocab import GEO, GEOF
from semantic.vocab import GEO_GEOJSON_LITERAL as GEOJSON_LITERAL
from semantic.vocab import GEO_GML_LITERAL as GML_LITERAL
from semantic.vocab import GEO_WKT_LITERAL as WKT_LITERAL

__all__ = [
    "CRS84",
    "CRS84_IRIS",
    "EPSG_4326",
    "GEO",
    "GEOF",
    "GEOJSON_LITERAL",
    "GEOMETRY",
    "GML_LITERAL",
    "WKT_LITERAL",
    "GeoSparqlError",
    "GeometryValue",
    "InvalidArgument",
    "InvalidGeometryLiteral",
    "UnsupportedFunction",
    "as_geojson",
    "as_gml",
    "as_wkt",
    "geometry_param",
    "literal_geometry",
    "parse_geojson_literal",
    "parse_geometry_literal",
    "parse_wkt_literal",
    "sql_function",
    "to_ewkb",
]


_GEOJSON_CRS84 = frozenset({"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", *CRS84_IRIS})
_GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)

GEOMETRY = Geometry(srid=4326)
"""SQLAlchemy type of the geometry expressions built here (PostGIS ``geometry``, SRID 4326, lon/lat)."""


def sql_function(name: str, *args: Any, type_: Any = None) -> sa.ColumnElement[Any]:
    """A call of the SQL function ``name`` with a declared result type.

    Built as a plain :class:`~sqlalchemy.sql.functions.Function`, bypassing the function classes geoalchemy2
    registers under ``sa.func`` (which add arguments of their own, e.g. an SRID to ``ST_GeomFromEWKB``).
    Python values among ``args`` become bound parameters.
    """
    return Function(name, *args, type_=type_)


# -- reading literals ------------------------------------------------------------------------------------------


def parse_wkt_literal(lexical: str) -> GeometryValue:
    """The value of a geo:wktLiteral lexical form.

    The form is an optional ``<CRS IRI>`` and whitespace, then WKT (GeoSPARQL 1.1 Req 14-17). Without an IRI
    the CRS is OGC CRS84 (longitude/latitude). Coordinates follow the axis order of the CRS: EPSG:4326 is
    latitude/longitude and is swapped; other EPSG CRSs (and OGC ones PROJ knows) are reprojected vertex by
    vertex with pyproj, so an edge that is straight in the source CRS stays straight in longitude/latitude.
    An empty form (or a CRS IRI alone) is the empty geometry. Z and M coordinates are dropped, as in the store.

    Raises:
        InvalidGeometryLiteral: Unreadable WKT, an unsupported CRS, an OGC-invalid geometry or a coordinate
            outside longitude/latitude range.
    """
    text = lexical.strip()
    crs = CRS84
    if text.startswith("<"):
        end = text.find(">")
        if end < 0:
            raise InvalidGeometryLiteral(f"wktLiteral {short(lexical)}: unterminated CRS IRI")
        crs, text = text[1:end].strip(), text[end + 1 :].strip()
    transform = transform_for(crs)
    if not text:
        return GeometryValue(shapely.GeometryCollection(), crs)
    try:
        geom = shapely.force_2d(shapely.from_wkt(text))
    except NotImplementedError as err:  # CIRCULARSTRING and other curves: GEOS reads none
        raise InvalidGeometryLiteral(f"wktLiteral {short(lexical)}: curved geometries are not supported") from err
    except (shapely.errors.ShapelyError, ValueError, TypeError) as err:
        raise InvalidGeometryLiteral(f"wktLiteral {short(lexical)}: not WKT ({err})") from err
    if transform is not None and not geom.is_empty:
        geom = shapely.transform(geom, transform)
    return GeometryValue(checked(geom, f"wktLiteral {short(lexical)}"), crs)


def parse_geojson_literal(lexical: str) -> GeometryValue:
    """The value of a geo:geoJSONLiteral lexical form: a GeoJSON Geometry object, longitude/latitude.

    An empty form is the empty geometry (GeoSPARQL 1.1 Req 27). Features and feature collections are not
    geometry literals. A legacy ``crs`` member is accepted only when it names CRS84. Z is dropped.

    Raises:
        InvalidGeometryLiteral: Not JSON, not a GeoJSON geometry, a non-CRS84 ``crs``, an OGC-invalid geometry
            or a coordinate outside longitude/latitude range.
    """
    what = f"geoJSONLiteral {short(lexical)}"
    if not lexical.strip():
        return GeometryValue(shapely.GeometryCollection(), CRS84)
    try:
        obj = json.loads(lexical)
    except ValueError as err:
        raise InvalidGeometryLiteral(f"{what}: not JSON ({err})") from err
    if not isinstance(obj, dict) or obj.get("type") not in _GEOJSON_TYPES:
        raise InvalidGeometryLiteral(f"{what}: not a GeoJSON geometry object")
    crs = obj.get("crs")
    if crs is not None:
        name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
        if name not in _GEOJSON_CRS84:
            raise InvalidGeometryLiteral(f"{what}: GeoJSON geometries are in CRS84 (RFC 7946), not {name!r}")
    try:
        geom = shapely.force_2d(shapely.from_geojson(lexical))
    except (shapely.errors.ShapelyError, ValueError, TypeError) as err:
        raise InvalidGeometryLiteral(f"{what}: {err}") from err
    return GeometryValue(checked(geom, what), CRS84)


def parse_geometry_literal(lexical: str, datatype: str) -> GeometryValue:
    """The value of a literal of datatype geo:wktLiteral, geo:geoJSONLiteral or geo:gmlLiteral
    (:func:`~semantic.geosparql.gml.parse_gml_literal`).

    Raises:
        InvalidGeometryLiteral: The lexical form is not in the datatype's lexical space.
        UnsupportedFunction: Another datatype (geo:kmlLiteral, geo:dggsLiteral, ...).
    """
    if datatype == WKT_LITERAL:
        return parse_wkt_literal(lexical)
    if datatype == GEOJSON_LITERAL:
        return parse_geojson_literal(lexical)
    if datatype == GML_LITERAL:
        return parse_gml_literal(lexical)
    raise UnsupportedFunction(datatype, "geometry literals are read from WKT, GeoJSON and GML only")


def to_ewkb(geometry: BaseGeometry) -> bytes:
    """EWKB of a longitude/latitude geometry, with SRID 4326."""
    return bytes(shapely.to_wkb(shapely.set_srid(geometry, 4326), include_srid=True))


class _Ewkb(sa.types.TypeDecorator[bytes]):
    """``bytea`` that can also be rendered inline (``'\\x...'::bytea``), for SQL printed with literal binds."""

    impl = sa.LargeBinary
    cache_ok = True

    def literal_processor(self, dialect: sa.Dialect) -> Callable[[bytes], str]:
        return lambda value: f"'\\x{bytes(value).hex()}'::bytea"


def geometry_param(geometry: BaseGeometry) -> sa.ColumnElement[Any]:
    """A longitude/latitude geometry as SQL: ``ST_GeomFromEWKB(:param)``, the EWKB a bound parameter."""
    param = sa.bindparam(None, to_ewkb(geometry), type_=_Ewkb(), unique=True)
    return sql_function("ST_GeomFromEWKB", param, type_=GEOMETRY)


def literal_geometry(lexical: str, datatype: str) -> sa.ColumnElement[Any]:
    """A constant geometry literal of a query as SQL (see :func:`parse_geometry_literal`, :func:`geometry_param`).

    Raises:
        InvalidGeometryLiteral: The literal cannot be read.
        UnsupportedFunction: The datatype is not a geometry literal type read here.
    """
    return geometry_param(parse_geometry_literal(lexical, datatype).geometry)


# -- writing literals ------------------------------------------------------------------------------------------

GEOJSON_DECIMALS = 15
"""Decimal digits ``ST_AsGeoJSON`` writes (PostGIS's default, 9, rounds to 0.1 mm)."""


def as_wkt(geom: Any) -> sa.ColumnElement[str]:
    """The geo:wktLiteral lexical form of a geometry expression: ``ST_AsText``, CRS84 implied, no IRI prefix."""
    return sql_function("ST_AsText", geom, type_=sa.Text())


GML_WRITTEN_NAMESPACE = "http://www.opengis.net/gml"
"""The namespace of the GML ``ST_AsGML(3, ...)`` writes (GML 3.1.1), declared on the root element."""
_GML_OPTIONS = 4  # ST_AsGML option: <LineString> rather than <Curve> for lines, as GML 2, 3.1 and 3.2 all read
_GML_ROOT = r'^<gml:([A-Za-z]+)( srsName="[^"]*")?'


def as_gml(geom: Any) -> sa.ColumnElement[str]:
    """The geo:gmlLiteral lexical form of a geometry expression: GML 3.1.1 (``ST_AsGML(3, g, 15, 4)``).

    PostGIS writes neither a namespace declaration nor a CRS IRI (``srsName="EPSG:4326"``); the root element gets
    both, the CRS84 IRI since coordinates are longitude/latitude, so :func:`~semantic.geosparql.gml.parse_gml_literal`
    and any namespace-aware reader read it back. An empty geometry (for which ``ST_AsGML`` gives NULL) is the empty
    string: an empty gmlLiteral is the empty geometry (GeoSPARQL 1.0 Req 16, /req/geometry-extension/gml-literal-empty).
    """
    gml = sql_function("ST_AsGML", 3, geom, GEOJSON_DECIMALS, _GML_OPTIONS, type_=sa.Text())
    root = rf'<gml:\1 xmlns:gml="{GML_WRITTEN_NAMESPACE}" srsName="{CRS84}"'
    declared = sql_function("regexp_replace", gml, _GML_ROOT, root, type_=sa.Text())
    return case((sql_function("ST_IsEmpty", geom, type_=sa.Boolean()), ""), else_=declared)


def as_geojson(geom: Any) -> sa.ColumnElement[str]:
    """The geo:geoJSONLiteral lexical form of a geometry expression (``ST_AsGeoJSON``, full precision)."""
    return sql_function("ST_AsGeoJSON", geom, GEOJSON_DECIMALS, type_=sa.Text())
