"""The endpoint under hostile input: every case of ``hostile/`` (one query a file, its expected status in its first
line) is answered with that status and a JSON body that names no class, host, port or setting; the connection
and the database keep serving afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from esdl.api.app import create_app
from esdl.api.settings import SparqlSettings
from esdl_testing.database import fresh_database, server_incarnation
from semantic.store.db import make_engine

CASES = Path(__file__).resolve().parent / "hostile"
LEAKS = re.compile(r"Error\b|Exception|psycopg|sqlalchemy|postgres|host|port|max_stack_depth|pool", re.IGNORECASE)


def cases() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.rq"))


@pytest.fixture(scope="module")
def client(postgis_server: str) -> Iterator[tuple[TestClient, sa.Engine]]:

    with fresh_database(postgis_server) as url:
        engine = make_engine(url)
        # (a translation limit with room for a loaded CI machine; the timeout case takes several times that)
        settings = SparqlSettings(_env_file=None, timeout_s=10, translate_timeout_s=10)  # type: ignore[call-arg]
        with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as c:
            yield c, engine
        engine.dispose()


@pytest.mark.parametrize("name", cases())
def test_hostile_query_gets_its_status_and_a_clean_json_body(name: str, client: tuple[TestClient, sa.Engine]) -> None:
    c, engine = client
    with engine.connect() as conn:
        started = server_incarnation(conn)
    first, text = (CASES / f"{name}.rq").read_text().split("\n", 1)
    expect = first.removeprefix("# expect:").split()
    response = c.post(
        "/sparql",
        content=text.encode("utf-8", "surrogatepass"),
        headers={
            "Content-Type": "application/sparql-query; charset=utf-8",
            "Accept": "application/sparql-results+json",
        },
    )
    assert response.status_code == int(expect[0]), response.text
    if response.status_code >= 400:
        body = response.json()
        assert not LEAKS.search(body["message"]), body
        if len(expect) > 1:
            assert body["error"] == expect[1], body
    assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200  # still serving
    with engine.connect() as conn:
        assert server_incarnation(conn) == started  # no restart, no crash recovery


def _app_client(engine: sa.Engine, **kw: object) -> TestClient:
    settings = SparqlSettings(_env_file=None, **kw)  # type: ignore[arg-type,call-arg]
    return TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)


def test_request_size_is_limited(client: tuple[TestClient, sa.Engine]) -> None:
    _, engine = client
    limit = 4096
    with _app_client(engine, max_body_bytes=limit) as c:
        big = "ASK { ?s ?p " + '"' + "x" * limit + '" }'
        for response in (
            c.post("/sparql", content=big, headers={"Content-Type": "application/sparql-query"}),
            c.post("/sparql", data={"query": big}),
            c.get("/sparql", params={"query": big}),
        ):
            assert response.status_code == 413 and response.json()["error"] == "too-large", response.text
            assert response.json()["limit_bytes"] == limit

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
            yield b"ASK { ?s ?p "
            for _ in range(10):
                yield b'"' + b"y" * 1000 + b'" . '

        streamed = c.post("/sparql", content=chunks(), headers={"Content-Type": "application/sparql-query"})
        assert streamed.status_code == 413
        assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200


def test_service_description_names_the_configured_endpoint(client: tuple[TestClient, sa.Engine]) -> None:
    _, engine = client
    with _app_client(engine, public_url="https://sparql.example.org/sparql") as c:
        body = c.get("/sparql", headers={"Host": "attacker.invalid", "Accept": "text/turtle"}).text
    assert "https://sparql.example.org/sparql" in body and "attacker.invalid" not in body


def test_queries_wait_for_a_slot_then_get_503_with_retry_after(client: tuple[TestClient, sa.Engine]) -> None:
    import threading

    _, engine = client
    with _app_client(engine, max_concurrent=1, queue_timeout_s=0.5, express_slots=0) as c:
        runner = c.app.state.runner  # type: ignore[attr-defined]
        run = runner.run
        entered, release = threading.Event(), threading.Event()

        def slow(translation: object, *args: object) -> object:
            entered.set()
            release.wait(30)
            return run(translation, *args)

        runner.run = slow
        holder = threading.Thread(target=lambda: c.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}))
        holder.start()
        assert entered.wait(30)
        busy = c.get("/sparql", params={"query": "ASK {}"})
        release.set()
        holder.join(30)
        runner.run = run
        assert busy.status_code == 503 and busy.json()["error"] == "busy", busy.text
        assert busy.headers["Retry-After"] == "1"
        assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200  # the slot is free again


def test_cheap_queries_answer_while_heavy_ones_hold_every_slot(client: tuple[TestClient, sa.Engine]) -> None:
    """The express slot: with the only ordinary slot taken, a query planned cheap still answers at once; one
    planned costly waits for the ordinary slot and gets 503 busy."""
    import threading

    _, engine = client
    heavy = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }"
    with _app_client(engine, max_concurrent=1, queue_timeout_s=0.5, express_slots=1, express_max_cost=50) as c:
        runner = c.app.state.runner  # type: ignore[attr-defined]
        assert runner.cost(c.app.state.runner.sparql.translate(heavy)) > 50  # type: ignore[attr-defined]
        run = runner.run
        entered, release = threading.Event(), threading.Event()

        def slow(translation: object, timeout_s: float | None = None) -> object:
            if timeout_s is None:  # the ordinary slot (the express one has its own timeout)
                entered.set()
                release.wait(30)
            return run(translation, timeout_s)

        runner.run = slow
        holder = threading.Thread(target=lambda: c.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}))
        holder.start()
        try:
            assert entered.wait(30)
            cheap = [c.get("/sparql", params={"query": f"SELECT ?x WHERE {{ BIND({i} AS ?x) }}"}) for i in range(5)]
            costly = c.get("/sparql", params={"query": heavy})
        finally:
            release.set()
            holder.join(30)
            runner.run = run
        assert [r.status_code for r in cheap] == [200] * 5, [r.text for r in cheap]
        assert [r.json()["results"]["bindings"][0]["x"]["value"] for r in cheap] == [str(i) for i in range(5)]
        assert costly.status_code == 503 and costly.json()["error"] == "busy", costly.text


def test_translations_run_in_processes_killed_at_the_limit(client: tuple[TestClient, sa.Engine]) -> None:
    """A runaway translation is a translator process's (killed at the limit, wall-clock): the answer is 400
    too-complex at the limit, queries already translated answer meanwhile, and the processes end with the app."""
    import os
    import threading
    import time

    _, engine = client
    slow = "ASK { VALUES ?y { 1 } FILTER(?y IN (" + ", ".join(str(i) for i in range(20000)) + ")) }"
    cheap = {"query": "SELECT ?x WHERE { BIND(1 AS ?x) }"}
    with _app_client(engine, translate_timeout_s=2, translate_processes=1) as c:
        sparql = c.app.state.runner.sparql  # type: ignore[attr-defined]
        (pid,) = sparql.pool.pids()
        assert c.get("/sparql", params=cheap).status_code == 200  # (now translated and kept)
        answers: list[tuple[int, float]] = []

        def send() -> None:
            start = time.monotonic()
            r = c.post("/sparql", content=slow, headers={"Content-Type": "application/sparql-query"})
            answers.append((r.status_code, time.monotonic() - start, r.json()["error"]))  # type: ignore[arg-type]

        t = threading.Thread(target=send)
        t.start()
        time.sleep(0.5)
        during = [c.get("/sparql", params=cheap).status_code for _ in range(5)]
        t.join(60)
        assert during == [200] * 5
        ((status, took, code),) = answers  # type: ignore[misc]
        assert (status, code) == (400, "too-complex") and took < 10, answers  # 2 s, with room for a loaded CI
        with pytest.raises(ProcessLookupError):  # killed, and another took its place
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while not sparql.pool.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = sparql.pool.pids()
        assert workers and workers != [pid]
    for worker in workers:  # the app's shutdown stops them
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)


def test_answers_larger_than_the_limit_get_413(client: tuple[TestClient, sa.Engine]) -> None:
    _, engine = client
    with _app_client(engine, max_response_bytes=2048) as c:
        query = 'SELECT ?x WHERE { VALUES ?n { 1 2 3 4 5 6 7 8 } BIND(CONCAT(STR(?n), "' + "z" * 400 + '") AS ?x) }'
        response = c.get("/sparql", params={"query": query})
        assert response.status_code == 413 and "ESDL_SPARQL_MAX_RESPONSE_BYTES" in response.json()["message"]
        assert c.get("/sparql", params={"query": query.replace("5 6 7 8 ", "")}).status_code == 200
