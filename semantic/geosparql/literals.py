"""GeoSPARQL geometry literals: reading geo:wktLiteral / geo:geoJSONLiteral, writing them from SQL.

Every geometry the SQL side handles is a PostGIS ``geometry`` in SRID 4326 with longitude/latitude axis order
(docs/sparql.md, "RDF terms in SQL"). This module turns literal lexical forms into such geometries (as shapely
objects, then as bound parameters) and renders SQL geometry expressions back as literal lexical forms.

It also holds the errors of :mod:`semantic.geosparql` and :func:`sql_function`, the one way the package calls
PostGIS functions.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy.sql.functions import Function

from semantic.errors import GeoSparqlError, UnsupportedFeature

GEO = "http://www.opengis.net/ont/geosparql#"
GEOF = "http://www.opengis.net/def/function/geosparql/"
WKT_LITERAL = GEO + "wktLiteral"
GEOJSON_LITERAL = GEO + "geoJSONLiteral"

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
"""WGS 84 longitude/latitude: the CRS of every geometry in SQL, and of a wktLiteral without a CRS IRI."""
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
"""WGS 84 latitude/longitude: the same datum as CRS84 with the axes swapped."""

CRS84_IRIS = frozenset(
    f"{scheme}://www.opengis.net/def/crs/OGC/{version}/CRS84"
    for scheme in ("http", "https")
    for version in ("1.3", "0")
)
_EPSG_IRI = re.compile(r"https?://www\.opengis\.net/def/crs/EPSG/0/([0-9]+)")
_OGC_IRI = re.compile(r"https?://www\.opengis\.net/def/crs/OGC/(?:1\.3|0)/(CRS[0-9A-Za-z]+)")
# names of CRS84 in the pre-RFC 7946 GeoJSON "crs" member
_GEOJSON_CRS84 = frozenset({"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", *CRS84_IRIS})
_GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)

GEOMETRY = Geometry(srid=4326)
"""SQLAlchemy type of the geometry expressions built here (PostGIS ``geometry``, SRID 4326, lon/lat)."""


class InvalidGeometryLiteral(GeoSparqlError):
    """A geometry literal cannot be read: bad WKT or GeoJSON, unknown CRS, invalid or out-of-range geometry."""


class InvalidArgument(GeoSparqlError):
    """A GeoSPARQL function argument is wrong: arity, units IRI, DE-9IM pattern, a non-constant IRI."""


class UnsupportedFunction(UnsupportedFeature, GeoSparqlError):
    """A GeoSPARQL function or property IRI that is not translated to SQL; the message says why."""

    def __init__(self, iri: str, reason: str = "not a GeoSPARQL function this engine translates") -> None:
        super().__init__(f"{iri} ({reason})")
        self.iri = iri
        self.reason = reason


@dataclass(frozen=True)
class GeometryValue:
    """The value of a geometry literal.

    Attributes:
        geometry: The geometry in WGS 84 longitude/latitude, 2D, OGC-valid.
        crs: The CRS IRI the literal was written in (:data:`CRS84` when it names none).
    """

    geometry: BaseGeometry
    crs: str


def sql_function(name: str, *args: Any, type_: Any = None) -> sa.ColumnElement[Any]:
    """A call of the SQL function ``name`` with a declared result type.

    Built as a plain :class:`~sqlalchemy.sql.functions.Function`, bypassing the function classes geoalchemy2
    registers under ``sa.func`` (which add arguments of their own, e.g. an SRID to ``ST_GeomFromEWKB``).
    Python values among ``args`` become bound parameters.
    """
    return Function(name, *args, type_=type_)


# -- reading literals ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _transform_for(crs: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """Coordinates written in ``crs`` (in its own axis order) to longitude/latitude; ``None``: identity.

    Raises:
        InvalidGeometryLiteral: ``crs`` is not CRS84, an EPSG CRS or an OGC CRS that PROJ knows.
    """
    if crs in CRS84_IRIS:
        return None
    epsg = _EPSG_IRI.fullmatch(crs)
    ogc = _OGC_IRI.fullmatch(crs)
    if epsg is not None and int(epsg[1]) == 4326:
        return lambda xy: xy[:, ::-1]  # latitude/longitude: a swap, exactly
    if epsg is None and ogc is None:
        raise InvalidGeometryLiteral(f"unsupported CRS IRI <{crs}>: use OGC CRS84 or an EPSG CRS")
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    code = f"EPSG:{epsg[1]}" if epsg is not None else f"OGC:{ogc[1]}" if ogc is not None else ""
    try:
        source = CRS.from_user_input(code)
        # always_xy=False: GeoSPARQL Req 16, coordinates follow the axis order the CRS defines
        transformer = Transformer.from_crs(source, CRS.from_user_input("OGC:CRS84"), always_xy=False)
    except CRSError as err:
        raise InvalidGeometryLiteral(f"unknown CRS <{crs}>: {err}") from err

    def transform(xy: np.ndarray) -> np.ndarray:
        if len(xy) == 1:  # pyproj would take a 1-element array for a scalar, with a NumPy deprecation warning
            return np.array([transformer.transform(float(xy[0, 0]), float(xy[0, 1]), errcheck=False)])
        x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
        return np.column_stack([x, y])

    return transform


def _checked(geom: BaseGeometry, what: str) -> BaseGeometry:
    """``geom`` if it is OGC-valid with finite longitude/latitude coordinates in range."""
    if not geom.is_empty:
        coords = shapely.get_coordinates(geom)
        if not np.isfinite(coords).all():
            raise InvalidGeometryLiteral(f"{what}: coordinates are not finite (outside the CRS's domain?)")
        x0, y0, x1, y1 = geom.bounds
        if not (-180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90):
            raise InvalidGeometryLiteral(f"{what}: coordinates outside longitude [-180, 180] / latitude [-90, 90]")
    if not shapely.is_valid(geom):
        raise InvalidGeometryLiteral(f"{what}: invalid geometry ({shapely.is_valid_reason(geom)})")
    return geom


def _short(lexical: str) -> str:
    text = " ".join(lexical.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


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
            raise InvalidGeometryLiteral(f"wktLiteral {_short(lexical)}: unterminated CRS IRI")
        crs, text = text[1:end].strip(), text[end + 1 :].strip()
    transform = _transform_for(crs)
    if not text:
        return GeometryValue(shapely.GeometryCollection(), crs)
    try:
        geom = shapely.force_2d(shapely.from_wkt(text))
    except NotImplementedError as err:  # CIRCULARSTRING and other curves: GEOS reads none
        raise InvalidGeometryLiteral(f"wktLiteral {_short(lexical)}: curved geometries are not supported") from err
    except (shapely.errors.ShapelyError, ValueError, TypeError) as err:
        raise InvalidGeometryLiteral(f"wktLiteral {_short(lexical)}: not WKT ({err})") from err
    if transform is not None and not geom.is_empty:
        geom = shapely.transform(geom, transform)
    return GeometryValue(_checked(geom, f"wktLiteral {_short(lexical)}"), crs)


def parse_geojson_literal(lexical: str) -> GeometryValue:
    """The value of a geo:geoJSONLiteral lexical form: a GeoJSON Geometry object, longitude/latitude.

    An empty form is the empty geometry (GeoSPARQL 1.1 Req 27). Features and feature collections are not
    geometry literals. A legacy ``crs`` member is accepted only when it names CRS84. Z is dropped.

    Raises:
        InvalidGeometryLiteral: Not JSON, not a GeoJSON geometry, a non-CRS84 ``crs``, an OGC-invalid geometry
            or a coordinate outside longitude/latitude range.
    """
    what = f"geoJSONLiteral {_short(lexical)}"
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
    return GeometryValue(_checked(geom, what), CRS84)


def parse_geometry_literal(lexical: str, datatype: str) -> GeometryValue:
    """The value of a literal of datatype geo:wktLiteral or geo:geoJSONLiteral.

    Raises:
        InvalidGeometryLiteral: The lexical form is not in the datatype's lexical space.
        UnsupportedFunction: Another datatype (geo:gmlLiteral, geo:kmlLiteral, geo:dggsLiteral, ...).
    """
    if datatype == WKT_LITERAL:
        return parse_wkt_literal(lexical)
    if datatype == GEOJSON_LITERAL:
        return parse_geojson_literal(lexical)
    raise UnsupportedFunction(datatype, "geometry literals are read from geo:wktLiteral and geo:geoJSONLiteral only")


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


def as_geojson(geom: Any) -> sa.ColumnElement[str]:
    """The geo:geoJSONLiteral lexical form of a geometry expression (``ST_AsGeoJSON``, full precision)."""
    return sql_function("ST_AsGeoJSON", geom, GEOJSON_DECIMALS, type_=sa.Text())
