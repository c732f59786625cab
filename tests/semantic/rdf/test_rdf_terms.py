"""RDF terms as the quad table's columns and back: numeric values in the XSD lexical spaces, timestamps, geometry
literals in longitude/latitude, term rows (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyproj
import pytest
import rdflib
import shapely
from rdflib import BNode, Literal, URIRef

from esdl_testing.vocab import CRS84, EPSG, xsd
from esdl_testing.vocab import RDF_EX as EX
from semantic.rdf.terms import (
    BLANK,
    GEOJSON_LITERAL,
    IRI,
    LITERAL,
    RDF_LANGSTRING,
    WKT_LITERAL,
    XSD_STRING,
    geometry_value,
    geometry_values,
    literal_row,
    numeric_value,
    term_row,
    term_rows,
    timestamp_value,
    to_term,
)


@pytest.fixture(autouse=True)
def literals_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """rdflib's own parses (the references) keep lexical forms as written, as the loader does."""
    monkeypatch.setattr(rdflib, "NORMALIZE_LITERALS", False)


@pytest.mark.parametrize(
    "lexical,datatype,value",
    [
        ("007", "integer", Decimal(7)),
        ("-0", "integer", Decimal(0)),
        ("+12", "long", Decimal(12)),
        ("99999999999999999999999", "integer", Decimal("99999999999999999999999")),
        ("-128", "byte", Decimal(-128)),
        ("300", "byte", None),
        ("-1", "nonNegativeInteger", None),
        ("0", "positiveInteger", None),
        ("abc", "integer", None),
        ("1.0", "integer", None),
        ("1_000", "integer", None),
        (" 5", "integer", None),
        ("12.50", "decimal", Decimal("12.50")),
        (".5", "decimal", Decimal("0.5")),
        ("1e3", "decimal", None),
        ("1.5E0", "double", Decimal("1.5")),
        ("0.1", "double", Decimal("0.1")),
        ("1e400", "double", Decimal("Infinity")),
        ("-INF", "float", Decimal("-Infinity")),
        ("NaN", "double", Decimal("NaN")),
        ("inf", "double", None),
        ("1.5", "string", None),
    ],
)
def test_numeric_values_follow_the_xsd_lexical_spaces(lexical: str, datatype: str, value: Decimal | None) -> None:
    got = numeric_value(lexical, str(xsd(datatype)))
    if value is not None and value.is_nan():
        assert got is not None and got.is_nan()
    else:
        assert got == value


@pytest.mark.parametrize(
    "lexical,datatype,value",
    [
        ("2020-01-02T03:04:05", "dateTime", dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2020-01-02T03:04:05Z", "dateTime", dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2020-01-02T03:04:05.1234567+02:00", "dateTime", dt.datetime(2020, 1, 2, 1, 4, 5, 123456, tzinfo=dt.UTC)),
        ("2020-01-02T24:00:00", "dateTime", dt.datetime(2020, 1, 3, tzinfo=dt.UTC)),
        ("2020-01-02T03:04:05Z", "dateTimeStamp", dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2020-01-02T03:04:05", "dateTimeStamp", None),
        ("2001-05-06", "date", dt.datetime(2001, 5, 6, tzinfo=dt.UTC)),
        ("2001-05-06-05:00", "date", dt.datetime(2001, 5, 6, 5, tzinfo=dt.UTC)),
        ("2001-02-30", "date", None),
        ("2020-01-02 03:04:05", "dateTime", None),
        ("yesterday", "date", None),
    ],
)
def test_timestamps_are_instants_and_timezone_less_values_utc(
    lexical: str, datatype: str, value: dt.datetime | None
) -> None:
    assert timestamp_value(lexical, str(xsd(datatype))) == value


def _same(geom: shapely.Geometry | None, wkt: str) -> bool:
    return geom is not None and shapely.equals_exact(geom, shapely.from_wkt(wkt), tolerance=1e-9)


def test_geometry_literals_become_lonlat() -> None:
    point = "POINT (13.4 52.5)"
    assert _same(geometry_value("POINT(13.4 52.5)", WKT_LITERAL), point)
    assert _same(geometry_value(f" {CRS84} POINT(13.4 52.5)", WKT_LITERAL), point)
    assert _same(geometry_value(f"{EPSG.format(4326)} POINT(52.5 13.4)", WKT_LITERAL), point)
    assert _same(geometry_value(f"{EPSG.format(4326)} POINT Z (52.5 13.4 100)", WKT_LITERAL), point)
    assert _same(geometry_value('{"type": "Point", "coordinates": [13.4, 52.5]}', GEOJSON_LITERAL), point)
    box = f"{EPSG.format(4326)} POLYGON((50 10, 50 11, 51 11, 51 10, 50 10))"
    assert _same(geometry_value(box, WKT_LITERAL), "POLYGON ((10 50, 11 50, 11 51, 10 51, 10 50))")
    # other EPSG codes in their own axis order: EPSG:3857 is easting/northing, EPSG:3035 northing/easting
    for code in (3857, 3035):
        to_crs = pyproj.Transformer.from_crs(4326, code, always_xy=True)
        x, y = to_crs.transform(13.4, 52.5)
        first, second = (y, x) if code == 3035 else (x, y)
        geom = geometry_value(f"{EPSG.format(code)} POINT({first!r} {second!r})", WKT_LITERAL)
        assert geom is not None and np.allclose(shapely.get_coordinates(geom), [[13.4, 52.5]], atol=1e-9), code
    assert geometry_value("", WKT_LITERAL) is not None and geometry_value("", WKT_LITERAL).is_empty
    for bad in (
        "POINT(1",  # unreadable
        "<http://example.org/crs> POINT(1 2)",  # unknown CRS
        f"{EPSG.format(999999)} POINT(1 2)",  # unknown EPSG code
        "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))",  # self-intersecting
        "POINT(500000 5000000)",  # projected coordinates without their CRS
        f"{EPSG.format(4326)} POINT(152.5 13.4)",  # latitude first: 152.5 is out of range
    ):
        assert geometry_value(bad, WKT_LITERAL) is None, bad
    assert geometry_value("{not json", GEOJSON_LITERAL) is None


def test_geometries_read_in_bulk_keep_their_positions() -> None:
    literals = [
        (f"{EPSG.format(4326)} POINT(52.5 13.4)", WKT_LITERAL),
        ("POINT(1", WKT_LITERAL),
        ('{"type": "Point", "coordinates": [1, 2]}', GEOJSON_LITERAL),
        ("POINT(3 4)", WKT_LITERAL),
        ("{not json", GEOJSON_LITERAL),
        ("<http://example.org/crs> POINT(1 2)", WKT_LITERAL),
        ("", WKT_LITERAL),
        (f"{EPSG.format(3857)} POINT(0 0)", WKT_LITERAL),
        ("POINT(5 6)", "http://example.org/notAGeometry"),
    ]
    bulk = geometry_values(literals)
    one_by_one = [geometry_value(lexical, datatype) for lexical, datatype in literals]
    assert [None if g is None else g.wkt for g in bulk] == [None if g is None else g.wkt for g in one_by_one]
    assert [None if g is None else g.wkt for g in bulk] == [
        "POINT (13.4 52.5)",
        None,
        "POINT (1 2)",
        "POINT (3 4)",
        None,
        None,
        "GEOMETRYCOLLECTION EMPTY",
        "POINT (0 0)",
        None,
    ]
    rows = term_rows([Literal(lexical, datatype=URIRef(datatype), normalize=False) for lexical, datatype in literals])
    assert [r.geom is not None for r in rows] == [g is not None for g in bulk]
    assert literal_row(*literals[0]).geom == rows[0].geom


def test_term_rows_and_back() -> None:
    assert term_row(URIRef(EX + "a")) == (row := term_row(URIRef(EX + "a"))) and (row.kind, row.lex) == (IRI, EX + "a")
    assert (term_row(BNode("b1")).kind, term_row(BNode("b1")).lex) == (BLANK, "b1")
    simple = term_row(Literal("x"))
    assert (simple.kind, simple.dt, simple.lang) == (LITERAL, XSD_STRING, None)
    assert term_row(Literal("x", datatype=xsd("string"))) == simple  # RDF 1.1: the same term
    lang = term_row(Literal("Hallo", lang="DE-ch"))
    assert (lang.dt, lang.lang) == (RDF_LANGSTRING, "de-ch")
    number = term_row(Literal("007", datatype=xsd("integer"), normalize=False))
    assert (number.lex, number.num, number.ill_typed) == ("007", Decimal(7), False)
    bad = term_row(Literal("abc", datatype=xsd("integer")))
    assert (bad.lex, bad.num, bad.ill_typed) == ("abc", None, True)
    geom = term_row(Literal("POINT(1 2)", datatype=URIRef(WKT_LITERAL)))
    assert geom.geom is not None and shapely.from_wkb(geom.geom).equals(shapely.Point(1, 2))
    assert shapely.get_srid(shapely.from_wkb(geom.geom)) == 4326
    for term in (
        URIRef(EX + "a"),
        BNode("b1"),
        Literal("x"),
        Literal("Hallo", lang="de-ch"),
        Literal("007", datatype=xsd("integer"), normalize=False),
        Literal("x", datatype=URIRef(EX + "dt")),
    ):
        row = term_row(term)
        assert to_term(row.kind, row.lex, row.dt, row.lang) == term
    with pytest.raises(TypeError):
        term_row(rdflib.Variable("x"))
