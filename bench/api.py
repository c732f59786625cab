#!/usr/bin/env python
"""Benchmark of the HTTP service's OGC API - Processes and authentication (issue 17), with real parts only.

Usage::

    python bench/api.py [--jobs 200] [--clients 10] [--auth-requests 2000] [--prefect-database postgres|sqlite]

It starts a throwaway PostGIS (migrated; or ``ESDL_DATABASE_URL``), a Prefect server (its database in that
cluster, as ``esdl up --prefect-db postgres`` makes it, or SQLite), a work pool no worker polls (runs stay
Scheduled: what is measured is the submission) with two deployments of the real build-cube flow (its parameter
schema, enforced), creates an API key with the ``run`` permission and starts ``esdl serve`` (the ``prefect`` and
``esdl`` beside this interpreter, never from ``PATH``). Then:

* **jobs**: ``--sequential`` execute requests one at a time (after 5 untimed ones), then ``--jobs`` of them
  (``POST /processes/{id}/execution`` with the key) from ``--clients`` threads at once (a keep-alive session
  each), each timed from sending to its 201; then every job is looked for in ``/jobs`` (paged by its ``next``
  links) and in Prefect: each must be there exactly once;
* for comparison, the same number of runs created straight with Prefect's REST API
  (``POST /deployments/{id}/create_flow_run``, the same parameters, from as many threads): what Prefect alone takes;
* **auth**: ``GET /conformance`` (the cheapest route: no database, no Prefect) ``--auth-requests`` times with the
  key (``X-API-Key``) and as many without a credential, in alternating blocks of 100 on one keep-alive session;
  ``auth_overhead`` is the ratio of their p50s.

Human-readable figures come first (progress goes to stderr); the last line of stdout is one JSON object with
``jobs_submit_p50_ms``, ``jobs_submit_p99_ms``, ``jobs_per_s``, ``jobs_one_at_a_time_p50_ms``,
``prefect_direct_p99_ms``, ``prefect_direct_per_s``, ``jobs_visible_once``,
``auth_overhead``, ``targets``, ``passed`` and ``all_passed``. Every process it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (HERE, REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGETS: dict[str, float] = {"jobs_submit_p99_ms": 150.0, "auth_overhead": 1.1}  # both <=
POOL = "esdl-bench-api-idle"  # nothing polls it
PROCESS = "bench-api-cube"
DIRECT = "bench-api-direct"
WARMUP = 5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def flood(count: int, clients: int, send: Callable[[requests.Session, int], tuple[int, str | None]]) -> dict[str, Any]:
    """``count`` sends from ``clients`` threads (a session each): latencies, statuses, the ids answered."""
    from _orchestrationbench.deliveries import latency_ms

    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    ids: list[str] = []
    local = threading.local()

    def one(i: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        t0 = time.perf_counter()
        status, made = send(session, i)
        took = time.perf_counter() - t0
        with lock:
            latencies.append(took)
            statuses[status] += 1
            if made:
                ids.append(made)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(count)))
    wall = time.perf_counter() - t0
    return {"latency": latency_ms(latencies), "statuses": dict(statuses), "ids": ids, "wall_s": round(wall, 2)}


def listed_jobs(base: str) -> list[str]:
    """Every job of the benchmark's process in ``/jobs``, following its ``next`` links."""
    out: list[str] = []
    url: str | None = f"{base}/jobs?processID={PROCESS}&limit=100"
    while url is not None:
        page = requests.get(url, timeout=60).json()
        out += [job["id"] for job in page["jobs"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    return out


def auth_blocks(base: str, key: str, total: int, block: int = 100) -> dict[str, Any]:
    """``GET /conformance`` with and without the key, alternating blocks, one session: p50s and their ratio."""
    session = requests.Session()
    url = f"{base}/conformance"
    times: dict[str, list[float]] = {"key": [], "anonymous": []}
    for _ in range(50):  # warm-up (the key's first check reads the database; then it is cached)
        session.get(url, headers={"X-API-Key": key}, timeout=10)
        session.get(url, timeout=10)
    for start in range(0, total, block):
        for kind, headers in (("key", {"X-API-Key": key}), ("anonymous", {})):
            for _ in range(min(block, total - start)):
                t0 = time.perf_counter()
                r = session.get(url, headers=headers, timeout=10)
                times[kind].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"GET /conformance ({kind}): {r.status_code} {r.text[:300]}")
    p50 = {kind: statistics.median(values) for kind, values in times.items()}
    return {
        "requests_each": len(times["key"]),
        "key_p50_ms": round(p50["key"] * 1000, 3),
        "anonymous_p50_ms": round(p50["anonymous"] * 1000, 3),
        "auth_overhead": round(p50["key"] / p50["anonymous"], 3),
    }


def cpu_per_job(shares: dict[str, Any], jobs: int) -> dict[str, Any]:
    """CPU milliseconds per job of each process tree (and the machine's busy share) during a flood."""
    per_job = {k: round(v / jobs * 1000, 1) for k, v in shares["cpu_s"].items()}
    return {"cpu_ms_per_job": per_job, "machine_busy_frac": shares["machine_busy_frac"], "cores": shares["cores"]}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from _cubebench.procs import PrefectServer
    from _hostilebench.db import Database
    from _hostilebench.server import Server
    from _orchestrationbench.deliveries import CpuShares
    from _orchestrationbench.prefect_api import PrefectApi
    from prefect.utilities.callables import parameter_schema

    from esdl.api.auth.keys import create_key
    from esdl.prefectdb import SETTING, ensure_postgres
    from flows.build_cube import build_cube

    os.environ["PREFECT_HOME"] = str(workdir / "prefect")
    figures: dict[str, Any] = {"jobs": args.jobs, "clients": args.clients, "prefect_database": args.prefect_database}
    with ExitStack() as stack:
        db = stack.enter_context(Database(workdir / "pg", log))
        server_env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        if args.prefect_database == "postgres":
            if db.cluster is None:
                raise RuntimeError("--prefect-database postgres needs the throwaway cluster (ESDL_DATABASE_URL is set)")
            server_env[SETTING] = ensure_postgres(db.url, secrets.token_urlsafe(24), "prefect_bench", "prefect_bench")
        saved = {k: os.environ.get(k) for k in server_env}
        os.environ.update(server_env)
        try:
            prefect = stack.enter_context(PrefectServer(workdir / "prefect", log))
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        os.environ.update(prefect.env())
        api = PrefectApi(prefect.api_url)
        schema = parameter_schema(build_cube.fn).model_dump_for_openapi()
        api.create_pool(POOL)
        deployment = api.create_deployment("build-cube", PROCESS, POOL, schema)
        direct = api.create_deployment("build-cube", DIRECT, POOL, schema)
        assert db.engine is not None
        _, key = create_key(db.engine, "bench-api", "run")
        server = Server(db.url, {}, workdir, extra_env={**db.server_env, **prefect.env(), **server_env})
        stack.callback(server.stop)
        log(f"esdl serve up in {server.start():.1f} s at {server.base}")
        execute = f"{server.base}/processes/{PROCESS}/execution"
        headers = {"X-API-Key": key, "Content-Type": "application/json"}

        def submit(session: requests.Session, i: int) -> tuple[int, str | None]:
            body = json.dumps({"inputs": {"spec": f"cubes/specs/bench-{i:04d}.yaml"}})
            r = session.post(execute, data=body, headers=headers, timeout=60)
            return r.status_code, (r.json().get("id") if r.status_code == 201 else None)

        warm = flood(WARMUP, 1, submit)
        log(f"{args.sequential} executions one at a time")
        alone = flood(args.sequential, 1, lambda session, i: submit(session, 10_000 + i))
        log(f"{args.jobs} executions from {args.clients} clients")
        pids = {"esdl_serve": server.proc.pid if server.proc else None}
        pids["prefect_server"] = prefect.proc.pid if prefect.proc else None
        pids["postgres"] = db.postmaster_pid
        cpu = CpuShares(pids).start()
        jobs = flood(args.jobs, args.clients, submit)
        figures["jobs_cpu"] = cpu_per_job(cpu.stop(), args.jobs)
        made = warm["ids"] + alone["ids"] + jobs["ids"]
        figures["jobs_one_at_a_time"] = {k: v for k, v in alone.items() if k != "ids"}
        listed = listed_jobs(server.base)
        in_prefect = [str(r["id"]) for r in api.runs_of(deployment)]
        once = (
            len(made) == WARMUP + args.sequential + args.jobs
            and Counter(listed) == Counter(made)
            and Counter(in_prefect) == Counter(made)
        )
        figures["jobs_flood"] = {k: v for k, v in jobs.items() if k != "ids"}
        figures["jobs_listed"], figures["jobs_in_prefect"] = len(listed), len(in_prefect)
        figures["jobs_visible_once"] = once

        def create(session: requests.Session, i: int) -> tuple[int, str | None]:
            body = {"parameters": {"spec": f"cubes/specs/direct-{i:04d}.yaml"}, "state": {"type": "SCHEDULED"}}
            r = session.post(f"{prefect.api_url}/deployments/{direct}/create_flow_run", json=body, timeout=60)
            return r.status_code, (r.json().get("id") if r.status_code == 201 else None)

        flood(WARMUP, 1, create)
        log(f"the same straight to Prefect's REST API ({args.jobs} runs, {args.clients} clients)")
        cpu = CpuShares(pids).start()
        figures["prefect_direct"] = {k: v for k, v in flood(args.jobs, args.clients, create).items() if k != "ids"}
        figures["prefect_direct_cpu"] = cpu_per_job(cpu.stop(), args.jobs)
        log(f"GET /conformance {args.auth_requests} times with the key and without")
        figures["auth"] = auth_blocks(server.base, key, args.auth_requests)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--sequential", type=int, default=50, help="executions sent one at a time first")
    parser.add_argument("--auth-requests", type=int, default=2000)
    parser.add_argument("--prefect-database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="esdl-bench-api-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        figures = run(args, workdir)
    summary = {
        "jobs_submit_p50_ms": figures["jobs_flood"]["latency"]["p50_ms"],
        "jobs_submit_p99_ms": figures["jobs_flood"]["latency"]["p99_ms"],
        "jobs_per_s": round(args.jobs / figures["jobs_flood"]["wall_s"], 1),
        "jobs_one_at_a_time_p50_ms": figures["jobs_one_at_a_time"]["latency"]["p50_ms"],
        "jobs_statuses": figures["jobs_flood"]["statuses"],
        "prefect_direct_p99_ms": figures["prefect_direct"]["latency"]["p99_ms"],
        "prefect_direct_p50_ms": figures["prefect_direct"]["latency"]["p50_ms"],
        "prefect_direct_per_s": round(args.jobs / figures["prefect_direct"]["wall_s"], 1),
        "jobs_cpu_ms_per_job": figures["jobs_cpu"]["cpu_ms_per_job"],
        "prefect_direct_cpu_ms_per_job": figures["prefect_direct_cpu"]["cpu_ms_per_job"],
        "jobs_visible_once": figures["jobs_visible_once"],
        "auth_overhead": figures["auth"]["auth_overhead"],
        "prefect_database": args.prefect_database,
    }
    passed = {
        "jobs_submit_p99_ms": summary["jobs_submit_p99_ms"] <= TARGETS["jobs_submit_p99_ms"],
        "auth_overhead": summary["auth_overhead"] <= TARGETS["auth_overhead"],
        "jobs_visible_once": bool(summary["jobs_visible_once"]),
    }
    print(json.dumps(figures, indent=2))
    print(json.dumps({**summary, "targets": TARGETS, "passed": passed, "all_passed": all(passed.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
