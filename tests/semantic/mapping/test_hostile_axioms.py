"""Hostile RDFS in the data: cycles of rdfs:subClassOf and rdfs:subPropertyOf, a chain of 500 classes and a class
with 1,000 subclasses. Every entailed type and property comes once, and every query answers (none is refused, none
loops): the answers worked out from the axioms by hand."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine

EX = "http://example.org/"
PREFIXES = "@prefix ex: <http://example.org/> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"


def _load(engine: sa.Engine, tmp_path: Path, turtle: str) -> None:
    path = tmp_path / "data.ttl"
    path.write_text(PREFIXES + turtle, encoding="utf-8")
    with engine.begin() as conn:
        load_rdf(conn, path, graph=None)


def _rows(sparql: SparqlEngine, query: str) -> list[tuple[str, ...]]:
    answer = sparql.query("PREFIX ex: <http://example.org/>\n" + query)
    assert isinstance(answer, SelectResult)
    return [tuple(str(row[v]) for v in answer.variables) for row in answer.rows]


def test_cycles_of_subclasses_and_subproperties_end_and_entail_once(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    _load(
        catalog_engine,
        tmp_path,
        "ex:A rdfs:subClassOf ex:B . ex:B rdfs:subClassOf ex:C . ex:C rdfs:subClassOf ex:A .\n"
        "ex:p rdfs:subPropertyOf ex:q . ex:q rdfs:subPropertyOf ex:p .\n"
        "ex:a a ex:A . ex:b a ex:B . ex:a ex:p ex:b . ex:a ex:q ex:b .",
    )
    sparql = SparqlEngine(catalog_engine)
    for cls in ("A", "B", "C"):
        assert sorted(_rows(sparql, f"SELECT ?x WHERE {{ ?x a ex:{cls} }}")) == [(EX + "a",), (EX + "b",)]
    types = _rows(sparql, "SELECT ?c WHERE { ex:a a ?c FILTER(STRSTARTS(STR(?c), STR(ex:))) }")
    assert sorted(types) == [(EX + "A",), (EX + "B",), (EX + "C",)]
    for prop in ("p", "q"):
        assert _rows(sparql, f"SELECT ?x ?y WHERE {{ ?x ex:{prop} ?y }}") == [(EX + "a", EX + "b")]


def test_a_chain_of_500_classes(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    chain = " ".join(f"ex:C{i} rdfs:subClassOf ex:C{i + 1} ." for i in range(499))
    _load(catalog_engine, tmp_path, chain + "\nex:i a ex:C0 . ex:j a ex:C250 .")
    sparql = SparqlEngine(catalog_engine)
    assert sorted(_rows(sparql, "SELECT ?x WHERE { ?x a ex:C499 }")) == [(EX + "i",), (EX + "j",)]
    assert _rows(sparql, "SELECT ?x WHERE { ?x a ex:C100 }") == [(EX + "i",)]
    types = _rows(sparql, "SELECT ?c WHERE { ex:j a ?c FILTER(STRSTARTS(STR(?c), STR(ex:))) }")
    assert sorted(types) == sorted((f"{EX}C{i}",) for i in range(250, 500))


def test_a_class_with_1000_subclasses(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    wide = " ".join(f"ex:S{i} rdfs:subClassOf ex:Top . ex:s{i} a ex:S{i} ." for i in range(1000))
    _load(catalog_engine, tmp_path, wide + "\nex:both a ex:S1, ex:S2, ex:Top .")
    sparql = SparqlEngine(catalog_engine)
    found = _rows(sparql, "SELECT ?x WHERE { ?x a ex:Top }")
    assert sorted(found) == sorted([(f"{EX}s{i}",) for i in range(1000)] + [(EX + "both",)])
    assert _rows(sparql, "SELECT (COUNT(*) AS ?n) WHERE { ex:both a ?c FILTER(STRSTARTS(STR(?c), STR(ex:))) }") == [
        ("3",)
    ]


def test_a_cycle_of_60_classes_through_the_recursive_closure(catalog_engine: sa.Engine, tmp_path: Path) -> None:
    """3,540 entailed pairs, over ``MAX_LISTED_PAIRS``: the closure is the recursive CTE's, which a cycle ends."""
    from semantic.sparql.rdfs import MAX_LISTED_PAIRS

    assert 60 * 59 > MAX_LISTED_PAIRS
    cycle = " ".join(f"ex:K{i} rdfs:subClassOf ex:K{(i + 1) % 60} ." for i in range(60))
    _load(catalog_engine, tmp_path, cycle + "\nex:k a ex:K7 .")
    sparql = SparqlEngine(catalog_engine)
    types = _rows(sparql, "SELECT ?c WHERE { ex:k a ?c FILTER(STRSTARTS(STR(?c), STR(ex:))) }")
    assert sorted(types) == sorted((f"{EX}K{i}",) for i in range(60))
