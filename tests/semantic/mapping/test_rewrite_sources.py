"""The query-rewrite rule with and without the virtual graph: the same entailed relations, each once, through any
serialisation (WKT in two CRSs, GeoJSON, GML), from a geometry or a feature's default geometry."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from esdl_testing.catalogue import insert_catalogue
from semantic.geosparql.properties import GEOMETRY_VALUE
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine

EX = "http://example.org/"
GEO = "http://www.opengis.net/ont/geosparql#"
GML = 'xmlns:gml=\\"http://www.opengis.net/gml/3.2\\"'
DATA = f"""@prefix ex: <{EX}> .
@prefix geo: <{GEO}> .
ex:square geo:asWKT "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))"^^geo:wktLiteral .
ex:p1 geo:asWKT "POINT(1 1)"^^geo:wktLiteral ,
    "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(1 1)"^^geo:wktLiteral ;
    geo:asGeoJSON "{{\\"type\\": \\"Point\\", \\"coordinates\\": [1, 1]}}"^^geo:geoJSONLiteral .
ex:p2 geo:asGML "<gml:Point {GML}><gml:pos>3 2</gml:pos></gml:Point>"^^geo:gmlLiteral .
ex:far geo:asWKT "POINT(9 9)"^^geo:wktLiteral .
ex:town geo:hasDefaultGeometry ex:p1, ex:p2 ; geo:sfWithin ex:square .
"""
QUERY = f"PREFIX geo: <{GEO}>\nSELECT ?x WHERE {{ ?x geo:sfWithin <{EX}square> }}"


@pytest.mark.parametrize("virtual", [True, False])
def test_the_rule_gives_each_relation_once(catalog_engine: sa.Engine, tmp_path: Path, virtual: bool) -> None:
    path = tmp_path / "data.ttl"
    path.write_text(DATA, encoding="utf-8")
    with catalog_engine.begin() as conn:
        load_rdf(conn, path, graph=None)
    answer = SparqlEngine(catalog_engine, virtual=virtual).query(QUERY)
    assert isinstance(answer, SelectResult)
    # p1 (three serialisations of one point) and p2 (GML) inside the square; the town stated and through both of
    # its default geometries; the square within itself; the far point outside
    got = sorted(str(row["x"]) for row in answer.rows)
    assert got == sorted(EX + x for x in ("p1", "p2", "square", "town"))


def test_geometry_values_are_no_answer_to_a_variable_predicate(catalog_engine: sa.Engine) -> None:
    """The rule's internal property stays internal: a mapped geometry's triples are its serialisations and
    GeoSPARQL's geometry properties, not the value the rewrite reads."""
    with catalog_engine.begin() as conn:
        insert_catalogue(conn, "demo cube", [(3, "t", "K")], ["north", "south", "far"])
    answer = SparqlEngine(catalog_engine).query("SELECT ?p WHERE { <https://w3id.org/esdl/region/1/geometry> ?p ?o }")
    assert isinstance(answer, SelectResult)
    predicates = {str(row["p"]) for row in answer.rows}
    assert {GEO + "asWKT", GEO + "asGeoJSON", GEO + "dimension"} <= predicates
    assert GEOMETRY_VALUE not in predicates
