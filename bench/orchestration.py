#!/usr/bin/env python
"""Benchmark of the signed webhooks (issue 13): how fast ``esdl serve`` accepts deliveries under a flood, whether
any is lost or runs twice, and how long a delivery takes to become a running flow, with real parts only.

Usage::

    python bench/orchestration.py [--deliveries 500] [--senders 20] [--keys 100] [--runs 10]

It starts a Prefect server (``prefect server start``, its ``PREFECT_HOME`` in the work folder; SQLite, or a
database in the throwaway cluster with ``--prefect-database postgres``), a throwaway PostGIS (``LocalCluster``,
migrated with ``esdl db upgrade``; or ``ESDL_DATABASE_URL``), three process work pools and four deployments,
writes a hooks file and starts ``esdl serve --hooks`` with ``PREFECT_API_URL`` pointing at that server and the
hooks' secret in its environment; the ``prefect`` and ``esdl`` beside this interpreter, never from ``PATH``.
Then, in this order:

* webhook to running, as ``esdl up`` configures the stack: the warm-start zygote (``python -m esdl.warmstart
  zygote``, the flow files of ``deployments/prefect.yaml`` preloaded) and a real process worker (``prefect worker
  start --type process``, polling every ``esdl.stack.WORKER_POLL_S``) of a pool whose job command is the
  launcher (``esdl.warmstart.job_template``), whose deployment is a trivial flow that sleeps ``--sleep`` s;
  ``--runs`` deliveries (after one untimed one), one at a time, each timed from sending it to its run read as
  RUNNING (the run read every 0.1 s), the next sent when the last has finished; then the worker is stopped;
* for comparison, the same with ``--cold-runs`` deliveries to the same flow in a pool with Prefect's default job
  template (each run a new Python, as before warm starts), with a worker of its own; then the zygote is stopped;
* acceptance: ``--deliveries`` signed deliveries (after 5 untimed ones) to a hook whose deployment is the real
  build-cube flow's, its parameter schema enforced, in the pool no worker polls (runs stay Scheduled), sent by
  ``--senders`` threads at once over ``--keys`` Idempotency-Keys (each sent deliveries/keys times, in
  ``--order``); every latency is kept, and the runs Prefect holds afterwards are matched to the keys;
* for comparison, the same sends straight to Prefect's ``/deployments/{id}/create_flow_run`` with Prefect's own
  client, as esdl serve sends them (another deployment of the same flow and schema): what Prefect and its
  client alone take (``--no-direct`` skips it).
* ``prefect_overhead`` (``--overhead-scale``, default 1: the 2 GB input of ``bench/cube_build.py``, cached in
  ``--cube-workdir``; 0 skips it): the build-cube flow run by a deployment through a process worker, from the run's
  start to its end as Prefect records them, against the same library calls without Prefect in a process of its
  own (``_orchestrationbench/overhead.py``), ``--overhead-rounds`` rounds in alternating order, medians.

Human-readable figures come first (progress goes to stderr); the last line of stdout is one JSON object with
``webhook_to_running_s_p50``, ``webhook_accept_p50_ms``, ``webhook_accept_p99_ms``, ``status_counts``,
``duplicate_runs``, ``lost_deliveries``, ``targets``, ``passed`` and ``all_passed``, among others. Every process
it started is stopped at the end, also after an error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (HERE, REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGETS: dict[str, Any] = {
    "webhook_to_running_s_p50": 2.0,  # <=
    "webhook_accept_p99_ms": 100.0,  # <=
    "duplicate_runs": 0,  # ==
    "lost_deliveries": 0,  # ==
    "prefect_overhead": 1.05,  # <=
}
RUN_POOL = "esdl-bench"  # a process worker polls it; its job command is the warm-start launcher
COLD_POOL = "esdl-bench-cold"  # Prefect's default job template: a new Python per run
IDLE_POOL = "esdl-bench-idle"  # nothing polls it: runs stay Scheduled
ACCEPT_DEPLOYMENT = "esdl-bench-accept"
DIRECT_DEPLOYMENT = "esdl-bench-direct"
RUN_DEPLOYMENT = "esdl-bench-run"
RUN_COLD_DEPLOYMENT = "esdl-bench-run-cold"
WARMUP_ACCEPT = 5
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
BUSY_WARNING = 0.10


def log(message: str) -> None:
    """Progress output (stderr, so that stdout ends with the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--deliveries", type=int, default=500, help="timed deliveries of the flood (default 500)")
    p.add_argument("--senders", type=int, default=20, help="concurrent senders of the flood (default 20)")
    p.add_argument("--keys", type=int, default=100, help="distinct Idempotency-Keys of the flood (default 100)")
    p.add_argument(
        "--order",
        choices=("shuffled", "rounds", "grouped"),
        default="shuffled",
        help="order of the sends: shuffled (seeded random, default), rounds (every key once, then again...),\n"
        "grouped (a key's sends one after another: they race one another across senders)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffled order (default 0)")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds a sender of the flood waits for an answer before it gives up (default 30)",
    )
    p.add_argument("--runs", type=int, default=10, help="timed deliveries of webhook-to-running (default 10)")
    p.add_argument("--sleep", type=float, default=1.0, help="seconds the trivial flow sleeps (default 1)")
    p.add_argument(
        "--cold-runs", type=int, default=5, help="timed deliveries to running without warm starts (default 5; 0 skips)"
    )
    p.add_argument(
        "--overhead-scale",
        type=float,
        default=1.0,
        help="input scale of prefect_overhead (1: about 2 GB, as bench/cube_build.py; 0 skips it; default 1)",
    )
    p.add_argument("--overhead-rounds", type=int, default=3, help="rounds of prefect_overhead (default 3)")
    p.add_argument(
        "--cube-workdir",
        type=Path,
        default=REPO / ".esdl" / "bench",
        help="where bench/cube_build.py's inputs are cached (default .esdl/bench)",
    )
    p.add_argument("--no-direct", action="store_true", help="skip the flood straight to Prefect (for comparison)")
    p.add_argument(
        "--prefect-database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the Prefect server's database: sqlite (its default, as infra/local/prefect-server.sh runs it;\n"
        "default) or postgres (a database in the throwaway PostGIS cluster, through asyncpg)",
    )
    p.add_argument(
        "--workdir", type=Path, default=None, help="where the servers' state and logs live (default: temporary)"
    )
    args = p.parse_args(argv)
    if min(args.deliveries, args.senders, args.keys, args.runs) < 1 or args.cold_runs < 0:
        p.error("--deliveries, --senders, --keys and --runs must be at least 1")
    if args.overhead_scale < 0 or args.overhead_rounds < 1:
        p.error("--overhead-scale must not be negative, --overhead-rounds must be at least 1")
    if args.keys > args.deliveries:
        p.error("--keys cannot be more than --deliveries")
    if args.sleep < 0 or args.timeout <= 0:
        p.error("--sleep must not be negative, --timeout must be positive")
    return args


def code_version() -> dict[str, Any]:
    """The commit, and the files of the code under test changed since."""

    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout if out.returncode == 0 else ""

    status = git("status", "--porcelain", "--", "esdl", "semantic", "flows")  # "XY path": no strip of the first
    commit = git("rev-parse", "--short", "HEAD").strip()
    return {"commit": commit or None, "changed": [ln[3:] for ln in status.splitlines() if ln.strip()]}


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# -- the whole run ----------------------------------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Set up, run the phases, return the figures; every process started is stopped on the way out."""
    from _cubebench.procs import PrefectServer
    from _hostilebench.db import Database
    from _orchestrationbench.deliveries import SECRET_ENV, HooksServer, write_hooks
    from _orchestrationbench.prefect_api import PrefectApi, Worker
    from _orchestrationbench.warm import Zygote

    from esdl import warmstart
    from esdl.prefectdb import SETTING, ensure_postgres
    from esdl.stack import WORKER_POLL_S

    # the Prefect this process imports (the flows' parameter schemas; no client) keeps its home in the work folder
    os.environ["PREFECT_HOME"] = str(workdir / "prefect")
    secret = secrets.token_urlsafe(32)
    logs: dict[str, Path] = {}
    try:
        with ExitStack() as stack:
            db = stack.enter_context(Database(workdir / "pg", log))
            # the server logs each error it answers 503 for (its clients retry those after a back-off): counted
            server_env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_LOG_RETRYABLE_ERRORS": "true"}
            if args.prefect_database == "postgres":
                if db.cluster is None:
                    raise RuntimeError(
                        "--prefect-database postgres needs the throwaway cluster (ESDL_DATABASE_URL is set)"
                    )
                # as `esdl up --prefect-db postgres` makes it: a database of its own, owned by a role of its own
                password = secrets.token_urlsafe(24)
                server_env[SETTING] = ensure_postgres(db.url, password, "prefect_bench", "prefect_bench")
            with environment(server_env):  # the Prefect server's own settings, seen by nothing else
                prefect = stack.enter_context(PrefectServer(workdir / "prefect", log))
            logs["prefect server"] = workdir / "prefect" / "server.log"
            os.environ.update(prefect.env())
            api = PrefectApi(prefect.api_url)

            from _orchestrationbench.sleeper import ENTRYPOINT, FLOW_NAME, bench_sleep
            from prefect.utilities.callables import parameter_schema

            from flows.build_cube import build_cube

            build_schema = parameter_schema(build_cube.fn).model_dump_for_openapi()
            sleep_schema = parameter_schema(bench_sleep.fn).model_dump_for_openapi()
            zygote_socket = workdir / warmstart.SOCKET
            api.create_pool(RUN_POOL, warmstart.job_template(zygote_socket))  # as esdl up makes its pool
            api.create_pool(COLD_POOL)
            api.create_pool(IDLE_POOL)
            deployments = {
                "accept": api.create_deployment("build-cube", ACCEPT_DEPLOYMENT, IDLE_POOL, build_schema),
                "direct": api.create_deployment("build-cube", DIRECT_DEPLOYMENT, IDLE_POOL, build_schema),
                "run": api.create_deployment(FLOW_NAME, RUN_DEPLOYMENT, RUN_POOL, sleep_schema, ENTRYPOINT, REPO),
                "cold": api.create_deployment(
                    FLOW_NAME, RUN_COLD_DEPLOYMENT, COLD_POOL, sleep_schema, ENTRYPOINT, REPO
                ),
            }
            hooks_file = workdir / "hooks.yaml"
            write_hooks(
                hooks_file,
                f"build-cube/{ACCEPT_DEPLOYMENT}",
                f"{FLOW_NAME}/{RUN_DEPLOYMENT}",
                args.sleep,
                cold_deployment=f"{FLOW_NAME}/{RUN_COLD_DEPLOYMENT}",
            )
            hooks_env = {
                **db.server_env,
                **prefect.env(),
                SECRET_ENV: secret,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            server = HooksServer(db.url, hooks_file, workdir, hooks_env)
            logs["esdl serve"] = server.log_path
            stack.callback(server.stop)
            startup_s = server.start()
            log(f"esdl serve --hooks up in {startup_s:.1f} s at {server.base}")
            figures: dict[str, Any] = {
                "database": db.kind,
                "prefect_database": args.prefect_database,
                "server_start_s": round(startup_s, 1),
            }

            # first, on a quiet system: webhook to running, as esdl up runs it (the zygote started before the
            # worker, both with the same environment), then without warm starts
            worker = Worker(RUN_POOL, prefect.env(), REPO, workdir / "worker.log", query_s=WORKER_POLL_S)
            preload = warmstart.entrypoint_files(PREFECT_YAML)
            zygote = Zygote(zygote_socket, preload, worker.env, REPO, workdir / "zygote.log")
            logs["zygote"] = zygote.log_path
            stack.callback(zygote.stop)
            zygote_start_s = zygote.start(log=log)
            logs["worker"] = worker.log_path
            stack.callback(worker.stop)
            worker_start_s = worker.start(api, log=log)
            figures["to_running"] = webhook_to_running(args, api, server, secret, worker, prefect, zygote)
            figures["to_running"]["worker_start_s"] = round(worker_start_s, 1)
            figures["to_running"]["zygote_start_s"] = round(zygote_start_s, 1)
            figures["to_running"]["worker_settings"] = worker.settings
            worker.stop()  # its polling is no part of the flood
            log("worker stopped")
            if args.cold_runs:
                cold_worker = Worker(COLD_POOL, prefect.env(), REPO, workdir / "worker-cold.log", query_s=WORKER_POLL_S)
                logs["worker (cold)"] = cold_worker.log_path
                stack.callback(cold_worker.stop)
                cold_worker.start(api, log=log)
                figures["to_running_cold"] = webhook_to_running(
                    args, api, server, secret, cold_worker, prefect, zygote, cold=True
                )
                figures["to_running_cold"]["worker_settings"] = cold_worker.settings
                cold_worker.stop()
                log("worker (cold) stopped")
            zygote.stop()

            # then the flood, nobody running its runs; then the same straight to Prefect
            figures["acceptance"] = acceptance(args, api, server, secret, deployments, prefect, db)
            if not args.no_direct:
                figures["prefect_direct"] = direct_flood(args, api, deployments["direct"], prefect, db)
            figures["esdl_serve_log"] = server.log_findings()
            figures["esdl_serve_alive_at_end"] = server.alive()
            if args.overhead_scale > 0:
                from _orchestrationbench.overhead import prefect_overhead

                figures["overhead"] = prefect_overhead(
                    api, prefect.env(), workdir, args.cube_workdir, args.overhead_scale, args.overhead_rounds, log
                )
        log("stopped: esdl serve, Prefect server, database")
        return figures
    except BaseException:
        for name, path in logs.items():
            try:
                tail = path.read_text(encoding="utf-8", errors="replace")[-3000:]
            except OSError:
                continue
            log(f"--- the end of the {name}'s log ({path}) ---\n{tail}")
        raise


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block (a subprocess started in it inherits them), as before after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def acceptance(
    args: argparse.Namespace,
    api: Any,
    server: Any,
    secret: str,
    deployments: dict[str, str],
    prefect: Any,
    db: Any,
) -> dict[str, Any]:
    """The flood of signed deliveries to the hook nobody runs; its latencies, answers and the runs it made."""
    import requests
    from _orchestrationbench.deliveries import (
        ACCEPT_HOOK,
        CpuShares,
        account,
        deliver,
        flood,
        latency_ms,
        send_order,
    )
    from _orchestrationbench.prefect_api import log_size, retryable_since

    url = f"{server.base}/hooks/{ACCEPT_HOOK}"
    key = secret.encode()
    prefix = f"bench-{secrets.token_hex(3)}"
    with requests.Session() as session:  # the server's Prefect client and caches are made by the first delivery
        warm = [deliver(session, url, key, f"{prefix}-warmup-{i}") for i in range(WARMUP_ACCEPT)]
    log("warm-up deliveries: " + ", ".join(f"{a.label()} in {a.latency_s * 1000:.0f} ms" for a in warm))
    if any(a.status != 202 for a in warm):
        raise RuntimeError(f"the warm-up deliveries were not accepted: {[a.label() for a in warm]}")

    keys = [f"{prefix}-{i:04d}" for i in range(args.keys)]
    sends = send_order(keys, args.deliveries, args.order, args.seed)
    pids = {"prefect_server": prefect.proc.pid, "esdl_serve": server.proc.pid, "postgres": db.postmaster_pid}
    prefect_log = prefect.home / "server.log"
    offset = log_size(prefect_log)
    cpu = CpuShares(pids).start()
    log(f"flood: {len(sends)} deliveries over {len(keys)} keys from {args.senders} senders ({args.order})")
    answers, wall_s = flood(url, key, sends, args.senders, deliver, f"{server.base}/static/", args.timeout)
    cpu_figures = cpu.stop()
    locked = retryable_since(prefect_log, offset)
    log(f"  done in {wall_s:.1f} s ({len(sends) / wall_s:.0f} deliveries/s)")
    time.sleep(1.0)
    runs = [r for r in api.runs_of(deployments["accept"]) if "-warmup-" not in (r.get("idempotency_key") or "")]
    figures = account(answers, keys, runs, ACCEPT_HOOK)
    latencies = [a.latency_s for a in answers]
    by_status = Counter(a.label() for a in answers)
    # latencies over the flood's course: a slowdown as Prefect's tables grow would show here
    tenths = [answers[len(answers) * i // 10 : len(answers) * (i + 1) // 10] for i in range(10)]
    return {
        "deliveries": len(sends),
        "keys": len(keys),
        "senders": args.senders,
        "order": args.order,
        "wall_s": round(wall_s, 2),
        "deliveries_per_s": round(len(sends) / wall_s, 1),
        "latency": latency_ms(latencies),
        "latency_202": latency_ms([a.latency_s for a in answers if a.status == 202]),
        "latency_p50_ms_by_tenth": [latency_ms([a.latency_s for a in part])["p50_ms"] for part in tenths if part],
        "status_counts": dict(sorted(by_status.items())),
        "answers_duplicate_true": sum(a.duplicate is True for a in answers),
        "warmup_ms": [round(a.latency_s * 1000, 1) for a in warm],
        "slowest": [
            {"index": a.index, "key": a.key, "at_s": round(a.started_s, 2), "ms": round(a.latency_s * 1000, 1)}
            for a in sorted(answers, key=lambda a: -a.latency_s)[:5]
        ],
        "failures": [
            {"index": a.index, "key": a.key, "answer": a.label(), "detail": a.detail}
            for a in answers
            if a.status != 202
        ][:20],
        "cpu": cpu_figures,
        "prefect_server_cpu_ms_per_delivery": round(cpu_figures["cpu_s"]["prefect_server"] / len(sends) * 1000, 1),
        "esdl_serve_cpu_ms_per_delivery": round(cpu_figures["cpu_s"]["esdl_serve"] / len(sends) * 1000, 1),
        "sender_timeout_s": args.timeout,
        "prefect_retryable_503": locked,
    } | figures


def direct_flood(args: argparse.Namespace, api: Any, deployment_id: str, prefect: Any, db: Any) -> dict[str, Any]:
    """The same sends straight to Prefect (another deployment of the same flow), with Prefect's own client."""
    from _orchestrationbench.deliveries import CpuShares, account, latency_ms, prefect_flood, send_order
    from _orchestrationbench.prefect_api import log_size, retryable_since

    prefix = f"direct-{secrets.token_hex(3)}"
    keys = [f"{prefix}-{i:04d}" for i in range(args.keys)]
    sends = send_order(keys, args.deliveries, args.order, args.seed)
    pids = {"prefect_server": prefect.proc.pid, "postgres": db.postmaster_pid}
    prefect_log = prefect.home / "server.log"
    offset = log_size(prefect_log)
    cpu = CpuShares(pids).start()
    log(f"the same flood straight to Prefect with its client ({len(sends)} requests, {args.senders} senders)")
    answers, wall_s = prefect_flood(api.url, deployment_id, sends, args.senders)
    cpu_figures = cpu.stop()
    locked = retryable_since(prefect_log, offset)
    log(f"  done in {wall_s:.1f} s ({len(sends) / wall_s:.0f} requests/s)")
    runs = api.runs_of(deployment_id)
    figures = account(answers, keys, runs, "direct", ok=(200, 201))
    return {
        "requests": len(sends),
        "wall_s": round(wall_s, 2),
        "requests_per_s": round(len(sends) / wall_s, 1),
        "latency": latency_ms([a.latency_s for a in answers]),
        "status_counts": dict(sorted(Counter(a.label() for a in answers).items())),
        "failure_details": sorted({a.detail for a in answers if a.detail})[:5],
        "duplicate_runs": figures["duplicate_runs"],
        "lost": figures["lost_deliveries"],
        "cpu": cpu_figures,
        "prefect_server_cpu_ms_per_request": round(cpu_figures["cpu_s"]["prefect_server"] / len(sends) * 1000, 1),
        "prefect_retryable_503": locked,
    }


def webhook_to_running(
    args: argparse.Namespace,
    api: Any,
    server: Any,
    secret: str,
    worker: Any,
    prefect: Any,
    zygote: Any,
    cold: bool = False,
) -> dict[str, Any]:
    """One untimed delivery, then ``--runs`` timed ones (``--cold-runs`` with ``cold``: to the hook of the pool
    without warm starts), one at a time, to the hook the worker's pool runs."""
    from _orchestrationbench.deliveries import (
        RUN_COLD_HOOK,
        RUN_HOOK,
        WORKER_MARKS,
        CpuShares,
        to_running,
        worker_marks,
    )
    from _orchestrationbench.prefect_api import log_size, retryable_since
    from _orchestrationbench.warm import starts

    # the floor of a cold Pending -> Running: a fresh Python importing what a flow run process imports first
    imports = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import prefect.engine, prefect.flow_engine"], check=True)
        imports.append(time.perf_counter() - t0)
    log(f"a fresh Python imports prefect.engine and prefect.flow_engine in {median(imports)} s (median of 3)")

    hook, runs = (RUN_COLD_HOOK, args.cold_runs) if cold else (RUN_HOOK, args.runs)
    what = "without warm starts" if cold else "warm starts, as esdl up runs them"
    url = f"{server.base}/hooks/{hook}"
    prefix = f"run-{secrets.token_hex(3)}"
    first = to_running(api, url, secret.encode(), f"{prefix}-warmup")
    log(f"webhook to running ({what}), untimed first delivery: {first.to_running_s} s, {first.final_state}")
    measured = []
    pids = {
        "prefect_server": prefect.proc.pid,
        "esdl_serve": server.proc.pid,
        "worker": worker.proc.pid,
        "zygote": zygote.proc.pid,  # (a warm run's process is its child, not the worker's)
    }
    prefect_log = prefect.home / "server.log"
    offset = log_size(prefect_log)
    cpu = CpuShares(pids).start()
    for i in range(runs):
        m = to_running(api, url, secret.encode(), f"{prefix}-{i:02d}")
        shown = "-" if m.to_running_s is None else f"{m.to_running_s:.2f} s"
        log(f"  delivery {i + 1}/{runs}: RUNNING after {shown} ({m.final_state}) {m.error or ''}")
        measured.append(m)
    cpu_figures = cpu.stop()
    locked = retryable_since(prefect_log, offset)
    ok = [m.to_running_s for m in measured if m.to_running_s is not None]
    failed = len(measured) - len(ok)
    started = starts(zygote.log_tail(10**7), worker.log_tail(10**7), [m.run_id for m in measured if m.run_id])

    def gap(states: dict[str, float], a: str, b: str) -> float | None:
        return states[b] - states[a] if a in states and b in states else None

    parts = {
        "accept_s": [m.accept_s for m in measured if m.accept_s is not None],
        "sent_to_scheduled_s": [m.states["SCHEDULED"] for m in measured if "SCHEDULED" in m.states],
        "scheduled_to_pending_s": [g for m in measured if (g := gap(m.states, "SCHEDULED", "PENDING")) is not None],
        "pending_to_running_s": [g for m in measured if (g := gap(m.states, "PENDING", "RUNNING")) is not None],
        "running_to_completed_s": [g for m in measured if (g := gap(m.states, "RUNNING", "COMPLETED")) is not None],
    }
    # inside Pending -> Running, from the worker's log: the claim, the process started, Prefect imported in it
    # and the run read (its pull step begins), the pull step done, the flow loaded and the run set Running
    text = worker.log_path.read_text(encoding="utf-8", errors="replace")
    marks = [worker_marks(text, m.run_id, m.run_name) for m in measured if m.run_id and m.run_name]
    names = list(WORKER_MARKS)
    worker_parts = {
        f"{a}_to_{b}_s": [g for mk in marks if (g := gap(mk, a, b)) is not None] for a, b in itertools.pairwise(names)
    }
    return {
        "runs": len(measured),
        "p50_s": median(ok) if not failed else None,  # a run that never ran makes the median meaningless
        "max_s": round(max(ok), 3) if ok and not failed else None,
        "min_s": round(min(ok), 3) if ok else None,
        "not_running": failed,
        "final_states": dict(Counter(str(m.final_state) for m in measured)),
        "starts": started,
        "breakdown_p50_s": {k: median(v) for k, v in parts.items()},
        "prefect_import_s": median(imports),
        "worker_log_p50_s": {k: median(v) for k, v in worker_parts.items()},
        "first_delivery": first.as_dict(),
        "deliveries": [m.as_dict() for m in measured],
        "poll_s": 0.1,
        "sleep_s": args.sleep,
        "cpu": cpu_figures,
        "prefect_retryable_503": locked,
    }


def summarise(figures: dict[str, Any], args: argparse.Namespace, code: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, the targets and the verdicts, in front of the details."""
    acc, run = figures["acceptance"], figures["to_running"]
    head: dict[str, Any] = {
        "benchmark": "orchestration",
        "webhook_to_running_s_p50": run["p50_s"],
        "webhook_to_running_s_max": run["max_s"],
        "webhook_accept_p50_ms": acc["latency"]["p50_ms"],
        "webhook_accept_p99_ms": acc["latency"]["p99_ms"],
        "webhook_accept_max_ms": acc["latency"]["max_ms"],
        "status_counts": acc["status_counts"],
        "duplicate_runs": acc["duplicate_runs"],
        "lost_deliveries": acc["lost_deliveries"],
        "keys_without_run": acc["keys_without_run"],
        "unanswered_deliveries": sum(v for k, v in acc["status_counts"].items() if k.startswith("no answer")),
    }
    if "overhead" in figures:
        head["prefect_overhead"] = figures["overhead"]["prefect_overhead"]
    if "to_running_cold" in figures:
        head["webhook_to_running_cold_s_p50"] = figures["to_running_cold"]["p50_s"]
    if "prefect_direct" in figures:
        head["prefect_direct_p50_ms"] = figures["prefect_direct"]["latency"]["p50_ms"]
        head["prefect_direct_p99_ms"] = figures["prefect_direct"]["latency"]["p99_ms"]
    passed = {
        "webhook_to_running_s_p50": run["p50_s"] is not None and run["p50_s"] <= TARGETS["webhook_to_running_s_p50"],
        "webhook_accept_p99_ms": acc["latency"]["p99_ms"] is not None
        and acc["latency"]["p99_ms"] <= TARGETS["webhook_accept_p99_ms"],
        "duplicate_runs": acc["duplicate_runs"] == TARGETS["duplicate_runs"],
        "lost_deliveries": acc["lost_deliveries"] == TARGETS["lost_deliveries"],
    }
    if "overhead" in figures:
        passed["prefect_overhead"] = figures["overhead"]["prefect_overhead"] <= TARGETS["prefect_overhead"]
    settings = {
        "deliveries": args.deliveries,
        "senders": args.senders,
        "keys": args.keys,
        "order": args.order,
        "seed": args.seed,
        "runs": args.runs,
        "cold_runs": args.cold_runs,
        "sleep_s": args.sleep,
        "cores": os.cpu_count(),
    }
    return (
        head
        | {"targets": TARGETS, "passed": passed, "all_passed": all(passed.values())}
        | figures
        | {
            "settings": settings,
            "code": code,
        }
    )


def print_report(f: dict[str, Any]) -> None:
    """The figures for people."""
    ok = {True: "passed", False: "NOT passed"}
    p, acc, run = f["passed"], f["acceptance"], f["to_running"]
    lat = acc["latency"]

    def cpu_line(cpu: dict[str, Any]) -> str:
        return (
            f"    CPU seconds ({cpu['wall_s']} s wall x {cpu['cores']} cores): "
            + ", ".join(f"{k} {v}" for k, v in cpu["cpu_s"].items())
            + f"; the machine {cpu['machine_busy_frac']:.0%} busy"
        )

    def running_lines(run: dict[str, Any], what: str) -> list[str]:
        b, w = run["breakdown_p50_s"], run["worker_log_p50_s"]
        return [
            f"  webhook to running, {what} ({run['runs']} deliveries one at a time, trivial flow sleeping "
            f"{run['sleep_s']:g} s, process worker polling every "
            f"{run['worker_settings']['PREFECT_WORKER_QUERY_SECONDS']} s): p50 {run['p50_s']} s, min {run['min_s']} s, "
            f"max {run['max_s']} s; not running {run['not_running']}; final states {run['final_states']}; "
            f"started warm {run['starts']['warm']}, cold {run['starts']['cold']} "
            f"{run['starts'].get('cold_reasons', '')}",
            "    each (s): " + ", ".join(str(d["to_running_s"]) for d in run["deliveries"]),
            f"    medians: 202 after {b['accept_s']} s; the run Scheduled (server's clock) {b['sent_to_scheduled_s']} "
            f"s after sending; Scheduled -> Pending (the worker claims it) {b['scheduled_to_pending_s']} s; "
            f"Pending -> Running {b['pending_to_running_s']} s; Running -> Completed {b['running_to_completed_s']} s",
            "    inside, from the worker's log (medians, s): "
            + ", ".join(f"{k.removesuffix('_s').replace('_to_', ' -> ')} {v}" for k, v in w.items())
            + f"; a fresh Python imports prefect.engine in {run['prefect_import_s']} s",
            f"    untimed first delivery: {run['first_delivery']['to_running_s']} s; Prefect's retryable 503s "
            f"meanwhile: {run['prefect_retryable_503']['count']}",
            cpu_line(run["cpu"]),
            "",
        ]

    lines = [
        "",
        f"Signed webhooks against a real Prefect server ({f['settings']['cores']} cores; Prefect's database "
        f"{f['prefect_database']}; esdl serve --hooks on a {f['database']})",
        "",
        *running_lines(run, "warm starts as esdl up runs them"),
        *(running_lines(f["to_running_cold"], "for comparison without warm starts") if "to_running_cold" in f else []),
        f"  acceptance: {acc['deliveries']} deliveries, {acc['keys']} keys, {acc['senders']} senders "
        f"({acc['order']}), {acc['wall_s']} s, {acc['deliveries_per_s']} deliveries/s; no worker",
        f"    latency: p50 {lat['p50_ms']} ms, p90 {lat['p90_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms, "
        f"mean {lat['mean_ms']} ms",
        f"    p50 by tenth of the flood (ms): {acc['latency_p50_ms_by_tenth']}",
        f"    answers: {acc['status_counts']}; duplicate:true {acc['answers_duplicate_true']}, "
        f"duplicate:false {acc['answers_duplicate_false']} (keys answered 'new' twice: "
        f"{acc['keys_answered_new_more_than_once']})",
        f"    Prefect holds {acc['runs']} runs for {acc['keys_with_run']} keys: "
        f"duplicate runs {acc['duplicate_runs']}, keys without a run {acc['keys_without_run']}, "
        f"answers naming another run {acc['mismatched_run_ids']}, non-202 {acc['non_202']}",
        f"    Prefect answered 503 (a retryable error: {acc['prefect_retryable_503']['causes']}) "
        f"{acc['prefect_retryable_503']['count']} times; its client in esdl serve retries those after a back-off",
        cpu_line(acc["cpu"]),
        f"    per delivery: Prefect server {acc['prefect_server_cpu_ms_per_delivery']} ms of CPU, esdl serve "
        f"{acc['esdl_serve_cpu_ms_per_delivery']} ms; a sender gives up after {acc['sender_timeout_s']:g} s",
        f"    warm-up deliveries (untimed): {acc['warmup_ms']} ms",
    ]
    for fail in acc["failures"][:5]:
        lines.append(f"    failed: {fail}")
    if "prefect_direct" in f:
        d = f["prefect_direct"]
        dl = d["latency"]
        lines += [
            "  the same flood straight to Prefect's create_flow_run, with Prefect's client: "
            f"p50 {dl['p50_ms']} ms, p99 {dl['p99_ms']} ms, "
            f"max {dl['max_ms']} ms, {d['requests_per_s']} requests/s; answers {d['status_counts']}; "
            f"duplicate runs {d['duplicate_runs']}, lost {d['lost']}; Prefect's retryable 503s "
            f"{d['prefect_retryable_503']['count']} ({d['prefect_retryable_503']['causes']}); "
            f"other failures {d['failure_details'][:2]}",
            cpu_line(d["cpu"]),
            f"    per request: Prefect server {d['prefect_server_cpu_ms_per_request']} ms of CPU",
        ]
    if "overhead" in f:
        o = f["overhead"]
        lines += [
            f"  prefect_overhead {o['prefect_overhead']} ({ok[p['prefect_overhead']]}): the build-cube deployment's "
            f"run {o['deployment_run_s']} s (start to end) against the same library calls {o['library_s']} s "
            f"(medians of {o['rounds']} rounds: {o['walls_s']}; {o['input_mb']} MB of input, cluster {o['cluster']})",
        ]
    lines += [
        f"  esdl serve log: {f['esdl_serve_log']['tracebacks']} tracebacks, alive at the end "
        f"{f['esdl_serve_alive_at_end']}",
    ]
    busy = max(
        c["cpu_s"]["other"] / (c["wall_s"] * c["cores"])
        for c in [run["cpu"], acc["cpu"]] + [f[k]["cpu"] for k in ("to_running_cold", "prefect_direct") if k in f]
    )
    if busy > BUSY_WARNING:
        lines.append(
            f"  WARNING: other programs used up to {busy:.0%} of the machine's CPU during a phase: the latencies "
            "are noisy; run again on a quiet machine"
        )
    lines += [
        "",
        f"  webhook_to_running_s_p50  {f['webhook_to_running_s_p50']}  (target <= "
        f"{TARGETS['webhook_to_running_s_p50']:g}: {ok[p['webhook_to_running_s_p50']]})"
        + (f"; without warm starts {f['webhook_to_running_cold_s_p50']}" if "to_running_cold" in f else ""),
        f"  webhook_accept_p99_ms     {f['webhook_accept_p99_ms']}  (target <= "
        f"{TARGETS['webhook_accept_p99_ms']:g}: {ok[p['webhook_accept_p99_ms']]})",
        f"  duplicate_runs            {f['duplicate_runs']}  (target 0: {ok[p['duplicate_runs']]})",
        f"  lost_deliveries           {f['lost_deliveries']}  (target 0: {ok[p['lost_deliveries']]})",
        "",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the report and the JSON line."""
    args = parse_args(argv)
    # a SIGTERM unwinds like an error: every process started is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esdl-orchestration-bench-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    code = code_version()
    try:
        figures = summarise(run_benchmark(args, workdir), args, code)
    except Exception as err:
        traceback.print_exc()
        print(json.dumps({"benchmark": "orchestration", "error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["total_s"] = round(time.perf_counter() - t0, 1)
    print_report(figures)
    print(json.dumps(figures, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
