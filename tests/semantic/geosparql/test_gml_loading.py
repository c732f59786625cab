"""GML literals loaded into the quad table get their PostGIS geometry (``o_geom``), read as the query side reads
them; unreadable ones are kept, ill-typed, with no geometry. Expected geometries are written from the GML texts."""

from __future__ import annotations

from pathlib import Path

import shapely
import sqlalchemy as sa

from semantic.rdf.load import load_rdf
from semantic.rdf.terms import GEOMETRY_TYPES, geometry_values
from semantic.store.db import make_engine

GML = "http://www.opengis.net/ont/geosparql#gmlLiteral"
NS = 'xmlns:gml=\\"http://www.opengis.net/gml/3.2\\"'

LITERALS = {
    "crs84": (f"<gml:Point {NS}><gml:pos>13.4 52.5</gml:pos></gml:Point>", "POINT(13.4 52.5)"),
    "urn": (
        f'<gml:Point {NS} srsName=\\"urn:ogc:def:crs:EPSG::4326\\"><gml:pos>52.5 13.4</gml:pos></gml:Point>',
        "POINT(13.4 52.5)",
    ),
    "gml2": (
        '<gml:Polygon xmlns:gml=\\"http://www.opengis.net/gml\\" srsName=\\"EPSG:4326\\"><gml:outerBoundaryIs>'
        "<gml:LinearRing><gml:coordinates>10,50 11,50 11,51 10,50</gml:coordinates></gml:LinearRing>"
        "</gml:outerBoundaryIs></gml:Polygon>",
        "POLYGON((10 50, 11 50, 11 51, 10 50))",
    ),
    "empty": ("", "GEOMETRYCOLLECTION EMPTY"),
    "bad": (f"<gml:Point {NS}><gml:pos>1</gml:pos></gml:Point>", None),
}


def test_gml_is_a_geometry_type_read_in_bulk() -> None:
    assert GML in GEOMETRY_TYPES
    texts = [(lexical.replace('\\"', '"'), GML) for lexical, _ in LITERALS.values()]
    read = geometry_values([*texts, ("POINT(1 2)", "http://www.opengis.net/ont/geosparql#wktLiteral")])
    for got, (_, wkt) in zip(read, LITERALS.values(), strict=False):
        assert (
            (got is None)
            if wkt is None
            else got.equals(shapely.from_wkt(wkt)) or (got.is_empty and wkt.endswith("EMPTY"))
        )
    assert read[-1].equals(shapely.Point(1, 2))


def test_loaded_gml_literals_get_their_geometry(tmp_path: Path, catalog_url: str) -> None:
    data = tmp_path / "gml.ttl"
    lines = [
        f'<http://example.org/{k}> <http://example.org/g> "{lexical}"^^<{GML}> .'
        for k, (lexical, _) in LITERALS.items()
    ]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = make_engine(catalog_url)
    try:
        with engine.begin() as conn:
            result = load_rdf(conn, data)
            rows = conn.execute(sa.text("SELECT s, ST_AsText(o_geom), ST_SRID(o_geom), o_dt FROM rdf_quad")).all()
    finally:
        engine.dispose()
    assert result.quads == len(LITERALS) and result.ill_typed == 1
    stored = {s.rsplit("/", 1)[1]: (text, srid, dt) for s, text, srid, dt in rows}
    for key, (_, wkt) in LITERALS.items():
        text, srid, dt = stored[key]
        assert dt == GML
        if wkt is None:
            assert text is None, key
        else:
            assert (srid == 4326 and shapely.from_wkt(text).equals(shapely.from_wkt(wkt))) or text == wkt, key
