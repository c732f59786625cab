"""A query's constant literals are encoded as the loader encodes stored ones (one encoding of literal values,
``semantic.rdf.terms.literal_values``): an ill-typed constant has no value (``"300"^^xsd:byte``, ``" 5"^^xsd:integer``:
comparisons are errors, as the stored literal's are), and a constant and a stored literal of the same lexical form
compare the same way (XML Schema's ``24:00:00`` is midnight of the next day in both). Answers worked out from
XML Schema 1.1 and SPARQL 1.1 §17.3 by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SelectResult, SparqlEngine

PREFIXES = "PREFIX ex: <http://ex/>\nPREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
DATA = """@prefix ex: <http://ex/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:a ex:v "300"^^xsd:byte ; ex:t "2020-01-02T00:00:00"^^xsd:dateTime .
ex:b ex:v "100"^^xsd:byte ; ex:t "2020-01-01T23:59:59"^^xsd:dateTime .
"""


@pytest.fixture
def sparql(catalog_engine: sa.Engine, tmp_path: Path) -> SparqlEngine:
    data = tmp_path / "data.ttl"
    data.write_text(DATA, encoding="utf-8")
    with catalog_engine.begin() as conn:
        load_rdf(conn, data, graph=None)
    return SparqlEngine(catalog_engine, virtual=False)


def ask(sparql: SparqlEngine, where: str) -> bool:
    answer = sparql.query(PREFIXES + f"ASK {{ {where} }}")
    assert isinstance(answer, bool)
    return answer


def subjects(sparql: SparqlEngine, where: str) -> set[str]:
    answer = sparql.query(PREFIXES + f"SELECT ?s WHERE {{ {where} }}")
    assert isinstance(answer, SelectResult)
    return {str(row["s"]) for row in answer.rows}


@pytest.mark.parametrize(
    ("constant", "holds"),
    [
        ('"100"^^xsd:byte > 5', True),
        ('"300"^^xsd:byte > 5', False),  # out of xsd:byte's range: no value, the comparison is an error
        ('" 5"^^xsd:integer > 1', False),  # whitespace is not in the lexical space of an RDF literal
        ('"5.0"^^xsd:integer > 1', False),
        ('"1e400"^^xsd:double > 1', True),  # rounds to INF, as XML Schema 1.1 reads it
        ('"2020-01-01T24:00:00"^^xsd:dateTime = "2020-01-02T00:00:00"^^xsd:dateTime', True),
    ],
)
def test_constants_have_the_values_stored_literals_have(sparql: SparqlEngine, constant: str, holds: bool) -> None:
    assert ask(sparql, f"FILTER({constant})") is holds


def test_a_constant_compares_with_stored_literals_as_they_compare_with_each_other(sparql: SparqlEngine) -> None:
    assert subjects(sparql, "?s ex:v ?v FILTER(?v < 200)") == {"http://ex/b"}  # ex:a's byte is ill-typed
    assert subjects(sparql, '?s ex:t ?t FILTER(?t = "2020-01-01T24:00:00"^^xsd:dateTime)') == {"http://ex/a"}
    assert subjects(sparql, '?s ex:t ?t FILTER(?t < "2020-01-01T24:00:00"^^xsd:dateTime)') == {"http://ex/b"}
