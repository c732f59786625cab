"""The catalogue tables as a virtual graph: SPARQL over the R2RML mappings, T-mappings and the quad table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from rdflib import Literal, URIRef

from esdl_testing.catalogue import insert_catalogue
from semantic.errors import MappingError, UnsupportedFeature
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SparqlEngine
from semantic.store.db import make_engine

PREFIXES = """PREFIX esdl: <https://w3id.org/esdl/ontology#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX geof: <http://www.opengis.net/def/function/geosparql/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX ex: <http://ex/>
"""
BASE = "https://w3id.org/esdl/"


@pytest.fixture
def catalogue(catalog_url: str) -> sa.Engine:
    """A small catalogue: one cube with one variable, three regions, statistics for two of them."""
    engine = make_engine(catalog_url)
    with engine.begin() as conn:
        insert_catalogue(conn, "demo", [(3, "lst", "K")], ["north", "south", "far"])
    return engine


def select(engine: SparqlEngine, query: str) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in row.items()} for row in engine.query(PREFIXES + query).rows]


def test_classes_and_labels_from_the_mapped_tables(catalogue: sa.Engine) -> None:
    sparql = SparqlEngine(catalogue)
    rows = select(sparql, "SELECT ?r ?name WHERE { ?r a esdl:Region ; rdfs:label ?name } ORDER BY ?name")
    assert rows == [
        {"r": f"{BASE}region/5", "name": "far"},
        {"r": f"{BASE}region/1", "name": "north"},
        {"r": f"{BASE}region/2", "name": "south"},
    ]
    # T-mappings: regions and cubes are geo:Features (subclass, and the domain of hasDefaultGeometry)
    features = {r["f"] for r in select(sparql, "SELECT DISTINCT ?f WHERE { ?f a geo:Feature }")}
    assert features == {f"{BASE}region/1", f"{BASE}region/2", f"{BASE}region/5", f"{BASE}cube/7"}


def test_geosparql_filter_over_mapped_geometries(catalogue: sa.Engine) -> None:
    sparql = SparqlEngine(catalogue)
    query = """SELECT ?name WHERE {
        ?r a esdl:Region ; rdfs:label ?name ; geo:hasGeometry ?g . ?g geo:asWKT ?wkt
        FILTER(geof:sfIntersects(?wkt, "POLYGON((1 44, 2 44, 2 46, 1 46, 1 44))"^^geo:wktLiteral))
    } ORDER BY ?name"""
    assert [r["name"] for r in select(sparql, query)] == ["north", "south"]


def test_zonal_statistics_as_observations(catalogue: sa.Engine) -> None:
    sparql = SparqlEngine(catalogue)
    query = """SELECT ?name ?time ?mean WHERE {
        ?o a qb:Observation ; esdl:region ?r ; esdl:time ?time ; esdl:mean ?mean . ?r rdfs:label ?name
        FILTER(?mean > 280)
    } ORDER BY ?mean"""
    rows = sparql.query(PREFIXES + query).rows
    assert [(str(r["name"]), str(r["time"]), r["mean"].toPython()) for r in rows] == [
        ("north", "2020-01-01T00:00:00Z", 281.5),
        ("south", "2020-01-01T00:00:00Z", 290.25),
    ]
    agg = (
        "SELECT ?name (AVG(?m) AS ?avg) WHERE { ?o esdl:region ?r ; esdl:mean ?m . ?r rdfs:label ?name } GROUP BY ?name"
    )
    got = {str(r["name"]): float(r["avg"]) for r in sparql.query(PREFIXES + agg).rows}
    assert got == {"north": pytest.approx(280.25), "south": pytest.approx(290.25)}


def test_one_query_joins_mapped_tables_and_loaded_rdf(catalogue: sa.Engine, tmp_path: Path) -> None:
    notes = tmp_path / "notes.ttl"
    notes.write_text(f'<{BASE}region/1> <http://ex/note> "glacier catchment" .\n')
    with catalogue.begin() as conn:
        load_rdf(conn, notes)
    sparql = SparqlEngine(catalogue)
    rows = select(sparql, "SELECT ?name ?note WHERE { ?r rdfs:label ?name ; ex:note ?note }")
    assert rows == [{"name": "north", "note": "glacier catchment"}]


def test_a_querys_sql_is_the_same_whenever_it_is_translated(catalogue: sa.Engine) -> None:
    """The mapped tables' aliases are numbered afresh in each translation: translated again after other queries
    (a load, an explain), a query is the same SQL text (they were numbered on from the engine's last translation:
    ``m0`` the first time, ``m4`` after another query)."""
    sparql = SparqlEngine(catalogue)
    query = PREFIXES + "SELECT ?r ?name WHERE { ?r a esdl:Region ; rdfs:label ?name }"
    first = sparql.translate_here(query).sql
    assert re.search(r"\bregion AS m0\b", first)
    sparql.translate_here(PREFIXES + "SELECT ?c WHERE { ?c a qb:DataSet ; rdfs:label ?l }")
    assert sparql.translate_here(query).sql == first == sparql.translate(query).sql


def test_mapped_terms_are_typed_literals(catalogue: sa.Engine) -> None:
    sparql = SparqlEngine(catalogue)
    rows = sparql.query(PREFIXES + f"SELECT ?p ?o WHERE {{ <{BASE}variable/3> ?p ?o }}").rows
    found = {(str(r["p"]), r["o"]) for r in rows}
    assert (f"{PREFIXES.split('esdl: <')[1].split('>')[0]}units", Literal("K")) in found
    assert any(o == URIRef(f"{BASE}cube/7") for _, o in found)


def test_mappings_are_validated_at_start_up(catalogue: sa.Engine) -> None:
    with catalogue.begin() as conn:
        conn.execute(sa.text("ALTER TABLE region RENAME COLUMN name TO title"))
    with pytest.raises(MappingError, match="region has no column name"):
        SparqlEngine(catalogue)


def test_topology_relations_as_triple_patterns(catalogue: sa.Engine, tmp_path: Path) -> None:
    """``?a geo:sfWithin ?b`` between features, through their default geometries (the query-rewrite
    extension), across the mapped tables and loaded RDF."""
    places = tmp_path / "places.ttl"
    places.write_text(
        "@prefix geo: <http://www.opengis.net/ont/geosparql#> .\n"
        "<http://ex/lake> a geo:Feature ; geo:hasDefaultGeometry <http://ex/lake/g> .\n"
        '<http://ex/lake/g> geo:asWKT "POINT(2 47)"^^geo:wktLiteral .\n'
        '<http://ex/shore> geo:asWKT "POINT(2 45)"^^geo:wktLiteral .\n'
    )
    with catalogue.begin() as conn:
        load_rdf(conn, places)
    sparql = SparqlEngine(catalogue)
    within = select(sparql, "SELECT ?name WHERE { <http://ex/lake> geo:sfWithin ?r . ?r rdfs:label ?name }")
    assert within == [{"name": "north"}]
    touches = select(
        sparql, "SELECT ?name WHERE { <http://ex/shore> geo:sfTouches ?r . ?r rdfs:label ?name } ORDER BY ?name"
    )
    assert touches == [{"name": "north"}, {"name": "south"}]  # the point lies on their shared edge
    contains = select(sparql, "SELECT ?x WHERE { ?r rdfs:label 'north' . ?r geo:sfContains ?x }")
    # a polygon contains itself (DE-9IM T*****FF*), so the region and its geometry are there too
    assert {r["x"] for r in contains} == {
        "http://ex/lake",
        "http://ex/lake/g",
        f"{BASE}region/1",
        f"{BASE}region/1/geometry",
    }


def test_constant_iris_become_key_conditions(catalogue: sa.Engine) -> None:
    """An IRI the region template produces is matched on the key column; one it cannot produce matches
    nothing (and is not an error)."""
    sparql = SparqlEngine(catalogue)
    query = f"SELECT ?name WHERE {{ <{BASE}region/2> rdfs:label ?name }}"
    assert select(sparql, query) == [{"name": "south"}]
    sql = sparql.sql(PREFIXES + query)
    assert ".id = %(" in sql and f"{BASE}region/2" not in sql  # the key column, with a bound parameter
    assert select(sparql, f"SELECT ?name WHERE {{ <{BASE}region/two> rdfs:label ?name }}") == []


def test_property_paths_reach_the_mapped_tables(catalogue: sa.Engine) -> None:
    sparql = SparqlEngine(catalogue)
    query = "SELECT ?w WHERE { ?r rdfs:label 'north' ; geo:hasGeometry/geo:asWKT ?w }"
    assert [r["w"] for r in select(sparql, query)] == ["MULTIPOLYGON(((0 45,0 50,5 50,5 45,0 45)))"]
    obs = "SELECT ?name WHERE { ?o esdl:mean ?m ; esdl:region/rdfs:label ?name FILTER(?m = 290.25) }"
    assert select(sparql, obs) == [{"name": "south"}]
    with pytest.raises(UnsupportedFeature, match="zero-length paths between two variables"):
        sparql.query(PREFIXES + "SELECT ?a ?b WHERE { ?a rdfs:label* ?b }")


def test_rdf_loaded_after_a_query_is_seen_by_the_same_engine(catalogue: sa.Engine, tmp_path: Path) -> None:
    """The quad table's branches of a pattern are left out while it holds no matching quad (rdf_signature); a
    load committed later bumps the signature's version and the cached translation is rendered again."""
    sparql = SparqlEngine(catalogue)
    query = "SELECT ?name ?note WHERE { ?r rdfs:label ?name ; ex:note ?note }"
    assert select(sparql, query) == []
    assert "rdf_quad" not in sparql.sql(PREFIXES + query)  # nothing loaded: the mapped tables alone
    notes = tmp_path / "notes.ttl"
    notes.write_text(f'<{BASE}region/2> <http://ex/note> "dry" .\n')
    with catalogue.begin() as conn:
        load_rdf(conn, notes)
    assert select(sparql, query) == [{"name": "south", "note": "dry"}]
    with catalogue.begin() as conn:
        conn.execute(sa.text("DELETE FROM rdf_quad"))
    assert select(sparql, query) == []


def test_rdf_signature_follows_every_change_of_the_quad_table(catalogue: sa.Engine) -> None:
    rdf_type = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

    def state() -> tuple[set[tuple[str, str, str, int]], int]:
        with catalogue.connect() as conn:
            rows = {tuple(r) for r in conn.execute(sa.text("SELECT graph, p, cls, n FROM rdf_signature"))}
            return rows, conn.execute(sa.text("SELECT version FROM rdf_signature_state")).scalar_one()

    _, v0 = state()
    insert = (
        "INSERT INTO rdf_quad (graph, s_kind, s, p, o_kind, o, source) VALUES "
        f"('', 1, 'http://ex/a', '{rdf_type}', 1, 'http://ex/C', 't'), "
        f"('', 1, 'http://ex/b', '{rdf_type}', 1, 'http://ex/C', 't'), "
        "('http://ex/g', 1, 'http://ex/a', 'http://ex/p', 3, '1', 't')"
    )
    with catalogue.begin() as conn:
        conn.execute(sa.text(insert))
    rows, v1 = state()
    assert rows == {("", rdf_type, "http://ex/C", 2), ("http://ex/g", "http://ex/p", "", 1)} and v1 > v0
    with catalogue.begin() as conn:  # a count changes, no key comes or goes: the version stays
        conn.execute(sa.text("DELETE FROM rdf_quad WHERE s = 'http://ex/b'"))
    rows, v2 = state()
    assert ("", rdf_type, "http://ex/C", 1) in rows and v2 == v1
    with catalogue.begin() as conn:
        conn.execute(sa.text("UPDATE rdf_quad SET p = 'http://ex/q' WHERE p = 'http://ex/p'"))
    rows, v3 = state()
    assert ("http://ex/g", "http://ex/q", "", 1) in rows and ("http://ex/g", "http://ex/p", "", 1) not in rows
    assert v3 > v2
    with catalogue.begin() as conn:
        conn.execute(sa.text("TRUNCATE rdf_quad"))
    rows, v4 = state()
    assert rows == set() and v4 > v3
    with catalogue.begin() as conn:  # a rolled-back load leaves no trace
        conn.execute(sa.text(insert))
        conn.rollback()
    assert state() == (set(), v4)


def test_optional_on_the_same_row_is_one_scan(catalogue: sa.Engine) -> None:
    """OPTIONAL over columns of the rows the required part reads: the left join becomes CASE expressions, with
    the OPTIONAL's FILTER and NULL columns leaving its variables unbound."""
    with catalogue.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO variable (id, cube_id, name, units, dtype) OVERRIDING SYSTEM VALUE VALUES "
                "(4, 7, 'ndvi', NULL, 'float32'), (6, 7, 'sst', 'K', 'float32')"
            )
        )
    sparql = SparqlEngine(catalogue)
    query = (
        "SELECT ?name ?units WHERE { ?v a esdl:Variable ; rdfs:label ?name . "
        "OPTIONAL { ?v esdl:units ?units FILTER(?name != 'sst') } } ORDER BY ?name"
    )
    assert select(sparql, query) == [{"name": "lst", "units": "K"}, {"name": "ndvi"}, {"name": "sst"}]
    sql = sparql.sql(PREFIXES + query)
    assert "LEFT OUTER JOIN" not in sql and sql.count("FROM variable") == 1


def explain(engine: sa.Engine, sparql: SparqlEngine, query: str) -> str:
    statement = sparql.translate(PREFIXES + query).statement
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as conn:
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))


def test_topology_pattern_is_a_spatial_join_of_the_tables(catalogue: sa.Engine) -> None:
    """?r geo:sfWithin ?c between features with default geometries: the tables are joined on ST_Within of
    their geometry columns, never on IRI strings."""
    sparql = SparqlEngine(catalogue)
    query = "SELECT ?r WHERE { ?c a esdl:Cube . ?r a esdl:Region ; geo:sfWithin ?c } ORDER BY ?r"
    assert select(sparql, query) == [{"r": f"{BASE}region/1"}, {"r": f"{BASE}region/2"}]
    plan = explain(catalogue, sparql, query)
    assert re.search(r"st_within\(\w*\.?geom, m\d+\.footprint\)", plan) and "rdf_quad" not in plan
    assert not [line for line in plan.splitlines() if "Cond:" in line and "concat" in line], plan


def test_min_max_of_a_typed_column_is_a_plain_aggregate(catalogue: sa.Engine) -> None:
    """MIN/MAX over a variable bound to a numeric column: the extreme value is the extreme term (no sort of the
    group's terms), with the column's lexical form and datatype."""
    sparql = SparqlEngine(catalogue)
    query = (
        "SELECT ?name (MAX(?m) AS ?hi) (MIN(?m) AS ?lo) WHERE { ?o a qb:Observation ; esdl:region ?r ; "
        "esdl:mean ?m . ?r rdfs:label ?name } GROUP BY ?name ORDER BY ?name"
    )
    rows = sparql.query(PREFIXES + query).rows
    double = URIRef("http://www.w3.org/2001/XMLSchema#double")
    assert [(str(r["name"]), r["hi"], r["lo"]) for r in rows] == [
        ("north", Literal("281.5", datatype=double), Literal("279", datatype=double, normalize=False)),
        ("south", Literal("290.25", datatype=double), Literal("290.25", datatype=double)),
    ]
    assert "array_agg" not in sparql.sql(PREFIXES + query)


def test_avg_and_sum_of_a_typed_column(catalogue: sa.Engine) -> None:
    """AVG/SUM over a double column: the datatype is known while rendering (xsd:double), an empty group is 0."""
    sparql = SparqlEngine(catalogue)
    query = (
        "SELECT ?name (AVG(?m) AS ?avg) (SUM(?m) AS ?sum) (COUNT(?m) AS ?n) WHERE { ?r a esdl:Region ; "
        "rdfs:label ?name . OPTIONAL { ?o esdl:region ?r ; esdl:mean ?m } } GROUP BY ?name ORDER BY ?name"
    )
    rows = sparql.query(PREFIXES + query).rows
    got = [
        (str(r["name"]), r["avg"].toPython(), str(r["avg"].datatype), r["sum"].toPython(), int(r["n"])) for r in rows
    ]
    double, integer = "http://www.w3.org/2001/XMLSchema#double", "http://www.w3.org/2001/XMLSchema#integer"
    decimal = "http://www.w3.org/2001/XMLSchema#decimal"
    assert got == [
        ("far", 0, decimal, 0, 0),
        ("north", 280.25, double, 560.5, 2),
        ("south", 290.25, double, 290.25, 1),
    ]
    assert str(rows[0]["sum"].datatype) == integer


def test_unmatched_optional_leaves_constant_kind_terms_unbound(catalogue: sa.Engine) -> None:
    """An OPTIONAL part on other rows is a LEFT JOIN: where it does not match, its IRI variables (whose kind is
    a constant in the mapped SELECT) are unbound, not IRIs without text."""
    sparql = SparqlEngine(catalogue)
    query = (
        "SELECT ?name ?c WHERE { ?r a esdl:Region ; rdfs:label ?name . "
        "OPTIONAL { ?c a esdl:Cube ; dcat:version ?ver FILTER(?ver = '2' || ?name = 'far') } } ORDER BY ?name"
    )
    assert select(sparql, query) == [{"name": "far", "c": f"{BASE}cube/7"}, {"name": "north"}, {"name": "south"}]


def test_lifted_iri_templates_match_the_database_iris(catalogue: sa.Engine) -> None:
    """The outermost SELECT fetches an IRI template's key columns and the decoder builds the IRI (percent-encoding
    text columns, formatting integers): for awkward feature kinds, the IRIs are exactly the ones the database
    builds for STR(?f) and for the geometry template."""
    kinds = ["lst>300", "a b/c?d#e", "100%d %s", "{x}", "Zürich–Ørsted 東京", "~._-", "".join(map(chr, range(1, 128)))]
    with catalogue.begin() as conn:
        for part, kind in enumerate(kinds):
            conn.execute(
                sa.text(
                    "INSERT INTO feature (variable_id, kind, time, part, geom, value, n_cells, area_m2) VALUES "
                    "(3, :kind, '2020-01-01 10:20:30.25+02', :part, ST_Multi(ST_MakeEnvelope(1, 46, 2, 47, 4326)), "
                    "300, 4, 1e6)"
                ),
                {"kind": kind, "part": part},
            )
    sparql = SparqlEngine(catalogue)
    query = PREFIXES + (
        "SELECT ?f ?g ?k WHERE { ?f a esdl:DerivedFeature ; geo:hasDefaultGeometry ?g ; esdl:threshold ?k }"
    )
    translation = sparql.translate(query)
    lifted = {name: lift for name, _, lift in translation.plan if lift is not None}
    assert set(lifted) == {"f", "g"}  # the IRIs come from the key columns, not from concat() in SQL
    assert "concat" not in translation.sql
    rows = sparql.query(query).rows
    assert sorted(str(r["k"]) for r in rows) == sorted(kinds)
    in_sql = {
        str(r["k"]): (str(r["sf"]), str(r["sg"]))
        for r in sparql.query(
            PREFIXES + "SELECT ?k (STR(?f) AS ?sf) (STR(?g) AS ?sg) WHERE { "
            "?f a esdl:DerivedFeature ; geo:hasDefaultGeometry ?g ; esdl:threshold ?k }"
        ).rows
    }
    for r in rows:
        assert type(r["f"]) is URIRef and (str(r["f"]), str(r["g"])) == in_sql[str(r["k"])]
    (one,) = [r for r in rows if str(r["k"]) == "lst>300"]
    assert str(one["f"]) == f"{BASE}feature/3/lst%3E300/2020-01-01T08%3A20%3A30Z/0"


def test_geometry_properties_as_triple_patterns(catalogue: sa.Engine, tmp_path: Path) -> None:
    """GeoSPARQL's geometry properties (dimension, coordinate and spatial dimension, isEmpty, isSimple) are
    triples of every geometry: computed from the mapped geometry columns and from loaded WKT/GeoJSON literals,
    once per geometry however many serialisations it has. (Geometries are stored in two dimensions, so the
    coordinate and spatial dimensions are 2: see docs/sparql.md.)"""
    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(
        "@prefix geo: <http://www.opengis.net/ont/geosparql#> .\n"
        '<http://ex/peak> geo:asWKT "POINT(7 46)"^^geo:wktLiteral ;\n'
        '    geo:asGeoJSON "{\\"type\\": \\"Point\\", \\"coordinates\\": [7, 46]}"^^geo:geoJSONLiteral .\n'
        '<http://ex/loop> geo:asWKT "LINESTRING(0 0, 2 2, 2 0, 0 2)"^^geo:wktLiteral .\n'
        '<http://ex/none> geo:asWKT "POINT EMPTY"^^geo:wktLiteral .\n'
    )
    with catalogue.begin() as conn:
        load_rdf(conn, shapes)
    sparql = SparqlEngine(catalogue)
    query = (
        "SELECT ?g ?d ?c ?s ?e ?simple WHERE { ?g geo:dimension ?d ; geo:coordinateDimension ?c ; "
        "geo:spatialDimension ?s ; geo:isEmpty ?e ; geo:isSimple ?simple }"
    )
    rows = {r["g"]: (r["d"], r["c"], r["s"], r["e"], r["simple"]) for r in select(sparql, query)}
    assert len(select(sparql, query)) == len(rows)  # one solution per geometry
    polygon = ("2", "2", "2", "false", "true")
    assert rows == {
        f"{BASE}region/1/geometry": polygon,
        f"{BASE}region/2/geometry": polygon,
        f"{BASE}region/5/geometry": polygon,
        f"{BASE}cube/7/footprint": polygon,
        "http://ex/peak": ("0", "2", "2", "false", "true"),
        "http://ex/loop": ("1", "2", "2", "false", "false"),  # it crosses itself
        "http://ex/none": ("0", "2", "2", "true", "true"),
    }
    typed = sparql.query(PREFIXES + "SELECT ?d ?e WHERE { <http://ex/loop> geo:dimension ?d ; geo:isEmpty ?e }")
    ((d, e),) = [(r["d"], r["e"]) for r in typed.rows]
    assert d == Literal(1) and e == Literal(False)
    mapped = sparql.query(PREFIXES + f"SELECT ?d WHERE {{ <{BASE}region/2/geometry> geo:dimension ?d }}").rows
    assert [r["d"] for r in mapped] == [Literal(2)]
    # the geometries are geo:Geometry (the properties' domain) once each, not once per property
    kinds = select(sparql, "SELECT ?g WHERE { ?g a geo:Geometry }")
    assert len(kinds) == len({r["g"] for r in kinds})


def test_averages_keep_every_digit_whatever_the_session_says(catalogue: sa.Engine) -> None:
    """An average is a computed double read from the database's text of it: a session that rounds doubles' text
    (extra_float_digits 0) does not round the answer's canonical form."""
    with catalogue.begin() as conn:
        conn.exec_driver_sql("UPDATE zonal_stat SET mean = CASE WHEN mean < 280.25 THEN 0.1 ELSE 0.2 END")
    rounding = sa.create_engine(catalogue.url, connect_args={"options": "-c extra_float_digits=0"})
    with rounding.connect() as conn:
        assert conn.exec_driver_sql("SELECT 0.15000000000000002::float8::text").scalar() == "0.15"
    query = (
        "SELECT ?name (AVG(?m) AS ?avg) WHERE { ?o esdl:region ?r ; esdl:mean ?m . ?r rdfs:label ?name } GROUP BY ?name"
    )
    rows = {str(r["name"]): r["avg"] for r in SparqlEngine(rounding).query(PREFIXES + query).rows}
    double = URIRef("http://www.w3.org/2001/XMLSchema#double")
    assert rows["north"] == Literal("1.5000000000000002E-1", datatype=double, normalize=False)
    assert rows["north"].value == (0.1 + 0.2) / 2 and str(rows["north"]) == "1.5000000000000002E-1"


def test_str_of_every_mapped_term_is_its_lexical_form(catalogue: sa.Engine) -> None:
    """STR over every object of the virtual graph (mapped doubles, integers, times, geometries, IRIs): the
    lexical form of the term itself, also inside REGEX and GROUP_CONCAT."""
    sparql = SparqlEngine(catalogue)
    rows = sparql.query("SELECT ?o (STR(?o) AS ?x) WHERE { ?s ?p ?o FILTER(!isBlank(?o)) }").rows
    assert len(rows) > 20
    assert [(r["o"], r["x"]) for r in rows if str(r["x"]) != str(r["o"]) or r["x"].datatype is not None] == []
    every = {str(r["o"]) for r in rows}
    matched = sparql.query("SELECT ?o WHERE { ?s ?p ?o FILTER REGEX(STR(?o), '^[0-9]') }").rows
    assert {str(r["o"]) for r in matched} == {o for o in every if o[:1].isdigit()}
    (row,) = sparql.query("SELECT (GROUP_CONCAT(STR(?o); separator='\\n') AS ?all) WHERE { ?s ?p ?o }").rows
    assert len(str(row["all"]).split("\n")) == len(sparql.query("SELECT ?o WHERE { ?s ?p ?o }").rows)


def test_long_variable_names_keep_their_own_columns(catalogue: sa.Engine) -> None:
    """PostgreSQL cuts identifiers at 63 bytes: variables sharing their first 70 characters (or named in
    multi-byte letters) must still be columns of their own, in plain, grouped, optional and nested patterns."""
    sparql = SparqlEngine(catalogue)
    a, b, greek = "v" * 70 + "_subject", "v" * 70 + "_object", "λ" * 40  # the last: 80 bytes in UTF-8
    short = sparql.query("SELECT ?s ?o WHERE { ?s rdfs:label ?o }").rows
    long = sparql.query(f"SELECT ?{a} ?{b} WHERE {{ ?{a} rdfs:label ?{b} }}").rows
    assert sorted((str(r[a]), str(r[b])) for r in long) == sorted((str(r["s"]), str(r["o"])) for r in short)
    pattern = (
        "SELECT ?{s} (COUNT(?{o}) AS ?{n}) WHERE {{ ?{s} ?p ?x OPTIONAL {{ ?{s} rdfs:label ?{o} }} }} GROUP BY ?{s}"
    )
    grouped = sparql.query(pattern.format(s=a, o=b, n=greek)).rows
    plain = sparql.query(pattern.format(s="s", o="o", n="n")).rows
    assert grouped and sorted((str(r[a]), int(r[greek])) for r in grouped) == sorted(
        (str(r["s"]), int(r["n"])) for r in plain
    )
