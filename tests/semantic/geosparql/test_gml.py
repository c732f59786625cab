"""geo:gmlLiteral read without a database: the GML profile, srsName forms and axis order, empty geometries, and
hostile input refused with a named error. Expected geometries are written by hand from the GML texts, or
computed with pyproj for reprojected ones."""

from __future__ import annotations

import re

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from semantic.errors import SemanticError
from semantic.geosparql import CRS84, InvalidGeometryLiteral, UnsupportedFunction, parse_geometry_literal
from semantic.geosparql.gml import MAX_GML_CHARS, MAX_GML_DEPTH, parse_gml_literal
from semantic.vocab import GEO_GML_LITERAL as GML_LITERAL

GML32 = 'xmlns:gml="http://www.opengis.net/gml/3.2"'
GML3 = 'xmlns:gml="http://www.opengis.net/gml"'
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def _same(value: shapely.Geometry, wkt: str) -> bool:
    expected = shapely.from_wkt(wkt)
    if value.geom_type != expected.geom_type:
        return False
    exact = shapely.equals_exact(shapely.normalize(value), shapely.normalize(expected), tolerance=1e-9)
    return bool(exact or shapely.equals(value, expected))  # the same point set, vertices aside


def test_the_standards_own_example() -> None:
    # GeoSPARQL 1.0, clause 8.6.1: the namespace it writes (http://www.opengis.net/ont/gml) is read too
    lexical = (
        '<gml:Point srsName="http://www.opengis.net/def/crs/OGC/1.3/CRS84" xmlns:gml="http://www.opengis.net/ont/gml">'
        "<gml:pos>-83.38 33.95</gml:pos></gml:Point>"
    )
    value = parse_geometry_literal(lexical, GML_LITERAL)
    assert value.crs == CRS84 and _same(value.geometry, "POINT(-83.38 33.95)")


@pytest.mark.parametrize(
    ("srs_name", "pos", "crs"),
    [
        (None, "-83.38 33.95", CRS84),  # no srsName: CRS84, as for WKT
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "-83.38 33.95", CRS84),
        ("urn:ogc:def:crs:EPSG::4326", "33.95 -83.38", EPSG.format(4326)),  # the CRS's own order: lat/lon
        ("urn:ogc:def:crs:EPSG:6.6:4326", "33.95 -83.38", EPSG.format(4326)),
        ("urn:x-ogc:def:crs:EPSG:4326", "33.95 -83.38", EPSG.format(4326)),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", "33.95 -83.38", EPSG.format(4326)),
        ("EPSG:4326", "-83.38 33.95", EPSG.format(4326)),  # legacy forms: lon/lat by common practice
        ("http://www.opengis.net/gml/srs/epsg.xml#4326", "-83.38 33.95", EPSG.format(4326)),
    ],
)
def test_srs_name_forms_and_axis_order(srs_name: str | None, pos: str, crs: str) -> None:
    srs = "" if srs_name is None else f' srsName="{srs_name}"'
    value = parse_gml_literal(f"<gml:Point {GML32}{srs}><gml:pos>{pos}</gml:pos></gml:Point>")
    assert value.crs == crs
    assert _same(value.geometry, "POINT(-83.38 33.95)")


def test_projected_crs_follow_their_axis_order() -> None:
    # EPSG:31467 (Gauss-Krüger zone 3) defines northing first; its legacy form is easting first
    northing, easting = 5_428_000.0, 3_500_000.0
    lon, lat = Transformer.from_crs("EPSG:31467", "EPSG:4326", always_xy=True).transform(easting, northing)
    urn = parse_gml_literal(
        f'<gml:Point {GML32} srsName="urn:ogc:def:crs:EPSG::31467"><gml:pos>{northing} {easting}</gml:pos></gml:Point>'
    )
    legacy = parse_gml_literal(
        f'<gml:Point {GML3} srsName="EPSG:31467"><gml:coordinates>{easting},{northing}</gml:coordinates></gml:Point>'
    )
    for value in (urn, legacy):
        assert value.crs == EPSG.format(31467)
        assert value.geometry.x == pytest.approx(lon, abs=1e-9) and value.geometry.y == pytest.approx(lat, abs=1e-9)
    mercator = parse_gml_literal(
        f'<gml:LineString {GML32} srsName="{EPSG.format(3857)}"><gml:posList>0 0 1000000 2000000</gml:posList>'
        "</gml:LineString>"
    )
    x, y = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(1_000_000, 2_000_000)
    assert _same(mercator.geometry, f"LINESTRING(0 0, {x!r} {y!r})")


def test_gml2_polygon_with_coordinates() -> None:
    lexical = (
        f'<gml:Polygon {GML3} srsName="EPSG:4326"><gml:outerBoundaryIs><gml:LinearRing>'
        "<gml:coordinates>0,0 10,0 10,10 0,10 0,0</gml:coordinates></gml:LinearRing></gml:outerBoundaryIs>"
        "<gml:innerBoundaryIs><gml:LinearRing><gml:coordinates>1,1 2,1 2,2 1,1</gml:coordinates></gml:LinearRing>"
        "</gml:innerBoundaryIs></gml:Polygon>"
    )
    assert _same(parse_gml_literal(lexical).geometry, "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))")
    # other separators and decimal mark, and <coord>
    other = (
        f'<gml:LineString {GML3}><gml:coordinates decimal="," cs=";" ts="|">1,5;2|3;4,25</gml:coordinates>'
        "</gml:LineString>"
    )
    assert _same(parse_gml_literal(other).geometry, "LINESTRING(1.5 2, 3 4.25)")
    coord = f"<gml:Point {GML3}><gml:coord><gml:X>7</gml:X><gml:Y>8</gml:Y></gml:coord></gml:Point>"
    assert _same(parse_gml_literal(coord).geometry, "POINT(7 8)")


RING = "<gml:exterior><gml:LinearRing><gml:posList>0 0 1 0 1 1 0 0</gml:posList></gml:LinearRing></gml:exterior>"


@pytest.mark.parametrize(
    ("body", "wkt"),
    [
        ("<gml:LineString><gml:pos>0 0</gml:pos><gml:pos>1 1</gml:pos></gml:LineString>", "LINESTRING(0 0, 1 1)"),
        (
            '<gml:LineString srsDimension="3"><gml:posList>0 0 9 1 1 9</gml:posList></gml:LineString>',
            "LINESTRING(0 0, 1 1)",
        ),
        ('<gml:LineString><gml:posList count="2">0 0 1 1</gml:posList></gml:LineString>', "LINESTRING(0 0, 1 1)"),
        (
            "<gml:LinearRing><gml:posList>0 0 1 0 1 1 0 0</gml:posList></gml:LinearRing>",
            "LINESTRING(0 0, 1 0, 1 1, 0 0)",
        ),
        (f"<gml:Polygon>{RING}</gml:Polygon>", "POLYGON((0 0, 1 0, 1 1, 0 0))"),
        (
            "<gml:Curve><gml:segments><gml:LineStringSegment><gml:posList>0 0 1 1</gml:posList>"
            "</gml:LineStringSegment><gml:LineStringSegment><gml:posList>1 1 2 0</gml:posList>"
            "</gml:LineStringSegment></gml:segments></gml:Curve>",
            "LINESTRING(0 0, 1 1, 2 0)",
        ),
        (
            "<gml:Polygon><gml:exterior><gml:Ring><gml:curveMember><gml:LineString><gml:posList>0 0 2 0 2 2"
            "</gml:posList></gml:LineString></gml:curveMember><gml:curveMember><gml:LineString><gml:posList>2 2 0 0"
            "</gml:posList></gml:LineString></gml:curveMember></gml:Ring></gml:exterior></gml:Polygon>",
            "POLYGON((0 0, 2 0, 2 2, 0 0))",
        ),
        (
            "<gml:Surface><gml:patches><gml:PolygonPatch><gml:exterior><gml:LinearRing><gml:posList>0 0 1 0 1 1 0 1 0 0"
            "</gml:posList></gml:LinearRing></gml:exterior></gml:PolygonPatch><gml:PolygonPatch><gml:exterior>"
            "<gml:LinearRing><gml:posList>1 0 2 0 2 1 1 1 1 0</gml:posList></gml:LinearRing></gml:exterior>"
            "</gml:PolygonPatch></gml:patches></gml:Surface>",
            "POLYGON((0 0, 2 0, 2 1, 0 1, 0 0))",
        ),
        (
            "<gml:Envelope><gml:lowerCorner>1 2</gml:lowerCorner><gml:upperCorner>3 4</gml:upperCorner></gml:Envelope>",
            "POLYGON((1 2, 3 2, 3 4, 1 4, 1 2))",
        ),
        (
            "<gml:Envelope><gml:lowerCorner>1 2</gml:lowerCorner><gml:upperCorner>1 2</gml:upperCorner></gml:Envelope>",
            "POINT(1 2)",
        ),
        ("<gml:Box><gml:coordinates>1,2 3,4</gml:coordinates></gml:Box>", "POLYGON((1 2, 3 2, 3 4, 1 4, 1 2))"),
        (
            "<gml:MultiPoint><gml:pointMember><gml:Point><gml:pos>1 2</gml:pos></gml:Point></gml:pointMember>"
            "<gml:pointMembers><gml:Point><gml:pos>3 4</gml:pos></gml:Point></gml:pointMembers></gml:MultiPoint>",
            "MULTIPOINT((1 2), (3 4))",
        ),
        (
            "<gml:MultiCurve><gml:curveMember><gml:LineString><gml:posList>0 0 1 1</gml:posList></gml:LineString>"
            "</gml:curveMember></gml:MultiCurve>",
            "MULTILINESTRING((0 0, 1 1))",
        ),
        (
            "<gml:MultiLineString><gml:lineStringMember><gml:LineString><gml:coordinates>0,0 1,1</gml:coordinates>"
            "</gml:LineString></gml:lineStringMember></gml:MultiLineString>",
            "MULTILINESTRING((0 0, 1 1))",
        ),
        (
            f"<gml:MultiSurface><gml:surfaceMembers><gml:Polygon>{RING}</gml:Polygon></gml:surfaceMembers></gml:MultiSurface>",
            "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))",
        ),
        (
            f"<gml:MultiPolygon><gml:polygonMember><gml:Polygon>{RING}</gml:Polygon></gml:polygonMember></gml:MultiPolygon>",
            "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))",
        ),
        (
            "<gml:MultiGeometry><gml:geometryMember><gml:Point><gml:pos>5 5</gml:pos></gml:Point></gml:geometryMember>"
            f"<gml:geometryMember><gml:Polygon>{RING}</gml:Polygon></gml:geometryMember></gml:MultiGeometry>",
            "GEOMETRYCOLLECTION(POINT(5 5), POLYGON((0 0, 1 0, 1 1, 0 0)))",
        ),
    ],
)
def test_geometry_types(body: str, wkt: str) -> None:
    lexical = re.sub(r"^<gml:(\w+)", rf"<gml:\1 {GML32}", body, count=1)
    assert _same(parse_gml_literal(lexical).geometry, wkt), lexical


@pytest.mark.parametrize(
    "lexical",
    ["", "  \n", f"<gml:Point {GML32}/>", f"<gml:MultiSurface {GML32}></gml:MultiSurface>", f"<gml:Polygon {GML3}/>"],
)
def test_empty_literals_are_empty_geometries(lexical: str) -> None:
    # Req 16 (/req/geometry-extension/gml-literal-empty)
    value = parse_gml_literal(lexical)
    assert value.geometry.is_empty and value.crs == CRS84


def test_an_undeclared_gml_prefix_is_read_as_gml_32() -> None:
    value = parse_gml_literal('<gml:Point srsName="EPSG:4326"><gml:pos>10 45</gml:pos></gml:Point>')
    assert _same(value.geometry, "POINT(10 45)")


def test_a_literal_without_xml_is_not_a_kml_or_other_type() -> None:
    with pytest.raises(UnsupportedFunction):
        parse_geometry_literal("<kml:Point/>", "http://www.opengis.net/ont/geosparql#kmlLiteral")


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + f"]><gml:Point {GML32}><gml:pos>&lol9;</gml:pos></gml:Point>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<gml:Point {GML32}><gml:pos>&xxe;</gml:pos></gml:Point>"
)


@pytest.mark.parametrize(
    ("lexical", "message"),
    [
        (BILLION_LAUGHS, "DTDs and entities are not allowed"),
        (EXTERNAL_ENTITY, "DTDs and entities are not allowed"),
        (f"<gml:Point {GML32}><gml:pos>" + "1 " * (MAX_GML_CHARS // 2 + 1) + "</gml:pos></gml:Point>", "longer than"),
        (
            f"<gml:MultiGeometry {GML32}>"
            + "<gml:geometryMember>" * MAX_GML_DEPTH
            + "</gml:geometryMember>" * MAX_GML_DEPTH
            + "</gml:MultiGeometry>",
            "nested deeper",
        ),
        ('<foo:Point xmlns:foo="http://example.org/gml"><foo:pos>1 2</foo:pos></foo:Point>', "not in a GML namespace"),
        ("<Point><pos>1 2</pos></Point>", "not in a GML namespace"),
        (
            f'<gml:Point {GML32}><x:pos xmlns:x="http://example.org/">1 2</x:pos></gml:Point>',
            "not in the GML namespace",
        ),
        (f"<gml:LineString {GML32}><gml:posList>0 0 1</gml:posList></gml:LineString>", "not a multiple"),
        (f"<gml:LineString {GML32}><gml:posList>0 0 1 x</gml:posList></gml:LineString>", "not a number"),
        (f'<gml:LineString {GML32}><gml:posList count="3">0 0 1 1</gml:posList></gml:LineString>', "count"),
        (
            f'<gml:LineString {GML32}><gml:posList srsDimension="x">0 0 1 1</gml:posList></gml:LineString>',
            "srsDimension",
        ),
        (f"<gml:LineString {GML32}><gml:posList>0 0</gml:posList></gml:LineString>", "one position"),
        (f"<gml:Point {GML32}><gml:pos>1</gml:pos></gml:Point>", "at least two"),
        (
            f"<gml:Curve {GML32}><gml:segments><gml:Arc><gml:posList>0 0 1 1 2 0</gml:posList></gml:Arc></gml:segments>"
            "</gml:Curve>",
            "<Arc> is a curve segment GEOS cannot represent",
        ),
        (f"<gml:Circle {GML32}><gml:posList>0 0 1 1 2 0</gml:posList></gml:Circle>", "curve GEOS cannot represent"),
        (f"<gml:Solid {GML32}/>", "not a GML geometry read here"),
        (
            f'<gml:MultiPoint {GML32} xmlns:xlink="http://www.w3.org/1999/xlink"><gml:pointMember xlink:href="#p1"/>'
            "</gml:MultiPoint>",
            "xlink:href",
        ),
        (
            f'<gml:Point {GML32} srsName="http://example.org/crs"><gml:pos>1 2</gml:pos></gml:Point>',
            "unsupported srsName",
        ),
        (f'<gml:Point {GML32} srsName="EPSG:999999"><gml:pos>1 2</gml:pos></gml:Point>', "unknown CRS"),
        (
            f"<gml:Polygon {GML32}><gml:exterior><gml:LinearRing><gml:posList>0 0 1 0 1 1 0 1</gml:posList>"
            "</gml:LinearRing></gml:exterior></gml:Polygon>",
            "ring needs four or more positions",
        ),
        (
            f"<gml:Polygon {GML32}><gml:exterior><gml:LinearRing><gml:posList>0 0 2 2 2 0 0 2 0 0</gml:posList>"
            "</gml:LinearRing></gml:exterior></gml:Polygon>",
            "invalid geometry",
        ),
        (
            f'<gml:Point {GML32} srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>100 10</gml:pos></gml:Point>',
            "outside longitude",
        ),
        (f"<gml:Point {GML32}><gml:pos>1 2</gml:pos>", "not well-formed"),
        ("POINT(1 2)", "not well-formed"),
        (
            f"<gml:MultiPoint {GML32}><gml:pointMember><gml:LineString><gml:posList>0 0 1 1</gml:posList>"
            "</gml:LineString></gml:pointMember></gml:MultiPoint>",
            "not a Point",
        ),
    ],
)
def test_bad_and_hostile_literals_raise_a_named_error(lexical: str, message: str) -> None:
    with pytest.raises(InvalidGeometryLiteral, match=message) as info:
        parse_geometry_literal(lexical, GML_LITERAL)
    assert isinstance(info.value, SemanticError)
    assert len(str(info.value)) < 400  # the message quotes the literal shortened, never whole


def test_default_namespace_and_inherited_attributes() -> None:
    # a default namespace instead of a prefix; srsName and srsDimension set on the root hold for the posList
    lexical = (
        '<MultiCurve xmlns="http://www.opengis.net/gml/3.2" srsName="urn:ogc:def:crs:EPSG::4326" srsDimension="3">'
        "<curveMember><LineString><posList>45 10 100 46 11 200</posList></LineString></curveMember></MultiCurve>"
    )
    value = parse_gml_literal(lexical)
    assert value.crs == EPSG.format(4326)
    assert _same(value.geometry, "MULTILINESTRING((10 45, 11 46))")


FRAGMENTS = [
    f"<gml:Point {GML32}>",
    f"<gml:LineString {GML32}>",
    f'<gml:Polygon {GML3} srsName="EPSG:4326">',
    "<gml:exterior>",
    "<gml:LinearRing>",
    "<gml:posList>",
    "</gml:posList>",
    "<gml:pos>",
    "</gml:pos>",
    '<gml:posList srsDimension="3">',
    "<gml:coordinates>",
    "</gml:coordinates>",
    "0 0 1 1 ",
    "1,2 3,4",
    "NaN ",
    "1e400 ",
    "\ud800",
    "&amp;",
    "&lol;",
    "<!DOCTYPE x>",
    "</gml:Point>",
    "</gml:LinearRing></gml:exterior></gml:Polygon>",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
        st.tuples(st.sampled_from(FRAGMENTS), st.text(max_size=20)).map(lambda t: t[0] + t[1]),
    )
)
def test_any_text_is_read_or_refused_with_the_named_error(text: str) -> None:
    try:
        value = parse_gml_literal(text)
    except InvalidGeometryLiteral:
        return
    assert value.geometry.is_valid
