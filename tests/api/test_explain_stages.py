"""``esdl sparql explain [--stages]`` and ``/sparql/explain?stages=1``: the query after each stage of the rewrite
(rdflib's algebra, esdl's IR, the rewritten IR, the SQL), on a real catalogue with a small Turtle file loaded; bad
input is a 4xx with a JSON body (HTTP) or a one-line error (CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from esdl.api.app import create_app
from esdl.api.settings import SparqlSettings
from semantic.rdf.load import load_rdf

DATA = """@prefix ex: <http://ex/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:well rdfs:label "Well" ; ex:depth 12 .
ex:lake rdfs:label "Lake" ; ex:depth 40 .
"""
QUERY = """PREFIX ex: <http://ex/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?l WHERE { ?s rdfs:label ?l ; ex:depth ?d FILTER(?d > 20) }"""


@pytest.fixture
def graph_db(catalog_engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """A catalogue with the Turtle file above loaded."""
    path = tmp_path / "data.ttl"
    path.write_text(DATA)
    with catalog_engine.begin() as conn:
        load_rdf(conn, path)
    return catalog_engine


@pytest.fixture
def client(graph_db: sa.Engine) -> Iterator[TestClient]:
    settings = SparqlSettings(_env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings, engine=graph_db)) as c:
        yield c


def _check_stages(stages: list[dict[str, Any]], sql: str) -> None:
    """The three stages that exist, each showing this query at that point."""
    assert [s["name"] for s in stages] == ["algebra", "ir", "rewritten", "sql"]
    algebra, ir, rewritten, final = (s["text"] for s in stages)
    assert rewritten == ir  # no topology triple: nothing for GeoSPARQL's rule to rewrite
    # rdflib's algebra: its own node names, the FILTER above the BGP
    assert algebra.splitlines()[0].startswith("SelectQuery")
    assert "Filter expr=RelationalExpression(expr=?d, op='>'" in algebra
    bgp = next(line for line in algebra.splitlines() if line.strip().startswith("p: BGP triples="))
    assert "?s <http://www.w3.org/2000/01/rdf-schema#label> ?l" in bgp and "?s <http://ex/depth> ?d" in bgp
    # esdl's IR: a Quads node (one self-join of the quad table) under a Filter under the projection
    lines = ir.splitlines()
    assert lines[0].startswith("Query form='SELECT' variables=[?l]")
    nodes = [line.split()[0:2] for line in lines[1:4]]
    assert nodes == [["root:", "Project"], ["child:", "Filter"], ["child:", "Quads"]]
    # the SQL is the one the endpoint runs, with its parameters (the predicate IRIs are bound, not inlined)
    assert final.startswith(sql)
    assert "-- " in final and "http://ex/depth" in final
    assert "http://ex/depth" not in sql


def test_explain_stages_over_http(client: TestClient) -> None:
    for response in (
        client.get("/sparql/explain", params={"query": QUERY, "stages": "1"}),
        client.post("/sparql/explain", data={"query": QUERY, "stages": "true"}),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        assert "rdf_quad" in body["sql"] and body["variables"] == ["l"]
        _check_stages(body["stages"], body["sql"])
    plain = client.get("/sparql/explain", params={"query": QUERY, "stages": "0"})
    assert plain.status_code == 200 and "stages" not in plain.json()
    assert "stages" not in client.get("/sparql/explain", params={"query": QUERY}).json()


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"query": QUERY, "stages": "yes please"}, 400, "request"),
        ({"query": QUERY, "stages": ["1", "0"]}, 400, "request"),
        ({"query": "SELECT ?x WHERE {", "stages": "1"}, 400, "syntax"),
        ({"query": "SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }", "stages": "1"}, 400, "unsupported"),
        ({"stages": "1"}, 400, "request"),
    ],
)
def test_explain_stages_bad_input_is_a_json_4xx(
    client: TestClient, params: dict[str, Any], status: int, error: str
) -> None:
    response = client.get("/sparql/explain", params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error


def test_explain_stages_on_the_command_line(graph_db: sa.Engine, tmp_path: Path) -> None:
    from esdl.cli import main

    runner = CliRunner()
    path = tmp_path / "q.rq"
    path.write_text(QUERY)
    plain = runner.invoke(main, ["sparql", "explain", str(path)])
    assert plain.exit_code == 0, plain.output
    assert "rdf_quad" in plain.stdout and "== " not in plain.stdout
    staged = runner.invoke(main, ["sparql", "explain", QUERY, "--stages"])
    assert staged.exit_code == 0, staged.output
    blocks = staged.stdout.split("\n\n== ")
    assert [b.split(":")[0].removeprefix("== ") for b in blocks] == ["algebra", "ir", "rewritten", "sql"]
    stages = [{"name": b.split(":")[0].removeprefix("== "), "text": b.split("\n", 1)[1].rstrip("\n")} for b in blocks]
    _check_stages(stages, plain.stdout.split("\n-- ")[0].rstrip("\n"))
    for bad, message in (
        ("SELECT ?x WHERE {", "syntax error"),
        ("SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }", "unsupported SPARQL feature"),
    ):
        result = runner.invoke(main, ["sparql", "explain", bad, "--stages"])
        assert result.exit_code == 2
        assert message in result.output and len(result.output.strip().splitlines()) == 1


TOPOLOGY = """PREFIX geo: <http://www.opengis.net/ont/geosparql#>
SELECT ?f WHERE { <http://ex/well> geo:sfWithin ?f }"""


def test_the_ir_shown_is_the_one_rendered(client: TestClient) -> None:
    """The IR stage is the IR the SQL was rendered from, translated for the same sources: a topology triple's
    query-rewrite needs a DISTINCT only where the sources may give a pair twice (here they cannot: no geometry
    and no stated relation is loaded), and the IR shows one exactly when the SQL has one (a stage built outside
    the engine's sources showed a DISTINCT that the SQL left out)."""
    body = client.get("/sparql/explain", params={"query": TOPOLOGY, "stages": "1"}).json()
    translated, ir, sql = body["stages"][1]["text"], body["stages"][2]["text"], body["sql"]
    assert body["stages"][3]["text"].startswith(sql)
    assert "topology=True" in translated and "Union" not in translated  # translation keeps the triple
    assert "Union" in ir and "sfWithin" in ir  # the rule's union: the stated triple and the relation function
    assert " DISTINCT " not in sql and "Distinct" not in ir
