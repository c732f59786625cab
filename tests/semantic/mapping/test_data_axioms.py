"""RDFS from the data: axioms loaded with the quads join the shipped ontology in the T-mappings, are picked up
when they change (migration 0010's version bump), and the query-rewrite rule's sources decide whether its union
needs a DISTINCT."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from esdl_testing.catalogue import insert_catalogue
from semantic.mapping import load_ontology, parse_ontology
from semantic.mapping.tbox import Role, TBox
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine
from semantic.sparql.geometry_values import RewriteSources
from semantic.sparql.query_rewrite import RELATIONS
from semantic.sparql.rdfs import read_axioms, read_signature, with_axioms

EX = "http://example.org/"
GEO = "http://www.opengis.net/ont/geosparql#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
PREFIXES = f"@prefix ex: <{EX}> .\n@prefix geo: <{GEO}> .\n@prefix rdfs: <{RDFS}> .\n"
FEATURES = f"PREFIX geo: <{GEO}>\nSELECT ?x WHERE {{ ?x a geo:Feature }}"


def _load(engine: sa.Engine, tmp_path: Path, name: str, turtle: str) -> None:
    path = tmp_path / f"{name}.ttl"
    path.write_text(PREFIXES + turtle, encoding="utf-8")
    with engine.begin() as conn:
        load_rdf(conn, path, graph=None)


def _features(sparql: SparqlEngine) -> set[str]:
    answer = sparql.query(FEATURES)
    assert isinstance(answer, SelectResult)
    return {str(row["x"]) for row in answer.rows}


def _version(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT version FROM rdf_signature_state")).scalar_one())


def test_an_axiom_loaded_later_is_used_by_a_running_engine(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """The axiom adds no signature key (rdfs:subClassOf is there already): only 0010's bump tells the engine."""
    _load(
        catalog_engine,
        tmp_path,
        "first",
        "ex:Lake rdfs:subClassOf geo:Feature .\nex:erie a ex:Lake .\nex:rhine a ex:River .",
    )
    sparql = SparqlEngine(catalog_engine)
    assert _features(sparql) == {EX + "erie"}
    before = _version(catalog_engine)
    _load(catalog_engine, tmp_path, "axiom", "ex:River rdfs:subClassOf geo:Feature .")
    assert _version(catalog_engine) == before + 1
    assert _features(sparql) == {EX + "erie", EX + "rhine"}
    with catalog_engine.begin() as conn:  # and removing it is seen too
        conn.execute(sa.text("DELETE FROM rdf_quad WHERE s = :s"), {"s": EX + "River"})
    assert _version(catalog_engine) == before + 2
    assert _features(sparql) == {EX + "erie"}


def test_reloading_the_same_axioms_keeps_the_version(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    _load(catalog_engine, tmp_path, "axioms", "ex:Lake rdfs:subClassOf geo:Feature .")
    before = _version(catalog_engine)
    _load(catalog_engine, tmp_path, "axioms", "ex:Lake rdfs:subClassOf geo:Feature .")  # inserts nothing
    assert _version(catalog_engine) == before


def test_axioms_in_a_named_graph_are_not_read(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """Entailment applies to the default graph; a named graph's rdfs: statements are data there, not axioms."""
    path = tmp_path / "named.ttl"
    path.write_text(PREFIXES + "ex:Lake rdfs:subClassOf geo:Feature .", encoding="utf-8")
    with catalog_engine.begin() as conn:
        load_rdf(conn, path, graph=EX + "g")
        assert read_axioms(conn) == frozenset()


def test_the_translator_processes_use_the_data_axioms(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    _load(catalog_engine, tmp_path, "data", "ex:erie a ex:Lake .")
    sparql = SparqlEngine(catalog_engine, translate_processes=1)
    try:
        assert _features(sparql) == set()
        _load(catalog_engine, tmp_path, "axiom", "ex:Lake rdfs:subClassOf geo:Feature .")
        assert _features(sparql) == {EX + "erie"}
    finally:
        sparql.close()


def test_compiled_tmappings_are_kept_per_set_of_axioms(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    _load(catalog_engine, tmp_path, "axiom", "ex:Region rdfs:subClassOf ex:Area .")
    sparql = SparqlEngine(catalog_engine)
    with catalog_engine.connect() as conn:
        signature = read_signature(conn)
    assert signature.axioms == frozenset({(EX + "Region", RDFS + "subClassOf", EX + "Area")})
    first = with_axioms(sparql.mapped, signature.axioms)
    assert first is with_axioms(sparql.mapped, signature.axioms)  # compiled once
    assert with_axioms(sparql.mapped, frozenset()) is sparql.mapped
    # the data's axioms reach the mapped tables too: an esdl:Region is an ex:Area once the data says so
    with_region = with_axioms(
        sparql.mapped, frozenset({("https://w3id.org/esdl/ontology#Region", RDFS + "subClassOf", EX + "Area")})
    )
    assert with_region.tmappings.assertions_for_class(EX + "Area")
    assert not first.tmappings.assertions_for_class(EX + "Area")


def test_data_axioms_reach_the_mapped_tables(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """``esdl:Region rdfs:subClassOf ex:Area`` in the data: the catalogue's regions (rows, not quads) are areas,
    and so is a loaded resource typed with a subclass of it."""
    with catalog_engine.begin() as conn:
        insert_catalogue(conn, "demo cube", [(3, "t", "K")], ["north", "south", "far"])
    sparql = SparqlEngine(catalog_engine)
    query = f"SELECT ?x WHERE {{ ?x a <{EX}Area> }}"
    assert sparql.query(query).rows == []
    esdl = "https://w3id.org/esdl/ontology#"
    _load(
        catalog_engine,
        tmp_path,
        "axiom",
        f"<{esdl}Region> rdfs:subClassOf ex:Area .\nex:Lake rdfs:subClassOf <{esdl}Region> .\nex:erie a ex:Lake .",
    )
    got = sorted(str(row["x"]) for row in sparql.query(query).rows)
    assert got == sorted([EX + "erie", *(f"https://w3id.org/esdl/region/{i}" for i in (1, 2, 5))])


def test_data_ranges_that_are_datatypes_stay_datatype_ranges() -> None:
    """``geo:asWKT rdfs:range geo:wktLiteral`` in data that does not declare the datatype entails no class."""
    shipped = load_ontology(warn=False)
    data = parse_ontology(f"@prefix geo: <{GEO}> .\n@prefix rdfs: <{RDFS}> .\ngeo:asWKT rdfs:range geo:wktLiteral .")
    assert (GEO + "asWKT", GEO + "wktLiteral") in data.ranges  # read alone, it looks like a class
    merged = shipped.merged(data)
    assert (GEO + "asWKT", GEO + "wktLiteral") not in merged.ranges
    assert (GEO + "asWKT", GEO + "wktLiteral") in merged.datatype_ranges


def test_tbox_pairs_for_a_variable_class() -> None:
    ontology = parse_ontology(
        f"@prefix ex: <{EX}> .\n@prefix rdfs: <{RDFS}> .\n"
        "ex:A rdfs:subClassOf ex:B . ex:B rdfs:subClassOf ex:C .\n"
        "ex:p rdfs:domain ex:A ; rdfs:range ex:B . ex:q rdfs:subPropertyOf ex:p ."
    )
    tbox = TBox(ontology)
    assert tbox.entailed_class_pairs() == ((EX + "A", EX + "B"), (EX + "A", EX + "C"), (EX + "B", EX + "C"))
    roles = set(tbox.typing_roles())
    for role in (Role(EX + "p"), Role(EX + "q")):  # q's subjects through q ⊑ p
        assert {(role, EX + c) for c in "ABC"} <= roles
    assert (Role(EX + "q", True), EX + "A") not in roles
    assert {(Role(EX + "q", True), EX + c) for c in "BC"} <= roles


def test_the_rewrite_needs_no_distinct_over_the_mapped_tables_alone(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """The shipped mappings give each geometry one value and each feature one default geometry, so with no quad
    that the rule reads its union gives each pair once (the benchmark's plan: no grouping, IRIs lifted); a
    loaded serialisation or default geometry makes it a DISTINCT."""
    sparql = SparqlEngine(catalog_engine)

    def sets() -> bool:
        with catalog_engine.connect() as conn:
            signature = read_signature(conn)
        return RewriteSources(with_axioms(sparql.mapped, signature.axioms), signature, RELATIONS).gives_sets()

    _load(catalog_engine, tmp_path, "label", 'ex:a rdfs:label "a" .')
    assert sets()
    _load(catalog_engine, tmp_path, "default", "ex:f geo:hasDefaultGeometry ex:g .")
    assert not sets()
    assert not RewriteSources(None, None, RELATIONS).gives_sets()
    query = f"PREFIX geo: <{GEO}>\nSELECT ?x ?y WHERE {{ ?x geo:sfWithin ?y }}"
    assert "GROUP BY" in sparql.sql(query)


def test_geometry_value_is_derived_once_per_column() -> None:
    """The catalogue's geometry columns are mapped as WKT and as GeoJSON: one geometry value each."""
    from semantic.geosparql.properties import GEOMETRY_VALUE
    from semantic.mapping import compile_tmappings, load_mappings

    tmappings = compile_tmappings(load_mappings(), load_ontology(warn=False))
    values = tmappings.assertions_for_property(GEOMETRY_VALUE)
    assert values
    keys = [(a.triples_map.logical_table.key, a.object.value) for a in values]  # type: ignore[union-attr]
    assert len(keys) == len(set(keys))
    assert all(str(a.object.datatype) == GEO + "wktLiteral" for a in values)  # type: ignore[union-attr]
    # internal: looked up by its predicate only, never an answer to a variable predicate
    assert GEOMETRY_VALUE not in {a.predicate for a in tmappings.assertions}
    # (both serialisations are mapped, so the check above is not vacuous)
    assert any(a.predicate == GEO + "asGeoJSON" for a in tmappings.assertions)
