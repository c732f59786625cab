"""Translation in worker processes (:mod:`semantic.sparql.pool`): the same translation as in-process, errors that
keep their type, a runaway translation killed at its limit and replaced, a worker killed from outside replaced,
workers that retire past their memory bound."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy as sa

from semantic.errors import QueryDataError, QuerySyntaxError, QueryTooComplex, UnsupportedFeature
from semantic.sparql.build import build_translation
from semantic.sparql.casts import CASTS
from semantic.sparql.geo import GEO_FUNCTIONS
from semantic.sparql.pool import TranslatorPool, TranslatorsBusy, WorkerSpec, worker_memory_mb

DIALECT = "postgresql+psycopg"
QUERIES = [
    "SELECT ?s ?o WHERE { ?s <http://x/p> ?o FILTER(?o > 3) } ORDER BY DESC(?o) LIMIT 5",
    "ASK { ?s ?p ?o }",
    "CONSTRUCT { ?s <http://x/q> ?o } WHERE { ?s <http://x/p> ?o }",
    "DESCRIBE <http://x/a>",
    "SELECT (COUNT(*) AS ?n) (GROUP_CONCAT(STR(?o)) AS ?g) WHERE { ?s ?p ?o } GROUP BY ?s",
    'SELECT ?x WHERE { VALUES ?x { 1 "a" <http://x/b> } FILTER(?x IN (1, "a")) }',
    "PREFIX geo: <http://www.opengis.net/ont/geosparql#> PREFIX geof: <http://www.opengis.net/def/function/geosparql/>"
    " SELECT ?w WHERE { ?f geo:asWKT ?w FILTER(geof:sfIntersects(?w, "
    '"POINT(1 2)"^^geo:wktLiteral)) }',
]
UNION = "SELECT * { " + " UNION ".join(f"{{ ?s <http://x/p{i}> ?o }}" for i in range(50)) + " }"
SLOW = "ASK { VALUES ?y { 1 } FILTER(?y IN (" + ", ".join(str(i) for i in range(20000)) + ")) }"


def spec(max_sql_bytes: int = 4 * 2**20, max_worker_mb: float = 2048) -> WorkerSpec:
    return WorkerSpec({}, None, DIALECT, max_sql_bytes, max_worker_mb)


@pytest.fixture(scope="module")
def pool():
    p = TranslatorPool(2, spec())
    yield p
    p.close()


def in_process(text: str):
    dialect = sa.engine.make_url(f"{DIALECT}://").get_dialect()()
    return build_translation(
        text, None, None, functions={**CASTS, **GEO_FUNCTIONS}, mapped=None, dialect=dialect, max_sql_bytes=4 * 2**20
    )


@pytest.mark.parametrize("text", QUERIES)
def test_a_worker_translates_as_the_engine_does(pool, text):
    got, want = pool.translate(text, None, None, 30, 30), in_process(text)
    assert got.statement is None and got.query.root is None  # (left in the worker)
    assert (got.sql, got.params, got.plan, got.variables) == (want.sql, want.params, want.plan, want.variables)
    assert (got.query.form, got.query.template, got.query.describe) == (
        want.query.form,
        want.query.template,
        want.query.describe,
    )
    # (rdflib gives a non-SELECT query's variables as a set: their order is per process)
    assert set(got.query.variables) == set(want.query.variables)


@pytest.mark.parametrize(
    ("text", "error", "says"),
    [
        ("SELECT", QuerySyntaxError, "line 1"),
        ("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }", UnsupportedFeature, "Service"),
        ('SELECT * { ?s ?p "a\\u0000b" }', QueryDataError, "NUL"),
        ("SELECT * WHERE " + "{" * 3000 + "}" * 3000, QueryTooComplex, "nested too deeply"),
    ],
)
def test_errors_keep_their_type_and_message(pool, text, error, says):
    with pytest.raises(error, match=says) as info:
        pool.translate(text, None, None, 30, 30)
    if error is UnsupportedFeature:
        assert info.value.feature and str(info.value).count("unsupported SPARQL feature") == 1


def test_sql_size_limit_is_the_workers():
    small = TranslatorPool(1, spec(max_sql_bytes=4096))
    try:
        with pytest.raises(QueryTooComplex, match="ESDL_SPARQL_MAX_SQL_BYTES"):
            small.translate(UNION, None, None, 30, 30)
        assert len(in_process(UNION).sql) > 4096  # (the limit, not some other error)
    finally:
        small.close()


def test_a_translation_past_its_limit_is_killed_and_its_worker_replaced(pool):
    before = set(pool.pids())
    replaced = pool.replaced
    start = time.monotonic()
    with pytest.raises(QueryTooComplex, match="longer than 1 s to translate"):
        pool.translate(SLOW, None, None, 1.0, 30)
    assert time.monotonic() - start < 3  # the limit, wall-clock, and not the translation's 20 s and more
    assert pool.replaced == replaced + 1
    deadline = time.monotonic() + 30
    while len(pool.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    after = set(pool.pids())
    assert len(after) == 2 and len(before - after) == 1  # the killed one is gone, one new took its place
    (gone,) = before - after
    with pytest.raises(ProcessLookupError):
        os.kill(gone, 0)
    for _ in range(4):  # both workers answer again
        assert pool.translate(QUERIES[0], None, None, 30, 30).sql


def test_a_worker_killed_from_outside_is_replaced_before_it_is_given_work():
    p = TranslatorPool(1, spec())
    try:
        (pid,) = p.pids()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert p.translate(QUERIES[1], None, None, 30, 30).sql
        assert p.pids() and p.pids() != [pid]
    finally:
        p.close()


def test_busy_when_no_worker_frees_in_time():
    import threading

    p = TranslatorPool(1, spec())
    try:
        outcome: list[BaseException] = []

        def runaway() -> None:
            try:
                p.translate(SLOW, None, None, 2.0, 30)
            except QueryTooComplex as err:
                outcome.append(err)

        t = threading.Thread(target=runaway)
        t.start()
        time.sleep(0.3)
        with pytest.raises(TranslatorsBusy, match=r"within 0\.5 s"):
            p.translate(QUERIES[1], None, None, 30, 0.5)
        t.join()
        assert len(outcome) == 1  # (the runaway was stopped at its limit)
    finally:
        p.close()


def test_workers_retire_past_their_memory_bound():
    p = TranslatorPool(1, spec(max_worker_mb=1))  # every worker is over 1 MB: each retires after one answer
    try:
        pids = set(p.pids())
        for _ in range(3):
            assert p.translate(QUERIES[0], None, None, 30, 30).sql
            deadline = time.monotonic() + 30
            while not p.pids() and time.monotonic() < deadline:  # (the replacement starts in a thread)
                time.sleep(0.05)
            pids.update(p.pids())
        assert p.replaced == 3
        assert len(pids) == 4
        assert worker_memory_mb(p.pids()) > 10  # (a worker with the translation modules loaded)
    finally:
        p.close()


def test_close_stops_every_worker():
    p = TranslatorPool(2, spec())
    pids = p.pids()
    p.close()
    for pid in pids:
        with pytest.raises((ProcessLookupError, ChildProcessError)):
            os.kill(pid, 0)
            os.waitpid(pid, os.WNOHANG)
    with pytest.raises(RuntimeError, match="closed"):
        p.translate(QUERIES[0], None, None, 30, 30)
