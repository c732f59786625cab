"""Signed deliveries: the hooks file, ``esdl serve --hooks`` (the real server, :class:`_hostilebench.server.Server`
with the hooks file), signing (HMAC-SHA256 over ``t.body``, written here from the scheme, not taken from
``esdl.api.hooks``: a sender is another party), the concurrent senders, the one-at-a-time webhook-to-running
measurement, and the CPU each process used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml
from _hostilebench.server import Server

SECRET_ENV = "ESDL_BENCH_HOOK_SECRET"
ACCEPT_HOOK = "bench-accept"
RUN_HOOK = "bench-run"
RUN_COLD_HOOK = "bench-run-cold"
BARRIER_S = 120.0  # the longest wait for every sender to be ready (a broken start raises, it does not hang)


def write_hooks(
    path: Path, accept_deployment: str, run_deployment: str, sleep_s: float, cold_deployment: str | None = None
) -> None:
    """The hooks file: ``bench-accept`` (the build-cube deployment nobody runs), ``bench-run`` (the trivial flow
    the worker runs, warm) and ``bench-run-cold`` (the same flow in the pool without warm starts); all map the
    body's ``/spec`` and ``/resume`` to the parameters ``spec`` and ``resume``; the secret from
    :data:`SECRET_ENV`."""
    common = {"secret": {"env": SECRET_ENV}, "parameters": {"spec": "/spec", "resume": "/resume"}}
    runs = {"run": run_deployment} | ({"run-cold": cold_deployment} if cold_deployment else {})
    config = {
        "tolerance_s": 300,
        "hooks": {
            ACCEPT_HOOK: {"deployment": accept_deployment, **common, "description": "acceptance: runs stay scheduled"},
            **{
                f"bench-{name}": {
                    "deployment": deployment,
                    **common,
                    "defaults": {"seconds": sleep_s},
                    "description": "webhook to running: a process worker polls this pool",
                }
                for name, deployment in runs.items()
            },
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


class HooksServer(Server):
    """``esdl serve --hooks FILE`` (started and stopped as :class:`_hostilebench.server.Server` does: it waits for
    ``/sparql`` to answer, so the database is up and the read-only role set)."""

    def __init__(self, url: str, hooks_file: Path, workdir: Path, extra_env: dict[str, str]) -> None:
        super().__init__(url, {}, workdir, extra_env=extra_env)
        self.hooks_file = hooks_file

    @property
    def command(self) -> list[str]:
        return [*super().command, "--hooks", str(self.hooks_file)]


def signature(secret: bytes, body: bytes, t: int | None = None) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>``."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1={hmac.new(secret, f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def body_of(key: str) -> bytes:
    """The body a delivery of ``key`` carries (every send of a key the same, as a retry is)."""
    return json.dumps({"spec": f"cubes/specs/{key}.yaml", "resume": True}).encode()


@dataclass
class Answer:
    """One send: its key, when it started (seconds from the flood's start), how long it took, what came back."""

    index: int
    key: str
    started_s: float
    latency_s: float
    status: int | None
    flow_run_id: str | None = None
    duplicate: bool | None = None
    error: str | None = None
    detail: str = ""  # an exception's message

    def label(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return str(self.status) if self.status == 202 else f"{self.status} {self.error or ''}".strip()


def deliver(session: requests.Session, url: str, secret: bytes, key: str, timeout_s: float = 30.0) -> Answer:
    """One signed delivery of ``key`` to ``url`` (signed just before it is timed)."""
    body = body_of(key)
    headers = {
        "Content-Type": "application/json",
        "X-Esdl-Signature": signature(secret, body),
        "Idempotency-Key": key,
    }
    t0 = time.perf_counter()
    try:
        r = session.post(url, data=body, headers=headers, timeout=timeout_s)
    except requests.Timeout:
        return Answer(-1, key, t0, time.perf_counter() - t0, None, error="timeout")
    except requests.RequestException as err:
        return Answer(-1, key, t0, time.perf_counter() - t0, None, error=type(err).__name__, detail=str(err)[:300])
    took = time.perf_counter() - t0
    try:
        data = r.json()
    except ValueError:
        data = {}
    if r.status_code == 202:
        return Answer(-1, key, t0, took, 202, str(data.get("flow_run_id")), bool(data.get("duplicate")))
    return Answer(-1, key, t0, took, r.status_code, error=f"{data.get('error')}: {str(data.get('message'))[:200]}")


def send_order(keys: list[str], deliveries: int, order: str, seed: int = 0) -> list[str]:
    """The keys of ``deliveries`` sends over ``keys`` (each about ``deliveries / len(keys)`` times) in ``order``:
    ``grouped`` (a key's sends one after another: the senders race one another with them), ``rounds`` (every
    key once, then every key again, ...), ``shuffled`` (a seeded random order of the same sends)."""
    sends = [keys[i % len(keys)] for i in range(deliveries)]  # rounds
    if order == "grouped":
        sends.sort(key=keys.index)
    elif order == "shuffled":
        random.Random(seed).shuffle(sends)
    return sends


def prefect_flood(api_url: str, deployment_id: str, sends: list[str], senders: int) -> tuple[list[Answer], float]:
    """For comparison, what the flood asks of Prefect without ``esdl serve``: each send is the request a delivery
    of its key makes esdl serve send (``POST /deployments/{id}/create_flow_run`` with the body's parameters, a
    Scheduled state, tags, the key as idempotency key and ``enforce_parameter_schema: false``, esdl serve having
    checked them), sent the same way, with Prefect's own client (its
    retries of 503s included), from ``senders`` threads, each with its own client and event loop. An answer's
    status is Prefect's: 201 a new run, 200 the run of an earlier send of its key."""
    import asyncio

    from prefect.client.orchestration import PrefectClient
    from prefect.exceptions import PrefectHTTPStatusError

    lock = threading.Lock()
    answers: list[Answer] = []
    position = iter(range(len(sends)))
    start = threading.Barrier(senders + 1)
    t_start = 0.0

    async def one(client: Any, i: int) -> Answer:
        key = sends[i]
        payload = {
            "parameters": json.loads(body_of(key)),
            "state": {"type": "SCHEDULED"},
            "tags": ["webhook", "hook:direct"],
            "idempotency_key": f"hook:direct:key:{key}",
            "enforce_parameter_schema": False,
        }
        t0 = time.perf_counter()
        try:
            r = await client.request(
                "POST", "/deployments/{id}/create_flow_run", path_params={"id": deployment_id}, json=payload
            )
        except PrefectHTTPStatusError as err:
            status = err.response.status_code
            return Answer(i, key, t0 - t_start, time.perf_counter() - t0, status, error=err.response.text[:200])
        except Exception as err:
            took = time.perf_counter() - t0
            return Answer(i, key, t0 - t_start, took, None, error=type(err).__name__, detail=str(err)[:300])
        took = time.perf_counter() - t0
        return Answer(i, key, t0 - t_start, took, r.status_code, str(r.json()["id"]), r.status_code == 200)

    async def loop() -> None:
        async with PrefectClient(api_url) as client:
            try:
                await client.hello()  # the connection, untimed
            except Exception:  # a warm-up only: the timed requests will tell
                pass
            start.wait(BARRIER_S)
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                a = await one(client, i)
                with lock:
                    answers.append(a)

    threads = [threading.Thread(target=lambda: asyncio.run(loop()), name=f"prefect-{k}") for k in range(senders)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    start.wait(BARRIER_S)
    for t in threads:
        t.join()
    return sorted(answers, key=lambda a: a.index), time.perf_counter() - t_start


def flood(
    url: str,
    secret: bytes,
    sends: list[str],
    senders: int,
    send: Callable[..., Answer] = deliver,
    warm_url: str | None = None,
    timeout_s: float = 30.0,
) -> tuple[list[Answer], float]:
    """``sends`` from ``senders`` threads at once, each with a ``requests.Session`` of its own, taking the next
    send as soon as its last answered (or ``timeout_s`` passed without an answer: a sender gives up, as a webhook
    sender does); every answer, and the wall time of the whole flood. Each sender first opens its connection
    with an untimed ``GET warm_url``."""
    lock = threading.Lock()
    answers: list[Answer] = []
    position = iter(range(len(sends)))
    start = threading.Barrier(senders + 1)
    t_start = 0.0

    def sender() -> None:
        with requests.Session() as session:
            if warm_url is not None:  # no timed send pays for opening a connection
                try:
                    session.get(warm_url, timeout=10)
                except requests.RequestException:  # a warm-up only: the timed sends will tell
                    pass
            start.wait(BARRIER_S)
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                a = send(session, url, secret, sends[i], timeout_s)
                a.index, a.started_s = i, a.started_s - t_start
                with lock:
                    answers.append(a)

    threads = [threading.Thread(target=sender, name=f"sender-{k}") for k in range(senders)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    start.wait(BARRIER_S)
    for t in threads:
        t.join()
    return sorted(answers, key=lambda a: a.index), time.perf_counter() - t_start


def nearest_rank(values: list[float], p: float) -> float | None:
    """The ``p``-th percentile by nearest rank (the smallest value with at least p % of values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_ms(values_s: list[float]) -> dict[str, Any]:
    """p50, p90, p99 (nearest rank), max and mean of latencies in seconds, in milliseconds."""

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "n": len(values_s),
        "p50_ms": ms(nearest_rank(values_s, 50)),
        "p90_ms": ms(nearest_rank(values_s, 90)),
        "p99_ms": ms(nearest_rank(values_s, 99)),
        "max_ms": ms(max(values_s, default=None)),
        "mean_ms": ms(sum(values_s) / len(values_s) if values_s else None),
    }


def account(
    answers: list[Answer], keys: list[str], runs: list[dict[str, Any]], hook: str, ok: tuple[int, ...] = (202,)
) -> dict[str, Any]:
    """What a flood's answers and the deployment's runs add up to.

    ``duplicate_runs``: runs beyond one per key (runs whose idempotency key is none of the flood's count as
    duplicates too). ``lost_deliveries``: keys with no run + 202 answers whose ``flow_run_id`` is not the key's
    run (the one run Prefect holds for it, or, with none, the first id answered for the key) + non-202 answers
    (``ok``: the statuses of an accepted send).
    """
    prefix = f"hook:{hook}:key:"
    wanted = set(keys)
    by_key: dict[str, list[str]] = {}
    strays = 0
    for run in runs:
        ikey = run.get("idempotency_key") or ""
        key = ikey[len(prefix) :] if ikey.startswith(prefix) else None
        if key in wanted:
            by_key.setdefault(key, []).append(str(run["id"]))
        else:
            strays += 1
    duplicate_runs = sum(len(ids) - 1 for ids in by_key.values()) + strays
    keys_without_run = sorted(wanted - by_key.keys())
    answered: dict[str, str] = {}
    mismatched = 0
    new_by_key: Counter[str] = Counter()
    for a in answers:
        if a.status not in ok:
            continue
        expected = (
            by_key[a.key][0] if len(by_key.get(a.key, ())) == 1 else answered.setdefault(a.key, a.flow_run_id or "")
        )
        if a.flow_run_id != expected:
            mismatched += 1
        if a.duplicate is False:
            new_by_key[a.key] += 1
    non_202 = sum(a.status not in ok for a in answers)
    return {
        "runs": len(runs),
        "keys_with_run": len(by_key),
        "duplicate_runs": duplicate_runs,
        "stray_runs": strays,
        "keys_without_run": len(keys_without_run),
        "keys_without_run_samples": keys_without_run[:10],
        "mismatched_run_ids": mismatched,
        "non_202": non_202,
        "lost_deliveries": len(keys_without_run) + mismatched + non_202,
        "answers_duplicate_false": sum(new_by_key.values()),
        "keys_answered_new_more_than_once": sum(n > 1 for n in new_by_key.values()),
    }


@dataclass
class ToRunning:
    """One delivery of the webhook-to-running measurement."""

    key: str
    run_id: str | None = None
    run_name: str | None = None
    accept_s: float | None = None  # the 202's latency
    to_running_s: float | None = None  # send -> the run seen RUNNING (polled every 0.1 s)
    final_state: str | None = None
    states: dict[str, float] = field(default_factory=dict)  # server's state times - send time
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "key": self.key,
            "run": self.run_name,
            "accept_s": r(self.accept_s),
            "to_running_s": r(self.to_running_s),
            "final_state": self.final_state,
            "states_s": {k: r(v) for k, v in self.states.items()},
            "error": self.error,
        }


def to_running(
    api: Any,
    url: str,
    secret: bytes,
    key: str,
    poll_s: float = 0.1,
    timeout_s: float = 60.0,
    finish_timeout_s: float = 60.0,
) -> ToRunning:
    """Send one delivery, then read its run every ``poll_s`` until it is RUNNING; wait for it to finish (so that
    the next delivery does not share the machine with it) and read the server's times of its states."""
    out = ToRunning(key)
    sent_wall = time.time()
    t0 = time.perf_counter()
    with requests.Session() as session:
        a = deliver(session, url, secret, key)
    out.accept_s = a.latency_s
    if a.status != 202 or not a.flow_run_id:
        out.error = a.label()
        return out
    run_id = a.flow_run_id
    deadline = t0 + timeout_s
    out.run_id = run_id
    state = None
    while time.perf_counter() < deadline:
        run = api.run(run_id)
        state, out.run_name = run.get("state_type"), run.get("name")
        if state == "RUNNING" or state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            if state == "RUNNING":
                out.to_running_s = time.perf_counter() - t0
            break
        time.sleep(poll_s)
    if out.to_running_s is None:
        out.error = f"not seen RUNNING within {timeout_s:g} s (last state {state})"
    finish = time.perf_counter() + finish_timeout_s
    while state not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") and time.perf_counter() < finish:
        time.sleep(0.2)
        state = api.run(run_id).get("state_type")
    out.final_state = state
    out.states = {k: v - sent_wall for k, v in api.state_times(run_id).items()}
    return out


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds of a process, its waited-for children and its live descendants (0 when gone)."""
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return float(total)
    except psutil.Error:
        return 0.0


def machine_busy_s() -> float:
    values = psutil.cpu_times()._asdict()
    return float(sum(v for k, v in values.items() if k not in ("idle", "iowait", "steal", "guest", "guest_nice")))


class CpuShares:
    """CPU seconds of named process trees between :meth:`start` and :meth:`stop`, of this process (``benchmark``:
    the senders) and of the rest of the machine (``other``)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._start: tuple[float, float, dict[str, float]] | None = None

    def _read(self) -> tuple[float, float, dict[str, float]]:
        trees = {k: tree_cpu_s(p) for k, p in self.pids.items()}
        own = psutil.Process().cpu_times()  # the senders: this process alone, not the servers it started
        return time.monotonic(), machine_busy_s(), trees | {"benchmark": own.user + own.system}

    def start(self) -> CpuShares:
        self._start = self._read()
        return self

    def stop(self) -> dict[str, Any]:
        assert self._start is not None
        t1, busy1, tree1 = self._read()
        t0, busy0, tree0 = self._start
        wall = max(t1 - t0, 1e-9)
        cores = psutil.cpu_count() or 1
        used = {k: round(tree1[k] - tree0[k], 2) for k in tree1}
        other = max(0.0, (busy1 - busy0) - sum(used.values()))
        return {
            "wall_s": round(wall, 2),
            "cores": cores,
            "cpu_s": used | {"other": round(other, 2)},
            "machine_busy_frac": round((busy1 - busy0) / (wall * cores), 3),
        }


WORKER_MARKS = {  # what the worker's log (its own lines and its flow run processes') says, in order
    "claimed": "submitting flow run '{id}'",
    "process_started": "Flow run '{name}' submitted to infrastructure",
    "engine_ready": "Flow run '{name}' - Running",  # ... deployment pull step(s): Prefect imported, the run read
    "pulled": "Flow run '{name}' - All deployment steps completed",
    "running": "Flow run '{name}' - Beginning flow run",
}


def worker_marks(log_text: str, run_id: str, run_name: str) -> dict[str, float]:
    """The times (seconds of the day, the log's clock) at which the worker's log shows each of
    :data:`WORKER_MARKS` for one run; the first line of each."""
    out: dict[str, float] = {}
    for line in log_text.splitlines():
        for mark, pattern in WORKER_MARKS.items():
            if mark not in out and pattern.format(id=run_id, name=run_name) in line:
                stamp = line.split(" ", 1)[0]
                try:
                    h, m, sec = stamp.split(":")
                    out[mark] = int(h) * 3600 + int(m) * 60 + float(sec)
                except ValueError:
                    pass
    return out
