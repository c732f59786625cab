"""GeoSPARQL geometry literals parsed without a database: WKT with its CRS and axis order, GeoJSON, empty
geometries and the named errors of bad literals."""

from __future__ import annotations

import pytest
import shapely
from pyproj import CRS, Transformer

from semantic.errors import SemanticError
from semantic.geosparql import (
    CRS84,
    GeoSparqlError,
    InvalidGeometryLiteral,
    UnsupportedFunction,
    literal_geometry,
    parse_geometry_literal,
)
from semantic.geosparql.literals import (
    GEOJSON_LITERAL,
    WKT_LITERAL,
    parse_geojson_literal,
    parse_wkt_literal,
)

GEO = "http://www.opengis.net/ont/geosparql#"


def test_wkt_literal_crs_and_axis_order() -> None:
    plain = parse_wkt_literal("Point(-83.38 33.95)")
    assert plain.crs == CRS84 and plain.geometry.equals(shapely.Point(-83.38, 33.95))
    explicit = parse_wkt_literal(f"<{CRS84}> Point(-83.38 33.95)")
    assert explicit.geometry.equals(plain.geometry)
    # GeoSPARQL's own example: EPSG:4326 is latitude/longitude
    swapped = parse_wkt_literal("<http://www.opengis.net/def/crs/EPSG/0/4326> Point(33.95 -83.38)")
    assert swapped.crs == "http://www.opengis.net/def/crs/EPSG/0/4326"
    assert swapped.geometry.equals(plain.geometry)
    polygon = parse_wkt_literal("<http://www.opengis.net/def/crs/EPSG/0/4326> POLYGON((0 0, 0 10, 5 10, 0 0))")
    assert polygon.geometry.equals(shapely.from_wkt("POLYGON((0 0, 10 0, 10 5, 0 0))"))
    # a projected CRS is reprojected (EPSG:3857 is x/y)
    x, y = Transformer.from_crs(CRS84_CRS, CRS.from_epsg(3857), always_xy=True).transform(2.35, 48.85)
    mercator = parse_wkt_literal(f"<http://www.opengis.net/def/crs/EPSG/0/3857> POINT({x!r} {y!r})").geometry
    assert mercator.x == pytest.approx(2.35, abs=1e-9) and mercator.y == pytest.approx(48.85, abs=1e-9)
    # Z is dropped, as in the store
    assert not parse_wkt_literal("POINT Z (1 2 3)").geometry.has_z


CRS84_CRS = CRS.from_user_input("OGC:CRS84")


@pytest.mark.parametrize("lexical", ["", "   ", f"<{CRS84}>", "POINT EMPTY", "GEOMETRYCOLLECTION EMPTY"])
def test_empty_wkt_literals(lexical: str) -> None:
    assert parse_wkt_literal(lexical).geometry.is_empty


def test_geojson_literal() -> None:
    value = parse_geojson_literal('{"type": "Point", "coordinates": [-83.38, 33.95]}')
    assert value.crs == CRS84 and value.geometry.equals(shapely.Point(-83.38, 33.95))
    assert parse_geojson_literal("").geometry.is_empty
    assert parse_geometry_literal('{"type":"LineString","coordinates":[[0,0],[1,1]]}', GEOJSON_LITERAL).geometry.length
    assert parse_geometry_literal("POINT(1 2)", WKT_LITERAL).geometry.equals(shapely.Point(1, 2))


@pytest.mark.parametrize(
    ("lexical", "datatype", "message"),
    [
        ("POINT(1", WKT_LITERAL, "not WKT"),
        ("PIONT(1 2)", WKT_LITERAL, "not WKT"),
        ("<http://example.org/crs> POINT(1 2)", WKT_LITERAL, "unsupported CRS"),
        ("<http://www.opengis.net/def/crs/EPSG/0/999999> POINT(1 2)", WKT_LITERAL, "unknown CRS"),
        ("<http://www.opengis.net/def/crs/EPSG/0/4326 POINT(1 2)", WKT_LITERAL, "unterminated"),
        ("POINT(200 0)", WKT_LITERAL, "outside longitude"),
        ("<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(100 0)", WKT_LITERAL, "outside longitude"),
        ("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))", WKT_LITERAL, "invalid geometry"),
        ("{", GEOJSON_LITERAL, "not JSON"),
        ('{"type": "Feature", "geometry": null, "properties": {}}', GEOJSON_LITERAL, "not a GeoJSON geometry"),
        ('{"type": "Point", "coordinates": [1]}', GEOJSON_LITERAL, "geoJSONLiteral"),
        (
            '{"type": "Point", "coordinates": [1, 2], "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}',
            GEOJSON_LITERAL,
            "CRS84",
        ),
    ],
)
def test_bad_literals_raise_a_named_error(lexical: str, datatype: str, message: str) -> None:
    with pytest.raises(InvalidGeometryLiteral, match=message) as info:
        literal_geometry(lexical, datatype)
    assert isinstance(info.value, GeoSparqlError) and isinstance(info.value, SemanticError)


def test_kml_literal_is_unsupported() -> None:
    # GML is read (tests/semantic/geosparql/test_gml.py); KML is not
    with pytest.raises(UnsupportedFunction):
        parse_geometry_literal("<kml:Point/>", GEO + "kmlLiteral")
