"""The ``local`` backend: a scheduler in this process and one worker *process* per worker of each group.

Each worker is a process forked from a server that has ``distributed`` imported already
(:mod:`cubes.scaleout.worker`), so it connects within a fraction of a second, and runs without a nanny: a worker
that dies stays dead and the autoscaler starts a new one, which is what the autoscaler and its tests rely on (a
nanny would restart it behind everyone's back).
Workers are named ``<group>-<n>`` with ``n`` counting up per group and never reused, advertise the group's
resources (``GPU`` for GPU groups) and see only their own devices through ``CUDA_VISIBLE_DEVICES``. Workers
inherit this process's import path, so tasks defined in any module this process can import run there.

On a machine without CUDA devices a profile with a GPU group fails at start (``on_missing_gpu: error``) or starts
the group's workers without devices and says so (``on_missing_gpu: cpu``): they still advertise ``GPU`` so that
GPU-annotated work runs on them, on the CPU.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from cubes.errors import ScaleOutError
from cubes.scaleout.devices import DEVICES_ENV, detect_gpus
from cubes.scaleout.profiles import ClusterProfile, WorkerGroup
from cubes.scaleout.worker import start_worker

GROUP_ENV = "ESDL_WORKER_GROUP"
"""Set in every worker's environment to the name of its group."""

CRASH_LOOP = (3, 10.0)
"""A group whose last 3 workers all died unexpectedly within 10 s of their start starts no more (a crash loop)."""

STOP_GRACE_S = 10.0
"""How long a stopped or retired worker may take to close before it is killed (SIGKILL)."""


def worker_env(group: WorkerGroup, devices: Sequence[str]) -> dict[str, str]:
    """The environment of one worker process: this one's, its group, its devices and this process's import path."""
    env = dict(os.environ)
    env[GROUP_ENV] = group.name
    # CPU workers (and GPU workers without devices) see none, so code that picks CUDA when it exists does not
    # quietly share a device that another worker was given
    env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    env.pop(DEVICES_ENV, None)
    # this process's path already holds its own PYTHONPATH's entries
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return env


@dataclass
class WorkerProcess:
    """One worker process the backend started."""

    name: str
    group: str
    devices: tuple[str, ...]
    process: BaseProcess
    started: float = field(default_factory=time.time)
    stopped: float | None = None
    stopping: bool = False
    stop_asked: float = 0.0
    """When it was asked to stop (monotonic seconds)."""

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.is_alive()


class LocalBackend:
    """Worker processes per group on this machine around a scheduler in this process (see the module's doc).

    Args:
        profile: The profile; its ``backend`` must be ``local``.
        log: Where to say what happens (worker starts and exits, the CPU fallback).
        devices: CUDA device indices to hand out; default: :func:`~cubes.scaleout.devices.detect_gpus`.
    """

    def __init__(
        self,
        profile: ClusterProfile,
        *,
        log: Callable[[str], None] | None = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        self.profile = profile
        self._log = log or (lambda _msg: None)
        self._free_devices = self._check_devices(list(detect_gpus() if devices is None else devices))
        self._lock = threading.RLock()
        self._workers: dict[str, WorkerProcess] = {}
        self._counters = {g.name: itertools.count() for g in profile.groups}
        from distributed import Scheduler, SpecCluster

        self._cluster = SpecCluster(
            workers={},
            scheduler={"cls": Scheduler, "options": {"dashboard": False, "host": "127.0.0.1"}},
            name=profile.name,
        )
        self.scheduler_address: str = self._cluster.scheduler_address
        try:
            for g in profile.groups:
                self.scale_group(g.name, g.min_workers)
        except BaseException:
            self.close()
            raise

    def _check_devices(self, devices: list[str]) -> list[str]:
        gpu_groups = [g for g in self.profile.groups if g.gpus]
        needed = sum(g.gpus * g.max_workers for g in gpu_groups)
        if not gpu_groups or len(devices) >= needed:
            return devices
        names = ", ".join(f"{g.name} ({g.max_workers} x {g.gpus})" for g in gpu_groups)
        if devices:
            raise ScaleOutError(
                f"profile {self.profile.name!r}: GPU groups {names} need up to {needed} CUDA devices and this machine "
                f"has {len(devices)} ({','.join(devices)}); lower their max_workers or gpus"
            )
        if self.profile.on_missing_gpu == "error":
            raise ScaleOutError(
                f"profile {self.profile.name!r}: GPU groups {names} need CUDA devices and this machine has none "
                f"(no NVIDIA driver found; {DEVICES_ENV} overrides the detection); set on_missing_gpu: cpu to run "
                "their workers on the CPU"
            )
        self._log(
            f"profile {self.profile.name!r}: no CUDA device on this machine; GPU groups {names} start their workers "
            "without devices (on_missing_gpu: cpu): GPU-annotated tasks run there on the CPU"
        )
        return []

    # --- the GroupBackend protocol -------------------------------------------------------------------------------

    def group_of(self, worker_name: str) -> str | None:
        """The group of a worker this backend started (by its Dask name), else None."""
        w = self._workers.get(worker_name)
        return w.group if w else None

    def group_sizes(self) -> dict[str, int]:
        """Live (running or starting) worker processes per group, not counting those being stopped."""
        with self._lock:
            self._reap()
            sizes = {g.name: 0 for g in self.profile.groups}
            for w in self._workers.values():
                if w.alive and not w.stopping:
                    sizes[w.group] += 1
            return sizes

    def scale_group(self, group: str, n: int, retire: Sequence[str] = ()) -> None:
        """Start or stop processes so that ``group`` has ``n``; the workers named in ``retire`` go first."""
        spec = self.profile.group(group)
        n = max(0, min(n, spec.max_workers))
        with self._lock:
            self._reap()
            for name in retire:
                w = self._workers.get(name)
                if w is not None and w.group == group:
                    self._stop(w, signalled=False)
            live = [w for w in self._workers.values() if w.group == group and w.alive and not w.stopping]
            # beyond the retired ones (which the scheduler already emptied), the newest go: most likely still
            # starting and holding nothing
            for w in sorted(live, key=lambda w: w.started, reverse=True)[: max(0, len(live) - n)]:
                self._stop(w)
            for _ in range(n - len(live)):
                self._start(spec)

    def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`) and the scheduler."""
        with self._lock:
            for w in self._workers.values():
                if w.alive:
                    self._stop(w)
            deadline = time.monotonic() + STOP_GRACE_S
            for w in self._workers.values():
                w.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if w.alive:
                    w.process.kill()
                    w.process.join()
            self._reap()
        self._cluster.close()

    # --- introspection (tests, benchmarks) -----------------------------------------------------------------------

    def processes(self) -> dict[str, int]:
        """Process ids of the live workers, by worker name."""
        with self._lock:
            return {name: w.process.pid for name, w in self._workers.items() if w.alive and w.process.pid is not None}

    def lifetimes(self) -> list[tuple[str, str, float, float | None]]:
        """``(name, group, started, stopped)`` of every worker process so far (times since the epoch)."""
        with self._lock:
            self._reap()
            return [(w.name, w.group, w.started, w.stopped) for w in self._workers.values()]

    # --- processes -----------------------------------------------------------------------------------------------

    def _crash_loop(self, group: str) -> list[WorkerProcess]:
        """The group's last workers if they all died unexpectedly soon after starting (see :data:`CRASH_LOOP`)."""
        n, within_s = CRASH_LOOP
        last = [w for w in self._workers.values() if w.group == group][-n:]
        early = [w for w in last if w.stopped is not None and not w.stopping and w.stopped - w.started < within_s]
        return early if len(early) == n else []

    def _start(self, group: WorkerGroup) -> None:
        crashed = self._crash_loop(group.name)
        if crashed:
            codes = ", ".join(f"{w.name}: {w.process.exitcode}" for w in crashed)
            raise ScaleOutError(
                f"group {group.name!r}: its last {len(crashed)} workers died within {CRASH_LOOP[1]:g} s of starting "
                f"(exit codes {codes}); starting no more (see their error output; memory {group.memory!r}, "
                f"resources {group.worker_resources()})"
            )
        devices: tuple[str, ...] = ()
        if group.gpus and self._free_devices:
            devices = tuple(self._free_devices[: group.gpus])
            del self._free_devices[: group.gpus]
        name = f"{group.name}-{next(self._counters[group.name])}"
        proc = start_worker(
            self.scheduler_address,
            name,
            group.threads,
            group.memory,
            group.worker_resources(),
            worker_env(group, devices),
        )
        self._workers[name] = WorkerProcess(name, group.name, devices, proc)
        on = f" on device(s) {','.join(devices)}" if devices else ""
        self._log(f"started worker {name} (pid {proc.pid}){on}")

    def _stop(self, w: WorkerProcess, signalled: bool = True) -> None:
        """Have ``w`` exit: a retired worker is already closing itself and is left alone (a SIGTERM arriving in the
        middle of that close cancels it and leaves the process idle for good); any other gets SIGTERM. Either is
        killed if it is still there :data:`STOP_GRACE_S` later (:meth:`_reap`)."""
        if w.stopping:
            return
        w.stopping = True
        w.stop_asked = time.monotonic()
        if signalled and w.alive:
            w.process.terminate()  # SIGTERM: the worker closes itself

    def _reap(self) -> None:
        """Record exits, kill stopped workers past their grace, give a dead GPU worker's devices back."""
        for w in self._workers.values():
            if w.stopping and w.alive and time.monotonic() - w.stop_asked > STOP_GRACE_S:
                self._log(f"worker {w.name} still running {STOP_GRACE_S:g} s after it was stopped: killed")
                w.process.kill()
                w.process.join()
            if w.stopped is None and not w.alive:
                w.stopped = time.time()
                self._free_devices.extend(w.devices)
                if not w.stopping:
                    self._log(f"worker {w.name} exited unexpectedly (exit code {w.process.exitcode})")
