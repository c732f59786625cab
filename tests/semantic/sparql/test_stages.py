"""The printable stages of a rewrite (``semantic.sparql.stages``): rdflib's algebra and esdl's IR as indented
trees, one node a line, without a database."""

from __future__ import annotations

from rdflib import Literal, URIRef, Variable

from semantic.sparql.query_rewrite import rewritten
from semantic.sparql.stages import inline, show, stages, text
from semantic.sparql.translate import parse, to_ir

QUERY = """PREFIX ex: <http://ex/>
SELECT ?s (COUNT(?o) AS ?n) WHERE {
  ?s ex:p ?o
  OPTIONAL { ?s ex:q/ex:r ?x }
  VALUES ?s { ex:a ex:b }
} GROUP BY ?s"""


def test_ir_tree_shows_each_node_with_its_children_below_it() -> None:
    lines = show(to_ir(parse(QUERY))).splitlines()
    shape = [(len(line) - len(line.lstrip()), line.split()[0], line.split()[1]) for line in lines[1:]]
    assert shape == [
        (2, "root:", "Project"),
        (4, "child:", "Extend"),
        (6, "child:", "Extend"),
        (8, "child:", "Group"),
        (10, "child:", "Join"),
        (12, "left:", "LeftJoin"),
        (14, "left:", "Quads"),
        (14, "right:", "PathPattern"),
        (12, "right:", "Values"),
    ]
    by_node = {line.split()[1]: line for line in lines[1:]}
    assert by_node["Quads"].endswith("triples=[?s <http://ex/p> ?o]")
    assert "path=<http://ex/q>/<http://ex/r> object=?x" in by_node["PathPattern"]
    assert by_node["Values"].endswith("variables=[?s] rows=[[<http://ex/a>], [<http://ex/b>]]")
    assert "keys=[?s]" in by_node["Group"] and "Aggregate_Count(vars=?o" in by_node["Group"]


def test_algebra_tree_is_rdflibs_own() -> None:
    algebra = show(parse(QUERY).algebra)
    names = [line.split()[1] if ":" in line.split()[0] else line.split()[0] for line in algebra.splitlines()]
    assert names[0] == "SelectQuery" and "AggregateJoin" in names and "ToMultiSet" in names
    assert names.index("LeftJoin") > names.index("Group")


def test_terms_print_in_n3_and_stages_in_order() -> None:
    assert inline(Literal("Lake", lang="en")) == '"Lake"@en'
    assert inline(Literal(3)) == '"3"^^<http://www.w3.org/2001/XMLSchema#integer>'
    assert inline((Variable("s"), URIRef("http://ex/p"), Variable("o"))) == "?s <http://ex/p> ?o"
    parsed = parse(QUERY)
    query = to_ir(parse(QUERY))
    steps = stages(parsed, query, rewritten(query), "SELECT 1", {"p_1": "http://ex/p"})
    assert [s.name for s in steps] == ["algebra", "ir", "rewritten", "sql"]
    assert steps[1].text == steps[2].text  # no topology triple: the rewrite stage leaves the IR as it is
    assert steps[3].text == "SELECT 1\n-- p_1 = 'http://ex/p'"
    printed = text(steps)
    assert (
        printed.startswith("== algebra: ") and "\n\n== ir: " in printed and printed.endswith("-- p_1 = 'http://ex/p'")
    )


def test_the_query_rewrite_rule_is_a_stage_of_its_own() -> None:
    """Translation keeps a topology relation triple as a triple; the rewrite stage turns it into the union of the
    stated triple and the relation function over both sides' geometries (4 geometry cases), EXISTS included, and
    applied again changes nothing."""
    text = """PREFIX geo: <http://www.opengis.net/ont/geosparql#>
    SELECT ?f WHERE { ?f a <http://ex/C> FILTER NOT EXISTS { ?f geo:sfWithin <http://ex/r> } }"""
    query = to_ir(parse(text))
    assert query.topology and "Union" not in show(query)
    assert "Quads triples=[?f <http://www.opengis.net/ont/geosparql#sfWithin> <http://ex/r>]" in show(query)
    done = rewritten(query)
    lines = show(done).splitlines()
    assert not done.topology and sum("Union" in line for line in lines) == 4
    assert sum("Function(iri=<http://www.opengis.net/def/function/geosparql/sfWithin>" in line for line in lines) == 4
    assert lines[0].endswith("topology=False") and rewritten(done) is done
