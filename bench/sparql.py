#!/usr/bin/env python
"""Benchmark of the SPARQL engine: the virtual graph over PostGIS against hand-written SQL and against rdflib.

Usage::

    python bench/sparql.py [--features 1000000] [--regions 1000] [--rdflib-features 100000] [--repeat 7] [--min-time 1]

It starts a throwaway PostGIS (``LocalCluster``; or uses ``ESDL_DATABASE_URL``), writes a catalogue with SQL
(one cube, one variable, ``--regions`` grid regions, zonal statistics, small polygon features) and asks five
questions (spatial selection with ``geof:sfIntersects``, a spatial join of regions and features, an attribute
filter with OPTIONAL, an aggregate per region over zonal statistics, a topology relation as a triple pattern),
in one run:

* at ``--rdflib-features`` features: the engine (:class:`SparqlEngine` through its Python API) against rdflib
  over the same data materialised as RDF, GeoSPARQL functions registered in rdflib through shapely (in a worker
  process, abandoned after ``--rdflib-timeout``);
* after adding the rest, at ``--features`` features: the engine against the hand-written SQL of the same
  question through the same driver (SQLAlchemy + psycopg), every answer checked against the SQL's;
* translation: a cached translation, and a new query's translation against rdflib's own parse + algebra;
* the W3C SPARQL 1.1 query-evaluation suite on a scratch database.

Timings are medians of at least ``--repeat`` rounds (more, up to 60, until each side has run ``--min-time``
seconds); the sides of a round run back to back, in alternating order, on a database checkpointed after its load.
Human-readable figures come first; the last line is one JSON object with, among others, ``worst_ratio_vs_sql``,
``min_speedup_vs_rdflib``, ``cached_translate_ms_p50``, ``rewrite_overhead_vs_parse`` and ``w3c_passed``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the helpers live beside this file; the esdl packages in the repository; the W3C harness in tests/esdl_testing
for _path in (HERE, REPO, REPO / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

BUSY_WARNING = 0.10  # other programs' share of the CPU above which the report warns

TARGETS = {
    "worst_ratio_vs_sql": 1.3,
    "min_speedup_vs_rdflib": 100.0,
    "cached_translate_ms_p50": 1.0,
    "rewrite_overhead_vs_parse": 1.5,
}


def log(message: str) -> None:
    """Progress output (stderr, so that stdout ends with the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--features", type=int, default=1_000_000, help="features of the SQL comparison (default 1e6)")
    p.add_argument("--regions", type=int, default=1000, help="grid regions (default 1000)")
    p.add_argument(
        "--rdflib-features", type=int, default=100_000, help="features of the rdflib comparison (default 1e5)"
    )
    p.add_argument("--zonal-steps", type=int, default=50, help="zonal statistics per region (default 50)")
    p.add_argument(
        "--repeat", type=int, default=7, help="timed rounds; medians are reported (default 7: this VM is noisy)"
    )
    p.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        help="more rounds, up to 60, until each side has run this many seconds in all (default 1): a query of a\n"
        "few milliseconds gets enough rounds for a stable median",
    )
    p.add_argument(
        "--slow-s",
        type=float,
        default=5.0,
        help="a query whose first engine run takes this long is timed by that run alone (default 5)",
    )
    p.add_argument("--statement-timeout", type=float, default=120.0, help="per SQL statement, seconds (default 120)")
    p.add_argument("--rdflib-timeout", type=float, default=300.0, help="per rdflib query, seconds (default 300)")
    p.add_argument("--translate-calls", type=int, default=1000, help="cached translations timed (default 1000)")
    p.add_argument("--no-rdflib", action="store_true", help="skip the rdflib comparison")
    p.add_argument("--no-w3c", action="store_true", help="skip the W3C suite")
    p.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE of the worst query")
    p.add_argument(
        "--no-jit",
        action="store_true",
        help="SET jit = off on every connection of both sides (a diagnostic; default: the server's setting)",
    )
    p.add_argument(
        "--workdir", type=Path, default=None, help="where the throwaway PostGIS lives (default: a temporary folder)"
    )
    args = p.parse_args(argv)
    if min(args.features, args.regions, args.rdflib_features, args.zonal_steps, args.repeat) < 1:
        p.error("sizes and --repeat must be at least 1")
    if args.min_time < 0:
        p.error("--min-time must not be negative")
    return args


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def code_version() -> dict[str, Any]:
    """The commit the engine's code is at, and the files of ``semantic/`` changed since (the engine under test)."""
    import subprocess

    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    status = git("status", "--porcelain", "--", "semantic")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "semantic_changed": [ln[3:] for ln in status.splitlines()],
    }


def run_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build, measure, return the figures."""
    from _sparqlbench import data
    from _sparqlbench.cpu import CpuWatch, postmaster_pid
    from _sparqlbench.db import BenchDatabase
    from _sparqlbench.measure import compare_with_sql, explain, run_rdflib, translation_figures, w3c_suite
    from _sparqlbench.queries import make_queries

    from semantic.sparql.engine import SparqlEngine

    code = code_version()  # before anything runs: the engine under test
    if not args.no_w3c:
        import esdl_testing.w3c.esdl_engine  # noqa: F401  (imported now, with the rest of the code under test)
    layout = data.Layout(args.regions, args.zonal_steps)
    queries = make_queries(layout)
    small = min(args.rdflib_features, args.features)
    figures: dict[str, Any] = {"queries": {q.name: {"title": q.title} for q in queries}}
    with BenchDatabase(workdir / "pg", args.statement_timeout, log, jit=False if args.no_jit else None) as db:
        engine = db.engine
        assert engine is not None
        state = db.cluster.state() if db.cluster is not None else None
        watch = CpuWatch(postmaster_pid(state.data_dir if state else None))
        cpu: dict[str, Any] = {}
        whole = watch.start()
        t0 = time.perf_counter()
        with engine.begin() as conn:
            variable_id = data.build_base(conn, layout)
            data.add_features(conn, variable_id, 0, small)
        build_small_s = time.perf_counter() - t0
        vacuum_small_s = data.analyze(engine, log)
        log(
            f"catalogue: {layout.regions} regions ({layout.rows} x {layout.cols}), "
            f"{layout.regions * layout.zonal_steps:,} zonal statistics, {small:,} features in {build_small_s:.1f} s "
            f"(+ VACUUM ANALYZE {vacuum_small_s:.1f} s)"
        )
        t0 = time.perf_counter()
        sparql = SparqlEngine(engine)
        engine_start_s = time.perf_counter() - t0

        # -- at --rdflib-features: the engine (and SQL) timed, then rdflib ------------------------------------
        def compare(label: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
            return compare_with_sql(
                engine,
                sparql,
                queries,
                args.repeat,
                args.slow_s,
                args.statement_timeout,
                log,
                label,
                skip=skip,
                min_time_s=args.min_time,
            )

        part = watch.start()
        at_small = compare(f"{small:,} features:")
        cpu["engine_small"] = watch.stop(part)
        rdflib: dict[str, Any] | None = None
        if not args.no_rdflib:
            order = sorted(queries, key=lambda q: at_small[q.name].engine.median or float("inf"))
            part = watch.start()
            rdflib = run_rdflib(db.url, order, at_small, args.rdflib_timeout, log)
            cpu["rdflib"] = watch.stop(part)

        # -- at --features: the engine against the SQL ----------------------------------------------------
        build_large_s = vacuum_large_s = 0.0
        if args.features > small:
            t0 = time.perf_counter()
            with engine.begin() as conn:
                data.add_features(conn, variable_id, small, args.features)
            build_large_s = time.perf_counter() - t0
            vacuum_large_s = data.analyze(engine, log)
            log(
                f"added {args.features - small:,} features in {build_large_s:.1f} s "
                f"(+ VACUUM ANALYZE {vacuum_large_s:.1f} s)"
            )
            timed_out_small = frozenset(n for n, c in at_small.items() if c.engine.timed_out)
            part = watch.start()
            at_large = compare(f"{args.features:,} features:", skip=timed_out_small)
            cpu["engine_large"] = watch.stop(part)
        else:
            at_large = at_small
        sizes = data.counts(engine)

        # the worst ratio: completed queries by their ratio, timed-out ones by the lower bound timeout / SQL
        worst_name, worst, worst_is_bound = None, None, False
        worst_done, worst_done_ratio = None, None
        for name, c in at_large.items():
            ratio = c.ratio()
            bound = False
            if ratio is not None and (worst_done_ratio is None or ratio > worst_done_ratio):
                worst_done, worst_done_ratio = name, ratio
            if c.engine.timed_out and c.sql.median:
                ratio, bound = args.statement_timeout / c.sql.median, True
            if ratio is not None and (worst is None or ratio > worst):
                worst_name, worst, worst_is_bound = name, ratio, bound
        plans: list[dict[str, Any]] = []
        if not args.no_explain:
            for name in dict.fromkeys(n for n in (worst_name, worst_done) if n is not None):
                q = next(q for q in queries if q.name == name)
                statement = sparql.translate(q.text()).statement
                analyze = not at_large[name].engine.timed_out
                log(f"EXPLAIN {'ANALYZE ' if analyze else ''}of {name} ...")
                try:
                    plan = explain(engine, statement, analyze)
                except Exception as err:  # EXPLAIN ANALYZE's instrumentation can push it past the timeout
                    why = f"{type(err).__name__}: {str(err).splitlines()[0]}"
                    log(f"EXPLAIN {'ANALYZE ' if analyze else ''}of {name} failed ({why})")
                    try:
                        plan = explain(engine, statement, False) | {"analyze_failed": why}
                    except Exception as err2:
                        plan = {"analyze": False, "error": f"{type(err2).__name__}: {str(err2).splitlines()[0]}"}
                plan["query"] = name
                plans.append(plan)

        log("translation figures ...")
        translation = translation_figures(sparql, engine.dialect, queries, args.translate_calls)

        w3c: dict[str, Any] | None = None
        if not args.no_w3c:
            try:
                with db.scratch() as scratch:
                    w3c = w3c_suite(scratch, log)
            except Exception as err:
                log(f"W3C suite not run: {type(err).__name__}: {err}")
                w3c = {"passed": None, "total": None, "error": f"{type(err).__name__}: {err}"}
        database = db.kind
        cpu["whole_run"] = watch.stop(whole)
        busy = {k: v["other_cpu_frac"] for k, v in cpu.items() if v["other_cpu_frac"] > BUSY_WARNING}
        if busy:
            log(f"WARNING: other programs used much of the machine's CPU: {busy} (other_cpu_frac)")

    # -- figures ----------------------------------------------------------------------------------------------
    speedups: dict[str, tuple[float | None, str]] = {}  # (speedup, "" | "lower bound" | "upper bound")
    for q in queries:
        entry = figures["queries"][q.name]
        large, small_c = at_large[q.name], at_small[q.name]
        ratio = large.ratio()
        e_sql = large.engine_sql.median
        entry.update(
            {
                "rows": large.engine.rows if large.engine.rows is not None else large.sql.rows,
                "engine_s": _r(large.engine.median),
                "sql_s": _r(large.sql.median),
                "ratio_vs_sql": _r(ratio, 2),
                "engine_timed_out": large.engine.timed_out,
                "engine_not_run": large.engine.skipped,
                "ratio_at_least": _r(args.statement_timeout / large.sql.median, 1)
                if large.engine.timed_out and large.sql.median
                else None,
                "engine_runs": len(large.engine.runs),
                "engine_timed_from_first_run": large.timed_from_first_run,
                "engine_sql_alone_s": _r(e_sql),
                "engine_python_s": _r(large.engine.median - e_sql) if large.engine.median and e_sql else None,
                "answers_equal_sql": large.match,
                "mismatch": large.mismatch or None,
                "rows_small": small_c.engine.rows if small_c.engine.rows is not None else small_c.sql.rows,
                "engine_small_s": _r(small_c.engine.median),
                "sql_small_s": _r(small_c.sql.median),
                "ratio_vs_sql_small": _r(small_c.ratio(), 2),
                "engine_small_timed_out": small_c.engine.timed_out,
                "engine_small_sql_alone_s": _r(small_c.engine_sql.median),
                "answers_equal_sql_small": small_c.match,
            }
        )
        if rdflib is not None:
            rq = rdflib["queries"][q.name]
            e_s = small_c.engine.median
            if small_c.engine.timed_out:  # the engine took longer than the timeout: rdflib / timeout bounds it
                speedup = None if rq["timed_out"] else rq["seconds"] / args.statement_timeout
                kind = "unknown" if rq["timed_out"] else "upper bound"
            elif rq["timed_out"]:
                speedup, kind = (args.rdflib_timeout / e_s if e_s else None), "lower bound"
            else:
                speedup, kind = (rq["seconds"] / e_s if e_s else None), ""
            speedups[q.name] = (speedup, kind)
            entry.update(
                {
                    "rdflib_s": _r(rq["seconds"]),
                    "rdflib_timed_out": rq["timed_out"],
                    "speedup_vs_rdflib": _r(speedup, 2),
                    "speedup_bound": kind or None,
                    "rdflib_rows": rq["rows"],
                    "answers_equal_rdflib": rq["match"],
                    "rdflib_mismatch": rq.get("mismatch") or None,
                    "rdflib_note": q.rdflib_note,
                }
            )
    valid = {k: v for k, v in speedups.items() if v[0] is not None}
    min_name = min(valid, key=lambda k: valid[k][0] or 0.0) if valid else None
    min_speedup = valid[min_name][0] if min_name else None
    answers_ok = all(
        figures["queries"][q.name]["answers_equal_sql"] is not False
        and figures["queries"][q.name]["answers_equal_sql_small"] is not False
        and figures["queries"][q.name].get("answers_equal_rdflib") is not False
        for q in queries
    )
    met = {
        "worst_ratio_vs_sql": worst is not None and worst <= TARGETS["worst_ratio_vs_sql"],
        "min_speedup_vs_rdflib": min_speedup is not None
        and min_speedup >= TARGETS["min_speedup_vs_rdflib"]
        and len(valid) == len(speedups),
        "cached_translate_ms_p50": translation["cached_translate_ms_p50"] <= TARGETS["cached_translate_ms_p50"],
        "rewrite_overhead_vs_parse": translation["rewrite_overhead_vs_parse"] <= TARGETS["rewrite_overhead_vs_parse"],
    }
    return {
        "benchmark": "sparql",
        "worst_ratio_vs_sql": _r(worst, 2),
        "worst_ratio_query": worst_name,
        "worst_ratio_is_lower_bound": worst_is_bound,
        "worst_completed_ratio_vs_sql": _r(worst_done_ratio, 2),
        "worst_completed_query": worst_done,
        "min_speedup_vs_rdflib": _r(min_speedup, 3),
        "min_speedup_query": min_name,
        "min_speedup_bound": (valid[min_name][1] or None) if min_name else None,
        "cached_translate_ms_p50": round(translation["cached_translate_ms_p50"], 5),
        "rewrite_overhead_vs_parse": round(translation["rewrite_overhead_vs_parse"], 3),
        "w3c_passed": None if w3c is None else w3c["passed"],
        "w3c_total": None if w3c is None else w3c["total"],
        "answers_checked_equal": answers_ok,
        "queries": figures["queries"],
        "translation": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in translation.items()}
        | {"rewrite_overhead_by_query": {k: round(v, 3) for k, v in translation["rewrite_overhead_by_query"].items()}},
        "plans": plans,
        "rdflib": None
        if rdflib is None
        else {
            "triples": rdflib["triples"],
            "materialise_s": [round(s, 1) for s in rdflib["materialise_s"]],
            "timeout_s": args.rdflib_timeout,
        },
        "w3c": w3c,
        "cpu": cpu,
        "features": args.features,
        "rdflib_features": small,
        "regions": args.regions,
        "zonal_statistics": sizes["zonal_stat"],
        "table_rows": sizes,
        "build_small_s": round(build_small_s, 1),
        "build_rest_s": round(build_large_s, 1),
        "vacuum_analyze_s": round(vacuum_small_s + vacuum_large_s, 1),
        "engine_start_s": round(engine_start_s, 3),
        "database": database,
        "code": code,
        "repeat": args.repeat,
        "min_time_s": args.min_time,
        "slow_s": args.slow_s,
        "statement_timeout_s": args.statement_timeout,
        "jit": "off" if args.no_jit else "server default",
        "targets": TARGETS,
        "targets_met": met,
        "all_targets_met": all(met.values()) and answers_ok,
    }


def print_report(f: dict[str, Any]) -> None:
    """The figures for people."""
    ok = {True: "met", False: "NOT met"}
    tm = f["targets_met"]
    rdf = f["rdflib"] is not None

    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    head = f"{'query':10} {'rows':>7} {'engine s':>9} {'its SQL':>8} {'SQL s':>8} {'ratio':>8} {'ok':>3}"
    head += f" | {'rows':>6} {'engine s':>9} {'rdflib s':>9} {'speedup':>8} {'ok':>3}" if rdf else ""
    lines = [
        "",
        f"SPARQL benchmark: {f['features']:,} features, {f['regions']} regions, {f['zonal_statistics']:,} zonal "
        f"statistics ({f['database']}); medians of at least {f['repeat']} rounds, more until each side has run "
        f"{f['min_time_s']:g} s (a query slower than {f['slow_s']:.0f} s: its first run); statement timeout "
        f"{f['statement_timeout_s']:.0f} s; JIT {f['jit']}",
        f"  left: engine vs hand-written SQL at {f['features']:,} features ('its SQL': the engine's SQL string alone)",
        f"  right: engine vs rdflib at {f['rdflib_features']:,} features" if rdf else "  rdflib skipped",
        "  " + head,
    ]
    yes = {True: "yes", False: "NO", None: "-"}
    bound = {"lower bound": ">=", "upper bound": "<=", "unknown": "?", None: ""}
    for name, q in f["queries"].items():
        if q["engine_timed_out"]:
            engine_s = "not run" if q["engine_not_run"] else "timeout"
            ratio = ">" + num(q["ratio_at_least"], ".0f")
        else:
            engine_s = num(q["engine_s"], ".4f") + ("*" if q["engine_timed_from_first_run"] else "")
            ratio = num(q["ratio_vs_sql"], ".2f")
        line = (
            f"  {name:10} {num(q['rows'], 'd'):>7} {engine_s:>9} {num(q['engine_sql_alone_s'], '.4f'):>8} "
            f"{num(q['sql_s'], '.4f'):>8} {ratio:>8} {yes[q['answers_equal_sql']]:>3}"
        )
        if rdf:
            speed = (
                "?"
                if q["speedup_bound"] == "unknown"
                else bound[q["speedup_bound"]]
                + num(q["speedup_vs_rdflib"], ".2f" if (q["speedup_vs_rdflib"] or 0) < 10 else ".0f")
            )
            small_s = "timeout" if q["engine_small_timed_out"] else num(q["engine_small_s"], ".4f")
            rdflib_s = "timeout" if q["rdflib_timed_out"] else num(q["rdflib_s"], ".2f")
            line += (
                f" | {num(q['rows_small'], 'd'):>6} {small_s:>9} {rdflib_s:>9} {speed:>8} "
                f"{yes[q['answers_equal_rdflib']]:>3}"
            )
        lines.append(line)
    t = f["translation"]
    lines += [
        "  (* timed by its first run; 'not run': it timed out at the smaller size; ratio >N: timeout / SQL time)",
        "",
        f"  worst_ratio_vs_sql        {num(f['worst_ratio_vs_sql'], '.2f')}"
        + (" (lower bound: timed out)" if f["worst_ratio_is_lower_bound"] else "")
        + f" ({f['worst_ratio_query']}; worst completed: {f['worst_completed_query']} "
        + f"{num(f['worst_completed_ratio_vs_sql'], '.2f')})  (target <= 1.3: {ok[tm['worst_ratio_vs_sql']]})",
        f"  min_speedup_vs_rdflib     {num(f['min_speedup_vs_rdflib'], '.3g')}"
        + (f" ({f['min_speedup_bound']})" if f["min_speedup_bound"] else "")
        + f" ({f['min_speedup_query']})  (target >= 100: {ok[tm['min_speedup_vs_rdflib']]})",
        f"  cached_translate_ms_p50   {f['cached_translate_ms_p50']:.4f} ms "
        f"(p99 {t['cached_translate_ms_p99']:.4f} ms) "
        f"(target <= 1: {ok[tm['cached_translate_ms_p50']]})",
        f"  rewrite_overhead_vs_parse {f['rewrite_overhead_vs_parse']:.2f} (a new query: translate "
        f"{t['new_translate_ms_p50']:.1f} ms, its SQL string included / rdflib parse + algebra "
        f"{t['rdflib_parse_algebra_ms_p50']:.1f} ms) (target <= 1.5: {ok[tm['rewrite_overhead_vs_parse']]})",
        "    by query: " + ", ".join(f"{k} {v:.2f}" for k, v in t["rewrite_overhead_by_query"].items()),
        f"  w3c_passed                {num(f['w3c_passed'], 'd')} of {num(f['w3c_total'], 'd')}",
        f"  answers checked equal     {yes[f['answers_checked_equal']]}",
    ]
    for plan in f["plans"]:
        if plan.get("error"):
            lines.append(f"  plan of {plan['query']}: EXPLAIN failed: {plan['error']}")
            continue
        if plan["analyze"]:
            summary = (
                f"EXPLAIN ANALYZE: execution {plan['execution_ms']:.0f} ms, planning {plan['planning_ms']:.0f} ms"
                + (f", JIT {plan['jit_ms']:.0f} ms" if plan.get("jit_ms") else "")
                + f"; {plan['nodes']} plan nodes; top node estimated {plan['estimated_rows_top']} rows, "
                f"actual {plan['actual_rows_top']}; dominant nodes (exclusive time, summed over parallel workers):"
            )
        else:
            why = plan.get("analyze_failed") or "the query timed out"
            summary = f"EXPLAIN without ANALYZE ({why}): {plan['nodes']} plan nodes; costliest nodes:"
        lines.append(f"  plan of {plan['query']}: {summary}")
        for n in plan.get("dominant") or plan.get("costliest") or []:
            stats = (
                f"{n['exclusive_ms']:.0f} ms, {n['actual_rows']} rows x {n['loops']} loops "
                f"(estimated {n['estimated_rows']} rows)"
                if "exclusive_ms" in n
                else f"cost {n['total_cost']:.0f}, estimated {n['estimated_rows']} rows"
            )
            lines.append(f"    {n['node']}: {stats}")
    cpu = f["cpu"]
    lines.append(
        "  other programs' share of the machine's CPU (other_cpu_frac): "
        + ", ".join(f"{k} {v['other_cpu_frac']:.0%}" for k, v in cpu.items())
        + ("" if all(v["server_known"] for v in cpu.values()) else " (upper bounds: the server's CPU is unknown)")
    )
    if any(v["other_cpu_frac"] > BUSY_WARNING for v in cpu.values()):
        lines.append(f"  WARNING: above {BUSY_WARNING:.0%}: the timings are noisy; run again on a quiet machine")
    if f["rdflib"]:
        lines.append(
            f"  rdflib: {f['rdflib']['triples']:,} triples, materialised in "
            + " + ".join(f"{s:.1f}" for s in f["rdflib"]["materialise_s"])
            + " s (not timed)"
        )
    lines.append(
        f"  build: {f['build_small_s']:.1f} s + {f['build_rest_s']:.1f} s, VACUUM ANALYZE {f['vacuum_analyze_s']:.1f} s"
    )
    lines.append("")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the report and the JSON line."""
    args = parse_args(argv)
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esdl-sparql-bench-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        figures = run_benchmark(args, workdir)
    except Exception as err:
        traceback.print_exc()
        print(json.dumps({"benchmark": "sparql", "error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["total_s"] = round(time.perf_counter() - t0, 1)
    print_report(figures)
    print(json.dumps(figures, default=float), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
