"""The autoscaler of worker groups (cubes.scaleout) on the local backend, and against dask's own ``adapt()``.

    .venv/bin/python bench/autoscale.py [--cold-rounds 3] [--idle-timeout 5] [--burst-idle-timeout 2]

- ``gpu_group_cold_start_s``: a GPU task (``resources={"GPU": 1}``) submitted with the ``gpu`` group at 0 →
  the task running (its own clock at its first line), on the ``local-gpu`` profile with the CPU fallback (no
  device needed); the median of ``--cold-rounds``. Target ≤ 10 s.
- ``scale_to_zero_s``: the GPU task's end (the group idle from then on) → its worker process gone; the median of
  the same rounds. Target ≤ the group's idle timeout (``--idle-timeout``) + 5 s. The profile is ``local-gpu`` with
  that idle timeout and a 2 s scale-down cooldown (its default 10 s would bind before a 5 s idle timeout).
- ``wasted_worker_s``: a scripted bursty workload (bursts of 1 s sleeping tasks and pauses, :data:`BURSTS`) on
  one group of 0-4 single-thread workers, run by our autoscaler and by ``distributed``'s ``Adaptive``
  (``cluster.adapt(minimum=0, maximum=4)``, its defaults) on the same worker processes (the local backend's
  way of starting them, :func:`cubes.scaleout.worker.start_worker`). Worker-seconds are the time integral of the
  number of live worker processes (sampled every 50 ms from ``/proc``, the same way for both),
  from the first submission until every worker has gone; wasted worker-seconds are those minus the seconds the
  tasks ran (equal in both). Also the makespan (first submission → last result). Target: ours ≤ 0.7x adapt's
  wasted worker-seconds with the same or lower makespan.

The two bursty runs alternate (ours first in odd rounds, ``--burst-rounds``); figures are per run and the ratio of
their sums. The machine may be loaded by other work: the load average before and after is printed.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BURSTS: list[tuple[int, float]] = [(12, 3.0), (4, 8.0), (16, 2.0), (8, 10.0), (12, 5.0), (6, 0.0)]
"""(tasks of 1 s, then a pause in seconds) for the bursty workload."""

TASK_S = 1.0
MAX_WORKERS = 4


def timed(seconds: float, _i: int) -> tuple[float, float]:
    """A task: its start and end (wall clock) around ``seconds`` of sleep."""
    t0 = time.time()
    time.sleep(seconds)
    return t0, time.time()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (exists and is not a zombie), from ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Sampler:
    """Integrates the number of live worker processes over time in a thread (worker-seconds).

    ``pids`` returns the worker processes started so far (the dead ones may be left out once gone); each is
    checked in ``/proc``, the same way for both autoscalers.
    """

    def __init__(self, pids: Callable[[], Iterable[int]], step_s: float = 0.05) -> None:
        self.pids = pids
        self.step_s = step_s
        self.worker_s = 0.0
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def live(self) -> int:
        """Worker processes alive now."""
        self.seen.update(self.pids())
        return sum(1 for pid in self.seen if pid_alive(pid))

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            n = self.live()
            now = time.monotonic()
            self.worker_s += n * (now - last)
            last = now
            self._stop.wait(self.step_s)

    def wait_none(self, timeout_s: float = 120) -> None:
        """Wait until every worker process has exited (the integral is then complete)."""
        deadline = time.monotonic() + timeout_s
        while self.live() and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_bursts(client: Any) -> tuple[float, float]:
    """Submit :data:`BURSTS`, each burst's results gathered before its pause; (makespan, task seconds)."""
    t0 = time.monotonic()
    busy = 0.0
    i = 0
    for n, pause in BURSTS:
        futures = client.map(timed, [TASK_S] * n, range(i, i + n), pure=False)
        i += n
        busy += sum(end - start for start, end in client.gather(futures))
        # results released, as a client that has what it wanted does: a worker holding results still referenced
        # cannot be retired while it is the last one (nowhere to move them), under either autoscaler
        del futures
        time.sleep(pause)
    return time.monotonic() - t0 - BURSTS[-1][1], busy


def burst_group(idle_timeout_s: float) -> Any:
    from cubes.scaleout.profiles import AutoscalerConfig, ClusterProfile, WorkerGroup

    return ClusterProfile(
        name="bench-bursts",
        groups=[
            WorkerGroup(
                name="default", min_workers=0, max_workers=MAX_WORKERS, memory="1GiB", idle_timeout_s=idle_timeout_s
            )
        ],
        autoscaler=AutoscalerConfig(interval_s=0.5, scale_down_cooldown_s=idle_timeout_s),
    )


def bursty_ours(idle_timeout_s: float) -> dict[str, Any]:
    """The bursty workload on our autoscaler."""
    from distributed import Client

    from cubes.scaleout.cluster import open_cluster

    with open_cluster(burst_group(idle_timeout_s)) as cluster, Client(cluster.scheduler_address) as client:
        backend = cluster.backend
        with Sampler(lambda: backend.processes().values()) as sampler:  # type: ignore[attr-defined]
            makespan, busy = run_bursts(client)
            sampler.wait_none()
        events = len(cluster.events)
    return {"worker_s": sampler.worker_s, "busy_s": busy, "makespan_s": makespan, "scale_events": events}


def bursty_adapt() -> dict[str, Any]:
    """The bursty workload on ``distributed``'s ``Adaptive`` with the same worker processes."""
    from distributed import Client, Scheduler, SpecCluster
    from distributed.deploy.spec import ProcessInterface

    from cubes.scaleout.local import worker_env
    from cubes.scaleout.worker import start_worker

    group = burst_group(1.0).group("default")
    pids: list[int] = []

    class ForkedWorker(ProcessInterface):
        """One worker process started as the local backend starts its own, for ``SpecCluster``."""

        def __init__(self, scheduler: str, name: Any = None) -> None:
            super().__init__(scheduler, name)
            self.scheduler, self.name = scheduler, name
            self.proc: Any = None

        async def start(self) -> None:
            self.proc = start_worker(
                self.scheduler, f"adapt-{self.name}", group.threads, group.memory, {}, worker_env(group, ())
            )
            pids.append(self.proc.pid)
            await super().start()

        async def close(self) -> None:
            # Adaptive retired it through the scheduler first: it is closing itself; give it time, then kill
            proc = self.proc
            if proc is not None:
                await asyncio.get_running_loop().run_in_executor(None, proc.join, 10)
                if proc.is_alive():
                    proc.kill()
            await super().close()

    with Sampler(lambda: pids) as sampler:
        with (
            SpecCluster(
                workers={},
                scheduler={"cls": Scheduler, "options": {"dashboard": False, "host": "127.0.0.1"}},
                worker={"cls": ForkedWorker, "options": {}},
            ) as cluster,
            Client(cluster.scheduler_address) as client,
        ):
            cluster.adapt(minimum=0, maximum=MAX_WORKERS)
            makespan, busy = run_bursts(client)
            sampler.wait_none()
    return {"worker_s": sampler.worker_s, "busy_s": busy, "makespan_s": makespan}


def cold_start_rounds(rounds: int, idle_timeout_s: float) -> tuple[list[float], list[float]]:
    """Per round: GPU task submitted → running, and the task's end → the gpu worker process gone."""
    from distributed import Client

    from cubes.scaleout.cluster import open_cluster
    from cubes.scaleout.profiles import BUILTIN_PROFILES

    os.environ["ESDL_GPU_DEVICES"] = os.environ.get("ESDL_GPU_DEVICES", "")  # CPU fallback unless pinned
    base = BUILTIN_PROFILES["local-gpu"]
    # a short idle timeout keeps the run short; the cooldown (10 s by default) would otherwise be what binds
    profile = base.model_copy(
        update={
            "groups": [g.model_copy(update={"idle_timeout_s": idle_timeout_s}) for g in base.groups],
            "autoscaler": base.autoscaler.model_copy(update={"scale_down_cooldown_s": 2.0}),
        }
    )
    cold, to_zero = [], []
    with open_cluster(profile, log=lambda m: print(f"  {m}", flush=True)) as cluster:
        with Client(cluster.scheduler_address) as client:
            for _ in range(rounds):
                submitted = time.time()
                started, ended = client.submit(timed, 0.5, 0, resources={"GPU": 1}, pure=False).result()
                cold.append(started - submitted)
                gpu = [pid for name, pid in cluster.backend.processes().items() if name.startswith("gpu-")]  # type: ignore[attr-defined]
                while any(pid_alive(pid) for pid in gpu):
                    time.sleep(0.05)
                to_zero.append(time.time() - ended)
                print(f"cold start {cold[-1]:.2f} s, to zero {to_zero[-1]:.2f} s", flush=True)
    return cold, to_zero


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument("--idle-timeout", type=float, default=5.0, help="gpu group's idle timeout (cold start)")
    parser.add_argument("--burst-idle-timeout", type=float, default=1.0, help="idle timeout in the bursty run")
    parser.add_argument("--burst-rounds", type=int, default=1)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    cold, to_zero = cold_start_rounds(args.cold_rounds, args.idle_timeout)
    ours: list[dict[str, Any]] = []
    adapt: list[dict[str, Any]] = []
    for r in range(args.burst_rounds):
        order = ("ours", "adapt") if r % 2 == 0 else ("adapt", "ours")
        for which in order:
            result = bursty_ours(args.burst_idle_timeout) if which == "ours" else bursty_adapt()
            (ours if which == "ours" else adapt).append(result)
            print(which, json.dumps({k: round(v, 2) for k, v in result.items()}), flush=True)

    def total(runs: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in runs)

    wasted = total(ours, "worker_s") - total(ours, "busy_s")
    wasted_adapt = total(adapt, "worker_s") - total(adapt, "busy_s")
    out = {
        "gpu_group_cold_start_s": round(statistics.median(cold), 2),
        "gpu_group_cold_start_runs_s": [round(c, 2) for c in cold],
        "scale_to_zero_s": round(statistics.median(to_zero), 2),
        "scale_to_zero_runs_s": [round(z, 2) for z in to_zero],
        "scale_to_zero_target_s": args.idle_timeout + 5,
        "wasted_worker_s": round(wasted / len(ours), 2),
        "adapt_wasted_worker_s": round(wasted_adapt / len(adapt), 2),
        "wasted_ratio_vs_adapt": round(wasted / wasted_adapt, 3) if wasted_adapt else None,
        "worker_s": round(total(ours, "worker_s") / len(ours), 2),
        "adapt_worker_s": round(total(adapt, "worker_s") / len(adapt), 2),
        "makespan_s": round(total(ours, "makespan_s") / len(ours), 2),
        "adapt_makespan_s": round(total(adapt, "makespan_s") / len(adapt), 2),
        "task_s": round(total(ours, "busy_s") / len(ours), 2),
        "scale_events": [r["scale_events"] for r in ours],
        "burst_idle_timeout_s": args.burst_idle_timeout,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
