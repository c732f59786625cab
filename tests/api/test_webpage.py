"""The query page at ``/``, driven in headless Chromium (Playwright) against a real ``esdl serve``.

Chromium is a system package (``make`` installs it); a missing browser fails these tests, never skips them
(the ``browser`` fixture: :mod:`esdl_testing.fixtures.browser`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from esdl_testing.database import fresh_database
from esdl_testing.servers import running_server
from semantic.rdf.load import load_rdf
from semantic.store.db import make_engine

PLACES = """@prefix ex: <http://ex/> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:well rdfs:label "Well" ; geo:hasGeometry [ geo:asWKT "POINT(3 45)"^^geo:wktLiteral ] .
ex:spring rdfs:label "Spring" ; geo:hasGeometry [
    geo:asWKT "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(46 4)"^^geo:wktLiteral ] .
ex:river rdfs:label "River" ; geo:hasGeometry [ geo:asWKT "LINESTRING(0 40, 5 42, 9 41)"^^geo:wktLiteral ] .
ex:lakes rdfs:label "Lakes" ; geo:hasGeometry [ geo:asWKT
    '''MULTIPOLYGON(((1 44, 2 44, 2 46, 1 46, 1 44), (1.2 44.5, 1.5 44.5, 1.5 45, 1.2 44.5)),
                    ((6 44, 7 44, 7 45, 6 44)))'''^^geo:wktLiteral ] .
ex:pond rdfs:label "Pond" ; geo:hasGeometry [ geo:asGeoJSON
    "{\\"type\\": \\"Polygon\\", \\"coordinates\\": [[[4, 43], [5, 43], [5, 44], [4, 43]]]}"^^geo:geoJSONLiteral ] .
"""
QUERY = """PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?name ?shape WHERE {
  ?f rdfs:label ?name ; geo:hasGeometry ?g .
  { ?g geo:asWKT ?shape } UNION { ?g geo:asGeoJSON ?shape }
  FILTER(STRSTARTS(STR(?f), "http://ex/"))
} ORDER BY ?name"""


@pytest.fixture(scope="module")
def page_url(postgis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``esdl serve`` over a catalogue with two regions and a few loaded places (shared: the tests only read)."""
    with fresh_database(postgis_server) as url:
        yield from _serve(url, tmp_path_factory.mktemp("page"))


def _serve(catalog_url: str, tmp_path: Path) -> Iterator[str]:
    engine = make_engine(catalog_url)
    path = tmp_path / "places.ttl"
    path.write_text(PLACES)
    with engine.begin() as conn:
        load_rdf(conn, path)
        for rid, name, box in [(1, "north", (0, 45, 5, 50)), (2, "south", (0, 40, 5, 45))]:
            conn.execute(
                sa.text(
                    "INSERT INTO region (id, source, name, kind, geom, area_m2, properties) OVERRIDING SYSTEM VALUE "
                    "VALUES (:id, 'zones', :name, 'basin', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), 1, "
                    "'{}')"
                ),
                {"id": rid, "name": name, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]},
            )
    engine.dispose()
    with running_server(catalog_url, tmp_path / "serve.log") as base:
        yield base + "/"


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_query_shows_a_table_and_draws_the_geometries(browser: Browser, page_url: str, tmp_path: Path) -> None:
    page = open_page(browser, page_url)
    page.fill("#query", QUERY)
    page.click("#run")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(5)
    assert [page.locator("#results thead th").nth(i).inner_text() for i in range(2)] == ["?name", "?shape"]
    names = rows.locator("td:first-child .value").all_inner_texts()
    assert names == sorted(names) and set(names) == {"Lakes", "Pond", "River", "Spring", "Well"}
    assert page.locator("#results tbody td .type").first.inner_text().startswith("^^geo:")
    # points as circles; the line, the multipolygon (with a hole) and the GeoJSON polygon as paths
    expect(page.locator("#shapes circle")).to_have_count(2)
    expect(page.locator("#shapes path.area")).to_have_count(2)
    expect(page.locator("#shapes path.line")).to_have_count(1)
    outline = page.locator("#shapes path.area").first.get_attribute("d")
    assert outline is not None and outline.count("Z") in (1, 3)
    # the view is fitted: every shape lies inside the 800 × 400 view box
    for el in page.locator("#shapes circle, #shapes path").all():
        box = el.evaluate("e => { const b = e.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; }")
        assert -5 <= box[0] <= box[2] <= 805 and -5 <= box[1] <= box[3] <= 405
    # EPSG:4326 WKT is latitude first: "POINT(46 4)" is at lon 4, right of the well at lon 3
    circles = {
        c.locator("title").text_content(): float(c.get_attribute("cx") or "nan")
        for c in page.locator("#shapes circle").all()
    }
    assert circles["Spring"] > circles["Well"]
    expect(page.locator("#status")).to_contain_text("5 rows, 5 geometries")
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "query-page.png"), full_page=True)
    assert (tmp_path / "query-page.png").stat().st_size > 10_000
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_example_query_draws_the_catalogue_regions(browser: Browser, page_url: str) -> None:
    page = open_page(browser, page_url)
    assert "esdl:Region" in page.input_value("#query")
    page.click("#run")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.locator("#shapes path.area")).to_have_count(2)
    assert page.errors == []  # type: ignore[attr-defined]


def test_errors_are_shown_in_a_box(browser: Browser, page_url: str) -> None:
    page = open_page(browser, page_url)
    page.fill("#query", "SELECT ?x WHERE { ?x ")
    page.click("#run")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("400 syntax")
    page.fill("#query", "SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#error")).to_contain_text("unsupported")
    page.fill("#query", "ASK { ?s ?p ?o }")
    page.click("#run")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("ASK: true")
    page.click("#explain")
    expect(page.locator("#sql")).to_contain_text("rdf_quad")


def test_wkt_and_geojson_parsing(browser: Browser, page_url: str) -> None:
    page = open_page(browser, page_url)
    cases = {
        "POINT Z (1 2 3)": {"type": "Point", "coordinates": [1, 2]},
        "point(1e1 -2.5)": {"type": "Point", "coordinates": [10, -2.5]},
        "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(46 4)": {"type": "Point", "coordinates": [4, 46]},
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POINT(4 46)": {"type": "Point", "coordinates": [4, 46]},
        "MULTIPOINT (1 2, 3 4)": {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
        "MULTIPOINT ((1 2), (3 4))": {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
        "POLYGON EMPTY": None,
        "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))": {
            "type": "MultiLineString",
            "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]],
        },
        "GEOMETRYCOLLECTION (POINT (1 2), POLYGON EMPTY, LINESTRING (0 0, 1 1))": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Point", "coordinates": [1, 2]},
                {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            ],
        },
    }
    for wkt, expected in cases.items():
        assert page.evaluate("t => window.esdl.parseWkt(t)", wkt) == expected, wkt
    for bad, message in (
        ("<http://www.opengis.net/def/crs/EPSG/0/3857> POINT(1 2)", "CRS not drawn"),
        ("POINT(1)", "bad coordinate"),
        ("CIRCLE(1 2)", "unknown geometry type"),
        ("POINT(1 2) x", "unexpected text"),
    ):
        error = page.evaluate(
            "t => { try { window.esdl.parseWkt(t); return ''; } catch (e) { return e.message; } }", bad
        )
        assert message in error, bad
    feature = '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}}'
    assert page.evaluate("t => window.esdl.parseGeoJson(t)", feature) == {"type": "Point", "coordinates": [1, 2]}
