"""What the autoscaler reads from, and does in, the scheduler: functions run there through
``Client.run_on_scheduler`` (in the scheduler's event loop, so its state is consistent while they read it), and the
conversion of what they return into a :class:`~cubes.scaleout.policy.Snapshot`. No Prefect here.

The functions return and take plain data only, so they work on a remote scheduler (Kubernetes) as well as on the
local backend's in-process one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from cubes.errors import ResourceUnavailableError
from cubes.scaleout.policy import Snapshot, Waiting, WorkerView

MAX_KEYS = 1000
"""At most this many keys of one requirement's waiting tasks are read per look (enough to fail them in rounds)."""


class _QuietLooks(logging.Filter):
    """Drops the scheduler's INFO line about each look (one a second would drown its log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "out-of-band function 'scheduler_state'" not in record.getMessage()


_QUIET = _QuietLooks()


def _requirement(ts: Any) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(k), float(v)) for k, v in (ts.resource_restrictions or {}).items()))


def scheduler_state(dask_scheduler: Any) -> dict[str, Any]:
    """Run on the scheduler: its workers' load and held bytes, unrunnable tasks by requirement, the queue length."""
    logging.getLogger("distributed.worker").addFilter(_QUIET)  # idempotent: a filter is added once
    now = time.monotonic()
    workers = []
    for ws in dask_scheduler.workers.values():
        load = 0.0
        for ts in ws.processing:
            share = 1.0 / max(ws.nthreads, 1)
            for name, need in (ts.resource_restrictions or {}).items():
                have = ws.resources.get(name, 0.0)
                if need > 0 and have > 0:
                    share = max(share, need / have)  # resource-bound: fewer at once than threads
            load += share
        workers.append({"name": str(ws.name), "address": ws.address, "load": load, "nbytes": int(ws.nbytes)})
    waiting: dict[tuple[tuple[str, float], ...], dict[str, Any]] = {}
    for ts, since in dask_scheduler.unrunnable.items():
        req = _requirement(ts)
        entry = waiting.setdefault(req, {"requirement": req, "count": 0, "oldest_s": 0.0, "keys": []})
        entry["count"] += 1
        entry["oldest_s"] = max(entry["oldest_s"], now - since)
        if len(entry["keys"]) < MAX_KEYS:
            entry["keys"].append(ts.key)
    return {"workers": workers, "waiting": list(waiting.values()), "queued": len(dask_scheduler.queued)}


def fail_tasks(dask_scheduler: Any, keys: list[Any], message: str) -> int:
    """Run on the scheduler: fail the still-unrunnable tasks among ``keys`` with :class:`ResourceUnavailableError`.

    Their dependents fail with them and the client's futures raise the error, so a computation waiting for a
    resource that never comes ends instead of hanging.
    """
    from distributed.protocol import pickle

    error = pickle.dumps(ResourceUnavailableError(message))
    stimulus = f"esdl-resource-unavailable-{time.time()}"
    recommendations: dict[Any, Any] = {}
    failed = 0
    for key in keys:
        ts = dask_scheduler.tasks.get(key)
        if ts is None or ts not in dask_scheduler.unrunnable:
            continue
        recommendations.update(
            dask_scheduler.transition(key, "erred", exception=error, cause=key, stimulus_id=stimulus)
        )
        failed += 1
    dask_scheduler.transitions(recommendations, stimulus_id=stimulus)
    return failed


def snapshot(
    state: Mapping[str, Any], sizes: Mapping[str, int], group_of: Callable[[str], str | None], now: float
) -> Snapshot:
    """The policy's :class:`Snapshot` from :func:`scheduler_state`'s answer and the backend's sizes and names."""
    return Snapshot(
        time=now,
        sizes=dict(sizes),
        workers=tuple(
            WorkerView(w["name"], w["address"], group_of(w["name"]), w["load"], w["nbytes"]) for w in state["workers"]
        ),
        waiting=tuple(
            Waiting(tuple((str(k), float(v)) for k, v in w["requirement"]), w["count"], w["oldest_s"], tuple(w["keys"]))
            for w in state["waiting"]
        ),
        queued=state["queued"],
    )
