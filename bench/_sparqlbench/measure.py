"""The timed parts: the engine against the hand-written SQL, rdflib in its worker, translation, EXPLAIN of the
worst query, and the W3C suite.

Engine timings are of :meth:`SparqlEngine.query` on a text translated before (the cache hit included):
execution, fetching every row and turning the rows into rdflib terms. SQL timings are of
``conn.execute(text(sql), params).all()`` on a connection from the same SQLAlchemy engine (same driver, same
pool, same ``statement_timeout``). A round times both sides, in alternating order between rounds.
"""

from __future__ import annotations

import json
import os
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from _sparqlbench.queries import Query, canon_solution, same_rows

WORKER = Path(__file__).resolve().parent / "rdflib_worker.py"
# what SparqlEngine.run sets in the transaction before running a rewritten query; the diagnostic run of the
# engine's SQL string and EXPLAIN do the same, so that they see the query as the engine runs it
MAX_ROUNDS = 60
"""At most this many rounds of a query (``--min-time``)."""

ENGINE_SESSION = ("SET LOCAL jit = off", "SET LOCAL extra_float_digits = 1")


def _timed_out(err: BaseException) -> bool:
    import psycopg

    return isinstance(err, sa.exc.DBAPIError) and isinstance(err.orig, psycopg.errors.QueryCanceled)


@dataclass
class Side:
    """One side's timings of one query."""

    runs: list[float] = field(default_factory=list)
    first_s: float | None = None  # the first run (warm-up and answer check)
    timed_out: bool = False
    skipped: bool = False  # not run: it timed out at the smaller size already
    rows: int | None = None

    @property
    def median(self) -> float | None:
        return float(statistics.median(self.runs)) if self.runs and not self.timed_out else None


@dataclass
class Comparison:
    """The engine against the SQL for one query at one size.

    ``engine_sql`` is a diagnostic: the engine's own SQL (compiled once to a string) run with
    ``exec_driver_sql`` (after :data:`ENGINE_SESSION`) and fetched, without SQLAlchemy's statement handling and
    without turning rows into RDF terms; ``engine - engine_sql`` is the engine's Python-side cost.
    """

    query: str
    engine: Side
    sql: Side
    engine_sql: Side
    match: bool | None
    mismatch: str
    answer: list[tuple[Any, ...]] | None  # the engine's canonical rows (for the rdflib check)
    timed_from_first_run: bool = False

    def ratio(self) -> float | None:
        e, s = self.engine.median, self.sql.median
        return None if e is None or s is None else e / s


def compare_with_sql(
    engine: sa.Engine,
    sparql: Any,
    queries: list[Query],
    repeat: int,
    slow_s: float,
    timeout_s: float,
    log: Callable[[str], None],
    label: str,
    skip: frozenset[str] = frozenset(),
    min_time_s: float = 0.0,
) -> dict[str, Comparison]:
    """Check every query's answer against its SQL, then time both sides in ``repeat`` rounds, or more (up to
    :data:`MAX_ROUNDS`) until each side has run ``min_time_s`` in all.

    A query whose first engine run took ``slow_s`` or more is timed by that run alone (no further rounds);
    one that hits the statement timeout is not run again; one named in ``skip`` is not run at all (it timed
    out at the smaller size). The SQL side always gets its ``repeat`` runs.
    """
    out: dict[str, Comparison] = {}
    for q in queries:
        text = q.text()
        sql, params = q.sql(q.constant)
        statement = sa.text(sql)
        translation = sparql.translate(text)
        compiled = translation.statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        engine_sql, engine_params = str(compiled), compiled.params

        def run_sql(statement: Any = statement, params: dict[str, Any] = params) -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(statement, params).all())

        def run_engine_sql(sql: str = engine_sql, params: dict[str, Any] = engine_params) -> list[Any]:
            with engine.connect() as conn:
                for setting in ENGINE_SESSION:
                    conn.exec_driver_sql(setting)
                return list(conn.exec_driver_sql(sql, params).all())

        e, s, d = Side(), Side(), Side()
        t0 = time.perf_counter()
        sql_rows = run_sql()
        s.first_s = time.perf_counter() - t0
        s.rows = len(sql_rows)
        expected = [q.sql_row(r) for r in sql_rows]
        answer = None
        match: bool | None = None
        mismatch = ""
        if q.name in skip:
            e.skipped = e.timed_out = True
            log(f"{label} {q.name}: the engine's query is not run (it hit the statement timeout at the smaller size)")
        else:
            t0 = time.perf_counter()
            try:
                result = sparql.query(text)
            except sa.exc.DBAPIError as err:
                if not _timed_out(err):
                    raise
                e.timed_out = True
                e.first_s = time.perf_counter() - t0
                log(f"{label} {q.name}: the engine's query hit the statement timeout ({timeout_s:.0f} s)")
            else:
                e.first_s = time.perf_counter() - t0
                answer = [canon_solution(r, q.variables) for r in result.rows]
                e.rows = len(answer)
                match, mismatch = same_rows(expected, answer)
                if not match:
                    log(f"{label} {q.name}: ANSWERS DIFFER from the SQL's: {mismatch}")
        slow = not e.timed_out and (e.first_s or 0.0) >= slow_s
        if slow:
            e.runs.append(e.first_s or 0.0)
        r = 0
        while r < repeat or (
            r < MAX_ROUNDS and (sum(s.runs) < min_time_s or (not (e.timed_out or slow) and sum(e.runs) < min_time_s))
        ):
            sides = ("engine", "engine_sql", "sql") if r % 2 == 0 else ("sql", "engine_sql", "engine")
            r += 1
            for side in sides:
                if side == "sql":
                    t0 = time.perf_counter()
                    run_sql()
                    s.runs.append(time.perf_counter() - t0)
                    continue
                if e.timed_out or slow:
                    continue
                t0 = time.perf_counter()
                try:
                    sparql.query(text) if side == "engine" else run_engine_sql()
                except sa.exc.DBAPIError as err:
                    if not _timed_out(err):
                        raise
                    e.timed_out = True
                    continue
                (e if side == "engine" else d).runs.append(time.perf_counter() - t0)
        c = Comparison(q.name, e, s, d, match, mismatch, answer, slow)
        out[q.name] = c
        ratio = c.ratio()
        if e.skipped:
            engine_text = "not run"
        elif e.timed_out:
            engine_text = "TIMED OUT"
        else:
            engine_text = f"{e.median:.4f} s ({len(e.runs)} runs{', the first' if slow else ''})"
            if d.median is not None:
                engine_text += f", its SQL alone {d.median:.4f} s"
        log(
            f"{label} {q.name}: {e.rows if e.rows is not None else '?'} rows, engine {engine_text}, "
            f"SQL {s.median:.4f} s ({s.rows} rows), "
            + ("ratio n/a" if ratio is None else f"ratio {ratio:.2f}")
            + ("" if match is None else (", answers equal" if match else ", ANSWERS DIFFER"))
        )
    return out


# -- rdflib ----------------------------------------------------------------------------------------------------


class RdflibWorker:
    """The worker process (``rdflib_worker.py``): materialise once, answer queries; killed on a timeout."""

    def __init__(self, url: str, log: Callable[[str], None]) -> None:
        env = {**os.environ, "ESDL_SPARQLBENCH_URL": url}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        ready = self._read(None)
        if ready is None or ready.get("event") != "ready":
            self.close()
            raise RuntimeError("the rdflib worker did not start (see its output above)")
        self.ready = ready
        self.start_s = time.perf_counter() - t0
        log(f"rdflib worker ready: {ready['triples']:,} triples, materialised in {ready['build_s']:.1f} s")

    def _read(self, timeout_s: float | None) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, q: Query, timeout_s: float) -> dict[str, Any] | None:
        """rdflib's answer (``seconds``, ``rows``), or ``None`` after ``timeout_s`` (the worker is then killed)."""
        assert self.proc.stdin is not None
        request = {"name": q.name, "text": q.rdflib_text(), "variables": list(q.variables)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout_s)
        if reply is None:
            self.close()
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """End the worker (stdin closed, then killed if it does not exit)."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()


def run_rdflib(
    url: str,
    queries: list[Query],
    engine_answers: dict[str, Comparison],
    timeout_s: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """rdflib's time for each query (one run each; a timed-out query costs a restart of the worker)."""
    results: dict[str, Any] = {}
    worker: RdflibWorker | None = None
    materialise_s: list[float] = []
    triples = 0
    try:
        for q in queries:
            if worker is None or not worker.alive():
                worker = RdflibWorker(url, log)
                materialise_s.append(worker.ready["build_s"])
                triples = worker.ready["triples"]
            reply = worker.ask(q, timeout_s)
            if reply is None:
                log(f"rdflib {q.name}: no answer within {timeout_s:.0f} s; abandoned (worker killed)")
                results[q.name] = {"seconds": None, "timed_out": True, "rows": None, "match": None}
                continue
            rows = [tuple(r) for r in reply["rows"]]
            mine = engine_answers[q.name].answer
            match, why = (None, "the engine timed out") if mine is None else same_rows(rows, mine)
            if match is False:
                log(f"rdflib {q.name}: ANSWERS DIFFER from the engine's: {why}")
            results[q.name] = {
                "seconds": reply["seconds"],
                "prepare_s": reply["prepare_s"],
                "timed_out": False,
                "rows": len(rows),
                "match": match,
                "mismatch": why,
            }
    finally:
        if worker is not None:
            worker.close()
    return {"queries": results, "materialise_s": materialise_s, "triples": triples}


# -- translation -----------------------------------------------------------------------------------------------


def translation_figures(sparql: Any, dialect: Any, queries: list[Query], calls: int) -> dict[str, Any]:
    """``cached_translate_ms_p50`` and ``rewrite_overhead_vs_parse`` (see the README)."""
    from rdflib.plugins.sparql.algebra import translateQuery
    from rdflib.plugins.sparql.parser import parseQuery

    per_query = max(1, calls // len(queries))
    cached: list[float] = []
    for q in queries:
        text = q.text()
        sparql.translate(text)
        for _ in range(per_query):
            start_ns = time.perf_counter_ns()
            sparql.translate(text)
            cached.append((time.perf_counter_ns() - start_ns) / 1e6)
    ratios: list[float] = []
    translate_ms: list[float] = []
    parse_ms: list[float] = []
    by_query: dict[str, list[float]] = {}
    i = 0
    for q in queries:
        for constant in q.variants:
            text = q.text(constant)
            order = ("parse", "translate") if i % 2 == 0 else ("translate", "parse")
            i += 1
            spent: dict[str, float] = {}
            for what in order:
                t0 = time.perf_counter()
                if what == "parse":
                    translateQuery(parseQuery(text))
                else:  # parse, algebra, rewrite, and the SQL string compiled for the driver
                    sparql.translate(text)
                spent[what] = time.perf_counter() - t0
            ratio = spent["translate"] / spent["parse"]
            ratios.append(ratio)
            by_query.setdefault(q.name, []).append(ratio)
            translate_ms.append(spent["translate"] * 1e3)
            parse_ms.append(spent["parse"] * 1e3)
    med = statistics.median
    return {
        "cached_translate_ms_p50": med(cached),
        "cached_translate_ms_p99": sorted(cached)[int(0.99 * (len(cached) - 1))],
        "cached_translate_calls": len(cached),
        "rewrite_overhead_vs_parse": med(ratios),
        "rewrite_overhead_by_query": {k: med(v) for k, v in by_query.items()},
        "new_translate_ms_p50": med(translate_ms),
        "rdflib_parse_algebra_ms_p50": med(parse_ms),
        "overhead_texts": len(ratios),
    }


# -- EXPLAIN ---------------------------------------------------------------------------------------------------


def _exclusive(node: dict[str, Any]) -> float:
    loops = node.get("Actual Loops", 1) or 1
    total = node.get("Actual Total Time", 0.0) * loops
    children = sum(c.get("Actual Total Time", 0.0) * (c.get("Actual Loops", 1) or 1) for c in node.get("Plans", []))
    return max(0.0, total - children)


def _walk(node: dict[str, Any], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    out = [(depth, node)]
    for child in node.get("Plans", []):
        out += _walk(child, depth + 1)
    return out


def _describe(node: dict[str, Any]) -> str:
    what = node["Node Type"]
    if node.get("Relation Name"):
        what += f" on {node['Relation Name']}" + (f" {node['Alias']}" if node.get("Alias") else "")
    if node.get("Index Name"):
        what += f" using {node['Index Name']}"
    for key in ("Hash Cond", "Merge Cond", "Join Filter", "Filter", "Index Cond"):
        if node.get(key):
            cond = node[key]
            what += f" [{key}: {cond[:160]}{'...' if len(cond) > 160 else ''}]"
            break
    return what


def explain(engine: sa.Engine, statement: Any, analyze: bool) -> dict[str, Any]:
    """The plan of a compiled statement: with ``analyze``, its nodes by exclusive time (the dominant first)."""
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    with engine.connect() as conn:
        for setting in ENGINE_SESSION:
            conn.exec_driver_sql(setting)
        raw = conn.exec_driver_sql(f"EXPLAIN ({options}) {compiled}", compiled.params).scalar_one()
    doc = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    plan = doc["Plan"]
    nodes = _walk(plan)
    out: dict[str, Any] = {
        "analyze": analyze,
        "planning_ms": doc.get("Planning Time"),
        "execution_ms": doc.get("Execution Time"),
        "jit_ms": (doc.get("JIT") or {}).get("Timing", {}).get("Total"),
        "nodes": len(nodes),
        "estimated_rows_top": plan.get("Plan Rows"),
        "actual_rows_top": plan.get("Actual Rows"),
    }
    if analyze:
        ranked = sorted(nodes, key=lambda dn: _exclusive(dn[1]), reverse=True)[:5]
        out["dominant"] = [
            {
                "node": _describe(n),
                "depth": d,
                "exclusive_ms": round(_exclusive(n), 1),
                "actual_rows": n.get("Actual Rows"),
                "loops": n.get("Actual Loops"),
                "estimated_rows": n.get("Plan Rows"),
            }
            for d, n in ranked
        ]
    else:
        ranked = sorted(nodes, key=lambda dn: dn[1].get("Total Cost", 0.0), reverse=True)[:5]
        out["costliest"] = [
            {"node": _describe(n), "depth": d, "total_cost": n.get("Total Cost"), "estimated_rows": n.get("Plan Rows")}
            for d, n in ranked
        ]
    out["text"] = _plan_lines(plan, analyze)
    return out


def _plan_lines(plan: dict[str, Any], analyze: bool, limit: int = 40) -> list[str]:
    lines: list[str] = []
    for depth, node in _walk(plan):
        if len(lines) >= limit:
            lines.append("  ...")
            break
        stats = (
            f"rows={node.get('Actual Rows')} loops={node.get('Actual Loops')} "
            f"time={node.get('Actual Total Time', 0.0):.1f} ms excl={_exclusive(node):.1f} ms"
            if analyze
            else f"est. rows={node.get('Plan Rows')} cost={node.get('Total Cost')}"
        )
        lines.append(f"{'  ' * depth}-> {_describe(node)}  ({stats})")
    return lines


# -- W3C ---------------------------------------------------------------------------------------------------------


def w3c_suite(engine: sa.Engine, log: Callable[[str], None]) -> dict[str, Any]:
    """The W3C SPARQL 1.1 query-evaluation suite through the harness of ``tests/esdl_testing/w3c`` (quad table only)."""
    import logging

    from esdl_testing.w3c import load_suite, run_case
    from esdl_testing.w3c.esdl_engine import EsdlEngine

    quiet = logging.getLogger("rdflib")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the suite's data makes rdflib warn about odd IRIs
    try:
        t0 = time.perf_counter()
        suite = load_suite()
        harness = EsdlEngine(engine)
        results = [run_case(harness, case) for case in suite.cases]
    finally:
        quiet.setLevel(level)
    passed = sum(r.passed for r in results)
    seconds = time.perf_counter() - t0
    log(f"W3C suite: {passed} of {len(results)} cases pass ({seconds:.1f} s)")
    return {"passed": passed, "total": len(results), "seconds": seconds}
