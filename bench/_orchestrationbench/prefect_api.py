"""The Prefect side: its REST API (plain HTTP with ``requests``, so that no Prefect client settings or event loop
of this process are involved), the work pools and deployments of the benchmark, the runs of a deployment, and a
real process worker (``prefect worker start --type process``, the ``prefect`` beside this interpreter).

The server itself is :class:`_cubebench.procs.PrefectServer` (``prefect server start`` with its own
``PREFECT_HOME``, analytics off, stopped with its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

PREFECT = str(Path(sys.executable).parent / "prefect")
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
PAGE = 200  # the API's default (and largest usual) page of flow runs


def unix_seconds(stamp: str) -> float:
    """A time stamp of the Prefect API (ISO 8601, ``Z`` or an offset) in Unix seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class PrefectApi:
    """``requests`` against ``api_url`` (``http://127.0.0.1:PORT/api``), one session per instance (not shared
    between threads)."""

    def __init__(self, api_url: str, timeout_s: float = 30.0) -> None:
        self.url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def call(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        """The JSON answer of ``method path``; a 503 (the server's answer to a retryable error, SQLite's
        ``database is locked`` among them) is retried after a back-off, up to 8 times, as Prefect's client does.

        Raises:
            RuntimeError: Another status (the body in the message).
        """
        for attempt in range(9):
            r = self.session.request(method, f"{self.url}{path}", json=json, timeout=self.timeout_s)
            if r.status_code != 503:
                break
            time.sleep(min(5.0, 0.2 * 2**attempt))
        if r.status_code not in ok:
            raise RuntimeError(f"Prefect API {method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def create_pool(self, name: str, template: dict[str, Any] | None = None) -> None:
        """A process work pool with ``template``, or Prefect's default job template for it."""
        from prefect.workers.process import ProcessWorker

        template = template or ProcessWorker.get_default_base_job_template()
        self.call("POST", "/work_pools/", {"name": name, "type": "process", "base_job_template": template})

    def create_deployment(
        self,
        flow_name: str,
        name: str,
        pool: str,
        schema: dict[str, Any],
        entrypoint: str | None = None,
        working_dir: Path | None = None,
    ) -> str:
        """A deployment (its id) of the flow named ``flow_name`` in ``pool``, its parameter schema enforced; with
        ``working_dir``, the flow run's process changes there first (a ``set_working_directory`` pull step), so
        that ``entrypoint`` is found relative to it and nothing is copied."""
        flow_id = self.call("POST", "/flows/", {"name": flow_name})["id"]
        body: dict[str, Any] = {
            "name": name,
            "flow_id": flow_id,
            "work_pool_name": pool,
            "parameter_openapi_schema": schema,
            "enforce_parameter_schema": True,
            "entrypoint": entrypoint,
        }
        if working_dir is not None:
            directory = str(working_dir)
            body["pull_steps"] = [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}]
            body["job_variables"] = {"working_dir": directory}
        return str(self.call("POST", "/deployments/", body)["id"])

    def runs_of(self, deployment_id: str) -> list[dict[str, Any]]:
        """Every flow run of a deployment (paged)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.call(
                "POST",
                "/flow_runs/filter",
                {
                    "deployments": {"id": {"any_": [deployment_id]}},
                    "sort": "EXPECTED_START_TIME_ASC",
                    "limit": PAGE,
                    "offset": len(out),
                },
            )
            out += page
            if len(page) < PAGE:
                return out

    def count_runs(self, deployment_id: str) -> int:
        return int(self.call("POST", "/flow_runs/count", {"deployments": {"id": {"any_": [deployment_id]}}}))

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/flow_runs/{run_id}"))

    def state_times(self, run_id: str) -> dict[str, float]:
        """The server's time (Unix seconds) of each state type the run went through (the first of each)."""
        out: dict[str, float] = {}
        for state in self.call("GET", f"/flow_run_states/?flow_run_id={run_id}"):
            stamp = unix_seconds(state["timestamp"])
            out.setdefault(state["type"], stamp)
        return out

    def workers(self, pool: str) -> list[dict[str, Any]]:
        return list(self.call("POST", f"/work_pools/{pool}/workers/filter", {}))


class Worker:
    """``prefect worker start --pool POOL --type process`` in ``cwd`` (the repository root: the trivial flow's
    entrypoint is relative to it), polling every ``query_s``, in a session of its own so that it and the flow run
    processes it starts are stopped together; its output in ``log_path``."""

    def __init__(
        self,
        pool: str,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        query_s: float = 1.0,
        prefetch_s: float | None = None,
    ) -> None:
        self.pool = pool
        self.cwd = cwd
        self.log_path = log_path
        self.env = {
            **os.environ,
            **env,
            "PREFECT_WORKER_QUERY_SECONDS": f"{query_s:g}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        if prefetch_s is not None:  # (esdl up leaves Prefect's default)
            self.env["PREFECT_WORKER_PREFETCH_SECONDS"] = f"{prefetch_s:g}"
        self.settings = {
            k: self.env.get(k, "default") for k in ("PREFECT_WORKER_QUERY_SECONDS", "PREFECT_WORKER_PREFETCH_SECONDS")
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [PREFECT, "worker", "start", "--pool", self.pool, "--type", "process", "--name", "esdl-bench-worker"]

    def start(self, api: PrefectApi, timeout_s: float = 120.0, log: Callable[[str], None] = print) -> float:
        """Start it and wait until it has registered with its pool; the seconds that took.

        Raises:
            RuntimeError: It exited, or did not register in time (the log's tail in the message).
        """
        t0 = time.perf_counter()
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}: {self.log_tail()}")
            if api.workers(self.pool):
                took = time.perf_counter() - t0
                log(f"process worker polling pool {self.pool} after {took:.1f} s")
                return took
            time.sleep(0.5)
        raise RuntimeError(f"the worker did not register in {timeout_s:.0f} s: {self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM to its process group (it and its flow run processes), SIGKILL after 20 s; its exit status."""
        if self.proc is None:
            return None
        pgid = self.proc.pid  # its own session: the group's id is its id (flow run processes may outlive it)
        _signal_group(pgid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            self.proc.wait(20)
        time.sleep(0.5)
        _signal_group(pgid, signal.SIGKILL)  # whatever of the group is left
        return self.proc.returncode

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


RETRYABLE = "Encountered retryable exception in request"  # with PREFECT_API_LOG_RETRYABLE_ERRORS=true


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def retryable_since(path: Path, offset: int) -> dict[str, Any]:
    """How many times the Prefect server answered 503 for a retryable error (SQLite's ``database is locked``, a
    lost database connection) since ``offset`` of its log, and the exceptions' last lines, counted."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {"count": 0, "causes": {}}
    causes: Counter[str] = Counter()
    count = 0
    for i, line in enumerate(lines):
        if RETRYABLE in line:
            count += 1
            # the traceback's last line: the first unindented line after it that names an exception
            for later in lines[i + 1 : i + 400]:
                if later and not later.startswith((" ", "Traceback", "The above", "During handling")):
                    causes[later.strip()[:120]] += 1
                    break
    return {"count": count, "causes": dict(causes.most_common(5))}
