"""The SPARQL endpoint (``api``): the protocol, result formats read back with rdflib's parsers and compared with
the engine's own answers, limits, errors, the read-only role, ``esdl sparql query`` and ``esdl serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.query import Result

from esdl.api.app import create_app
from esdl.api.database import ReadOnlyRunner, open_reader, session_role
from esdl.api.settings import SparqlSettings
from esdl_testing.servers import running_server
from semantic.errors import DatabaseError
from semantic.rdf.load import load_rdf
from semantic.sparql.engine import SparqlEngine
from semantic.store.db import make_engine
from semantic.store.roles import ensure_reader, reader_url

PREFIXES = """PREFIX ex: <http://ex/>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX esdl: <https://w3id.org/esdl/ontology#>
"""
DATA = """@prefix ex: <http://ex/> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:lake a geo:Feature ; rdfs:label "Lake"@en, "See"@de ; ex:depth 12 ; ex:area "3.50"^^xsd:decimal ;
    ex:note "two\\nlines, \\"quoted\\",\\tand tabbed" ; geo:hasGeometry ex:lake_g .
ex:lake_g geo:asWKT "POLYGON((1 44, 2 44, 2 46, 1 46, 1 44))"^^geo:wktLiteral .
ex:well a geo:Feature ; rdfs:label "Well" ; ex:owner [ rdfs:label "someone" ] ; geo:hasGeometry ex:well_g .
ex:well_g geo:asWKT "POINT(3 45)"^^geo:wktLiteral .
ex:river a geo:Feature ; rdfs:label "River" ;
    geo:hasGeometry [ geo:asWKT "LINESTRING(0 40, 5 42, 9 41)"^^geo:wktLiteral ] .
"""
SELECT_ALL = PREFIXES + "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(STRSTARTS(STR(?p), 'http://ex/') || isBlank(?s)) }"
SLOW = PREFIXES + "SELECT (COUNT(*) AS ?n) WHERE { ?a ex:v ?b . ?c ex:v ?d . ?e ex:v ?f }"


def settings(**kw: Any) -> SparqlSettings:
    return SparqlSettings(_env_file=None, **kw)  # type: ignore[call-arg]


@pytest.fixture
def graph_db(catalog_url: str, tmp_path: Path) -> sa.Engine:
    """A catalogue with the small Turtle file above loaded, and one region row."""
    engine = make_engine(catalog_url)
    path = tmp_path / "data.ttl"
    path.write_text(DATA)
    with engine.begin() as conn:
        load_rdf(conn, path)
        conn.execute(
            sa.text(
                "INSERT INTO region (id, source, name, kind, geom, area_m2, properties) OVERRIDING SYSTEM VALUE "
                "VALUES (1, 'zones', 'north', 'basin', ST_Multi(ST_MakeEnvelope(0, 45, 5, 50, 4326)), 1, '{}')"
            )
        )
    return engine


@pytest.fixture
def client(graph_db: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings(), engine=graph_db)) as c:
        yield c


def engine_rows(engine: sa.Engine, query: str) -> list[dict[str, object]]:
    return SparqlEngine(engine).query(query).rows


def as_set(rows: Sequence[Mapping[str, object]]) -> set[frozenset[tuple[str, object]]]:
    return {frozenset((k, v) for k, v in row.items() if v is not None) for row in rows}


def parsed_rows(body: bytes, fmt: str) -> list[dict[str, object]]:
    result = Result.parse(source=__import__("io").BytesIO(body), format=fmt)
    return [{str(k): v for k, v in b.items()} for b in result.bindings]


def test_get_post_form_and_post_direct_give_the_engine_answer_in_json(client: TestClient, graph_db: sa.Engine) -> None:
    expected = as_set(engine_rows(graph_db, SELECT_ALL))
    assert len(expected) >= 6
    responses = [
        client.get("/sparql", params={"query": SELECT_ALL}),
        client.post("/sparql", data={"query": SELECT_ALL}),
        client.post("/sparql", content=SELECT_ALL.encode(), headers={"Content-Type": "application/sparql-query"}),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/sparql-results+json"
        assert "x-esdl-truncated" not in response.headers
        assert as_set(parsed_rows(response.content, "json")) == expected
        assert response.json()["head"]["vars"] == ["s", "p", "o"]


def test_json_terms_follow_the_spec(client: TestClient) -> None:
    query = PREFIXES + "SELECT ?o WHERE { ex:lake ?p ?o FILTER(isLiteral(?o)) }"
    terms = [b["o"] for b in client.get("/sparql", params={"query": query}).json()["results"]["bindings"]]
    assert {"type": "literal", "value": "Lake", "xml:lang": "en"} in terms
    assert {"type": "literal", "value": "3.50", "datatype": "http://www.w3.org/2001/XMLSchema#decimal"} in terms
    assert {"type": "literal", "value": 'two\nlines, "quoted",\tand tabbed'} in terms  # simple: no datatype
    owner = PREFIXES + "SELECT ?o WHERE { ex:well ex:owner ?o }"
    (binding,) = client.get("/sparql", params={"query": owner}).json()["results"]["bindings"]
    assert binding["o"]["type"] == "bnode"


@pytest.mark.parametrize(
    ("fmt", "accept", "lossless"),
    [
        ("xml", "application/sparql-results+xml", True),
        ("tsv", "text/tab-separated-values", True),
        ("csv", "text/csv", False),
    ],
)
def test_select_formats_read_back(
    client: TestClient, graph_db: sa.Engine, fmt: str, accept: str, lossless: bool
) -> None:
    expected = engine_rows(graph_db, SELECT_ALL)
    for response in (
        client.get("/sparql", params={"query": SELECT_ALL}, headers={"Accept": accept}),
        client.get("/sparql", params={"query": SELECT_ALL, "format": fmt}),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == accept
        got = parsed_rows(response.content, fmt)
        if lossless:
            assert as_set(got) == as_set(expected)
        else:  # CSV keeps lexical forms only (and rdflib reads every value back as a literal or IRI)
            as_text = [{k: ("_:" + v if isinstance(v, BNode) else str(v)) for k, v in r.items()} for r in expected]
            assert {frozenset((k, str(v)) for k, v in r.items()) for r in got} == as_set(as_text)


def test_tsv_and_csv_text(client: TestClient) -> None:
    query = (
        PREFIXES
        + "SELECT ?l ?n WHERE { ex:lake rdfs:label ?l OPTIONAL { ex:lake ex:depth ?n FILTER(LANG(?l) = 'de') } }"
    )
    tsv = client.get("/sparql", params={"query": query + " ORDER BY ?l", "format": "tsv"}).text
    assert tsv.split("\n") == [
        "?l\t?n",
        '"Lake"@en\t',
        '"See"@de\t"12"^^<http://www.w3.org/2001/XMLSchema#integer>',
        "",
    ]
    note = PREFIXES + "SELECT ?n WHERE { ex:lake ex:note ?n }"
    assert client.get("/sparql", params={"query": note, "format": "tsv"}).text.split("\n")[1] == (
        '"two\\nlines, \\"quoted\\",\\tand tabbed"'
    )
    assert client.get("/sparql", params={"query": note, "format": "csv"}).text == (
        'n\r\n"two\nlines, ""quoted"",\tand tabbed"\r\n'
    )


def test_ask_in_json_and_xml(client: TestClient) -> None:
    for query, expected in ((PREFIXES + "ASK { ex:well ?p ?o }", True), (PREFIXES + "ASK { ex:nothing ?p ?o }", False)):
        response = client.get("/sparql", params={"query": query})
        assert response.json() == {"head": {}, "boolean": expected}
        xml = client.get("/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+xml"})
        assert xml.headers["content-type"] == "application/sparql-results+xml"
        assert Result.parse(__import__("io").BytesIO(xml.content), format="xml").askAnswer is expected
    assert client.get("/sparql", params={"query": PREFIXES + "ASK {}", "format": "csv"}).status_code == 406


def test_construct_and_describe_as_turtle_and_ntriples(client: TestClient, graph_db: sa.Engine) -> None:
    query = (
        PREFIXES
        + "CONSTRUCT { ?f rdfs:label ?l ; ex:wkt ?w } WHERE { ?f rdfs:label ?l ; geo:hasGeometry ?g . ?g geo:asWKT ?w }"
    )
    expected = SparqlEngine(graph_db).query(query)
    assert len(expected) == 9
    turtle = client.get("/sparql", params={"query": query})
    assert turtle.headers["content-type"] == "text/turtle; charset=utf-8"
    nt = client.get("/sparql", params={"query": query}, headers={"Accept": "application/n-triples"})
    assert nt.headers["content-type"] == "application/n-triples"
    for body, fmt in ((turtle.text, "turtle"), (nt.text, "nt")):
        got = Graph().parse(data=body, format=fmt)
        assert set(got) == set(expected)
    assert (
        URIRef("http://ex/well"),
        URIRef("http://ex/wkt"),
        Literal("POINT(3 45)", datatype=URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")),
    ) in set(Graph().parse(data=nt.text, format="nt"))
    described = client.get("/sparql", params={"query": "DESCRIBE <http://ex/well>", "format": "nt"})
    described_graph = Graph().parse(data=described.text, format="nt")
    assert len(described_graph) == 4  # type, label, owner (a blank node), geometry
    assert isomorphic(described_graph, SparqlEngine(graph_db).query("DESCRIBE <http://ex/well>"))
    assert client.get("/sparql", params={"query": query}, headers={"Accept": "text/csv"}).status_code == 406


def test_content_negotiation(client: TestClient) -> None:
    query = {"query": PREFIXES + "SELECT ?l WHERE { ex:well rdfs:label ?l }"}
    cases = {
        "*/*": "application/sparql-results+json",
        "text/*": "text/csv",
        "application/json": "application/sparql-results+json",
        "text/csv;q=0.5, application/sparql-results+xml;q=0.9": "application/sparql-results+xml",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": "application/sparql-results+xml",
        "text/tab-separated-values, */*;q=0.1": "text/tab-separated-values",
    }
    for accept, media in cases.items():
        response = client.get("/sparql", params=query, headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == media, accept
        assert response.headers["vary"] == "Accept"
    refused = client.get("/sparql", params=query, headers={"Accept": "text/html, image/png"})
    assert refused.status_code == 406
    assert refused.json()["error"] == "not-acceptable"
    assert "application/sparql-results+json" in refused.json()["offered"]
    assert (
        client.get("/sparql", params=query, headers={"Accept": "application/sparql-results+json;q=0"}).status_code
        == 406
    )
    assert client.get("/sparql", params={**query, "format": "turtle"}).status_code == 406


def test_bad_requests_get_json_errors(client: TestClient) -> None:
    syntax = client.get("/sparql", params={"query": "SELECT ?x WHERE { ?x "})
    assert syntax.status_code == 400
    assert syntax.json()["error"] == "syntax" and "line" in syntax.json()["message"]
    service = client.get("/sparql", params={"query": "SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }"})
    assert service.status_code == 400
    assert service.json()["error"] == "unsupported" and "SERVICE" in service.json()["feature"].upper()
    dataset = client.get("/sparql", params={"query": "ASK {}", "default-graph-uri": "http://g/"})
    assert (dataset.status_code, dataset.json()["error"]) == (400, "unsupported")
    assert dataset.json()["feature"].startswith("default-graph-uri")
    update = client.post("/sparql", data={"update": "INSERT DATA { <a:b> <a:c> <a:d> }"})
    assert (update.status_code, update.json()["feature"]) == (400, "SPARQL Update")
    two = client.get("/sparql?query=ASK%7B%7D&query=ASK%7B%7D")
    assert (two.status_code, two.json()["error"]) == (400, "request")
    assert client.post("/sparql", data={"format": "json"}).json()["error"] == "request"
    plain = client.post("/sparql", content=b"ASK {}", headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()["error"]) == (415, "media-type")
    latin = client.post("/sparql", content=b"ASK { \xff }", headers={"Content-Type": "application/sparql-query"})
    assert (latin.status_code, latin.json()["error"]) == (400, "request")


def test_service_description(client: TestClient) -> None:
    for response in (client.get("/sparql"), client.get("/sparql/description")):
        assert response.headers["content-type"] == "text/turtle; charset=utf-8"
        graph = Graph().parse(data=response.text, format="turtle")
        sd = "http://www.w3.org/ns/sparql-service-description#"
        (service,) = graph.subjects(URIRef(sd + "endpoint"), None)
        assert (
            str(graph.value(service, URIRef(sd + "endpoint"))) == "http://127.0.0.1:8000/sparql"
        )  # configured, not the Host header
        assert graph.value(service, URIRef(sd + "supportedLanguage")) == URIRef(sd + "SPARQL11Query")
        formats = {str(f) for f in graph.objects(service, URIRef(sd + "resultFormat"))}
        assert "http://www.w3.org/ns/formats/SPARQL_Results_TSV" in formats and len(formats) == 6
        functions = set(graph.objects(service, URIRef(sd + "extensionFunction")))
        assert URIRef("http://www.opengis.net/def/function/geosparql/sfIntersects") in functions
        # the virtual graph's engine: RDFS entailment with the ontology and the data's own axioms
        regime = graph.value(service, URIRef(sd + "defaultEntailmentRegime"))
        assert regime == URIRef("http://www.w3.org/ns/entailment/RDFS")
    nt = client.get("/sparql/description", headers={"Accept": "application/n-triples"})
    assert nt.headers["content-type"] == "application/n-triples"


def test_explain_returns_the_sql(client: TestClient) -> None:
    query = PREFIXES + "SELECT ?l WHERE { ex:well rdfs:label ?l }"
    for response in (
        client.get("/sparql/explain", params={"query": query}),
        client.post("/sparql/explain", data={"query": query}),
    ):
        body = response.json()
        assert response.status_code == 200
        assert "rdf_quad" in body["sql"] and body["form"] == "SELECT" and body["variables"] == ["l"]
        assert "http://ex/well" in body["parameters"].values()  # constants are bound parameters
    assert client.get("/sparql/explain", params={"query": "SELECT"}).json()["error"] == "syntax"
    sparql = client.app.state.runner.sparql  # type: ignore[attr-defined]
    assert sparql.translate(query) is sparql.translate(query)  # the translation cache


def test_settings_and_internal_errors(
    graph_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="read_role"):
        settings(read_role="x; DROP TABLE region")
    monkeypatch.setenv("ESDL_SPARQL_MAX_ROWS", "7")
    assert SparqlSettings(_env_file=None).max_rows == 7  # type: ignore[call-arg]
    app = create_app(settings(), engine=graph_db)

    def broken(translation: object, *args: object) -> object:
        raise RuntimeError("rewriter bug\nwith details")

    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level("ERROR", logger="esdl.api"):
        monkeypatch.setattr(app.state.runner, "run", broken)  # (the runner exists once the lifespan has run)
        response = c.get("/sparql", params={"query": "ASK {}"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and "RuntimeError" not in body["message"] and "rewriter" not in body["message"]
    assert body["id"] in body["message"]
    logged = [r for r in caplog.records if body["id"] in r.getMessage()]  # the log has the id and the traceback
    assert logged and logged[0].exc_info is not None and "rewriter bug" in str(logged[0].exc_info[1])


def test_row_cap_returns_the_first_rows_with_a_header(graph_db: sa.Engine) -> None:
    with TestClient(create_app(settings(max_rows=3), engine=graph_db)) as capped:
        ordered = PREFIXES + "SELECT ?s ?o WHERE { ?s rdfs:label ?o } ORDER BY ?o"
        response = capped.get("/sparql", params={"query": ordered})
        assert response.headers["x-esdl-truncated"] == "true"
        labels = [b["o"]["value"] for b in response.json()["results"]["bindings"]]
        assert labels == [str(r["o"]) for r in engine_rows(graph_db, ordered)][:3]
        three = capped.get("/sparql", params={"query": ordered + " LIMIT 3"})
        assert "x-esdl-truncated" not in three.headers and len(three.json()["results"]["bindings"]) == 3
        graph = capped.get("/sparql", params={"query": "CONSTRUCT WHERE { ?s ?p ?o }", "format": "nt"})
        assert graph.headers["x-esdl-truncated"] == "true"
        assert len(Graph().parse(data=graph.text, format="nt")) == 3


def test_statement_timeout_gives_a_json_503(graph_db: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "big.nt"
    path.write_text("".join(f'<http://ex/n{i}> <http://ex/v> "{i}" .\n' for i in range(2000)))
    with graph_db.begin() as conn:
        load_rdf(conn, path)
    with TestClient(create_app(settings(timeout_s=0.2), engine=graph_db)) as slow:
        started = time.monotonic()
        response = slow.get("/sparql", params={"query": SLOW})
        assert time.monotonic() - started < 20
        assert response.status_code == 503
        assert response.json()["error"] == "timeout" and response.json()["timeout_s"] == 0.2
        quick = slow.get("/sparql", params={"query": PREFIXES + "ASK { ex:n1 ex:v ?x }"})  # the pool still works
        assert quick.json()["boolean"] is True


def test_read_only_role_cannot_write(graph_db: sa.Engine) -> None:
    assert session_role(graph_db, "esdl_reader") == "esdl_reader"  # an owner's engine: drops to the role
    assert session_role(graph_db, "esdl_reader") == "esdl_reader"  # idempotent
    runner = ReadOnlyRunner(SparqlEngine(graph_db, virtual=False), timeout_s=5, max_rows=10, role="esdl_reader")
    insert = sa.text(
        "INSERT INTO rdf_quad (graph, s_kind, s, p, o_kind, o, source) VALUES ('', 1, 'a:b', 'a:c', 1, 'a:d', 'x')"
    )
    with runner.transaction() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "esdl_reader"
        assert conn.execute(sa.text("SELECT count(*) FROM rdf_quad")).scalar_one() > 0
    with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"), runner.transaction() as conn:
        conn.execute(insert)
    # the role alone, without the read-only transaction: no privilege to write or create
    for statement in (insert, sa.text("DELETE FROM region"), sa.text("CREATE TABLE evil (x int)")):
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            graph_db.connect() as conn,
            conn.begin(),
        ):
            conn.execute(sa.text("SELECT set_config('role', 'esdl_reader', true)"))
            conn.execute(statement)
    with graph_db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rdf_quad WHERE s = 'a:b'")).scalar() == 0


def test_a_role_that_can_write_is_refused(graph_db: sa.Engine) -> None:
    with graph_db.begin() as conn:
        conn.execute(sa.text("DROP ROLE IF EXISTS esdl_test_super"))
        conn.execute(sa.text("CREATE ROLE esdl_test_super SUPERUSER NOLOGIN"))
    try:
        with pytest.raises(DatabaseError, match="can write"):
            ensure_reader(graph_db, "esdl_test_super")
    finally:
        with graph_db.begin() as conn:
            conn.execute(sa.text("DROP OWNED BY esdl_test_super"))
            conn.execute(sa.text("DROP ROLE esdl_test_super"))


def test_the_endpoint_logs_in_as_a_role_that_can_only_read(
    graph_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Least privilege: the login role made by ``esdl db upgrade``'s code (a password with quote, percent and colon
    characters), found from ESDL_SPARQL_DATABASE_URL or from ESDL_DATABASE_URL + ESDL_SPARQL_READ_PASSWORD: it
    answers queries, every transaction runs as itself (no SET ROLE), and it can neither write nor create."""
    password = "it's 100%:secret"
    ensure_reader(graph_db, "esdl_reader", password)
    ensure_reader(graph_db, "esdl_reader", password)  # idempotent
    url = reader_url(graph_db.url, "esdl_reader", password)
    owner_url = graph_db.url.render_as_string(hide_password=False)
    for env in (
        {"ESDL_SPARQL_DATABASE_URL": url},
        {"ESDL_DATABASE_URL": owner_url, "ESDL_SPARQL_READ_PASSWORD": password},
    ):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = SparqlSettings(_env_file=None)  # type: ignore[call-arg]
        engine = open_reader(settings, pool_size=2)
        try:
            assert session_role(engine, "esdl_reader") is None
            with TestClient(create_app(settings, engine=engine)) as client:
                response = client.get(
                    "/sparql", params={"query": PREFIXES + "SELECT ?l WHERE { ex:well rdfs:label ?l }"}
                )
                assert response.status_code == 200 and "Well" in response.text
                assert client.app.state.runner.role is None  # type: ignore[attr-defined]
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT current_user")).scalar() == "esdl_reader"
            for statement in ("DELETE FROM region", "CREATE TABLE evil (x int)", "CREATE ROLE evil"):
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
                    conn.execute(sa.text(statement))
        finally:
            engine.dispose()
        for name in env:
            monkeypatch.delenv(name)
    monkeypatch.setenv("ESDL_DATABASE_URL", owner_url)
    with pytest.raises(DatabaseError, match="ESDL_SPARQL_READ_PASSWORD"):
        open_reader(SparqlSettings(_env_file=None), pool_size=1)  # type: ignore[call-arg]


def test_cli_query(graph_db: sa.Engine, tmp_path: Path) -> None:
    from esdl.cli import main

    runner = CliRunner()
    query = PREFIXES + "SELECT ?l WHERE { ex:well rdfs:label ?l }"
    table = runner.invoke(main, ["sparql", "query", query])
    assert table.exit_code == 0, table.output
    assert "Well" in table.output
    path = tmp_path / "q.rq"
    path.write_text(query)
    as_json = runner.invoke(main, ["sparql", "query", str(path), "--format", "json"])
    assert json.loads(as_json.stdout)["results"]["bindings"] == [{"l": {"type": "literal", "value": "Well"}}]
    nt = runner.invoke(main, ["sparql", "query", "DESCRIBE <http://ex/well>", "--format", "ntriples"])
    assert len(Graph().parse(data=nt.stdout, format="nt")) == 4
    explain = runner.invoke(main, ["sparql", "query", query, "--explain"])
    assert "rdf_quad" in explain.stdout
    for bad, message in (
        ("SELECT ?x WHERE {", "syntax error"),
        ("SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }", "unsupported SPARQL feature"),
    ):
        result = runner.invoke(main, ["sparql", "query", bad])
        assert result.exit_code == 2
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    wrong = runner.invoke(main, ["sparql", "query", "ASK {}", "--format", "turtle"])
    assert wrong.exit_code == 2 and "cannot represent" in wrong.output


def test_esdl_serve_over_http(graph_db: sa.Engine, catalog_url: str, tmp_path: Path) -> None:
    with running_server(catalog_url, tmp_path / "serve.log", ESDL_SPARQL_MAX_ROWS="2") as base:
        query = PREFIXES + "SELECT ?f ?w WHERE { ?f geo:hasGeometry ?g . ?g geo:asWKT ?w } ORDER BY ?w"
        response = httpx.post(f"{base}/sparql", data={"query": query}, headers={"Accept": "text/csv"}, timeout=30)
        assert response.status_code == 200
        assert response.headers["x-esdl-truncated"] == "true"
        assert response.text.splitlines()[0] == "f,w" and len(response.text.splitlines()) == 3
        # `/`: the query page for a browser (text/html), the OGC landing page for an API client (*/*, JSON)
        page = httpx.get(f"{base}/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, timeout=10)
        assert page.status_code == 200 and "<textarea" in page.text
        assert httpx.get(f"{base}/", timeout=10).json()["links"]
        assert httpx.get(f"{base}/sparql", params={"query": "ASK {"}, timeout=10).json()["error"] == "syntax"
