"""The autoscaler: every ``interval_s`` it looks at the scheduler, asks the policy and applies its decisions.

It runs in a thread of the process that opened the cluster, with its own ``distributed.Client``; the scheduler
is read through ``run_on_scheduler`` (:mod:`cubes.scaleout.observe`), so the same loop drives the local backend's
in-process scheduler and a remote one on Kubernetes. Shrinking is graceful: the chosen (idle) workers are
retired through the scheduler's ``retire_workers``, which moves results only they hold to other workers first,
and only the workers it did retire are then removed by the backend. Every decision is logged, kept as a
:class:`~cubes.scaleout.backend.ScaleEvent` and counted in :mod:`cubes.scaleout.metrics`. No Prefect here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cubes.scaleout import observe
from cubes.scaleout.backend import GroupBackend, ScaleEvent
from cubes.scaleout.policy import Decision, Plan, PolicyState, decide, describe
from cubes.scaleout.profiles import AutoscalerConfig, ClusterProfile

if TYPE_CHECKING:
    from distributed import Client


class Autoscaler:
    """Scales each group of ``profile`` on its own through ``backend`` (see the module's and the policy's doc).

    Args:
        profile: The groups and their bounds and idle timeouts.
        backend: Runs the workers.
        log: Where decisions (and errors of the loop, which keeps going) are said.
        config: Overrides ``profile.autoscaler``.
    """

    def __init__(
        self,
        profile: ClusterProfile,
        backend: GroupBackend,
        *,
        log: Callable[[str], None] | None = None,
        config: AutoscalerConfig | None = None,
    ) -> None:
        self.profile = profile
        self.backend = backend
        self.config = config or profile.autoscaler
        self.events: list[ScaleEvent] = []
        self.failed_tasks = 0
        self._log = log or (lambda _msg: None)
        self._state = PolicyState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Client | None = None

    def start(self) -> None:
        """Connect to the scheduler and start looking every ``interval_s`` in a daemon thread."""
        from distributed import Client

        self._client = Client(self.backend.scheduler_address, set_as_default=False, timeout=60)
        self._thread = threading.Thread(target=self._run, name=f"esdl-autoscaler-{self.profile.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking (the groups keep their sizes) and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # a failed look must not end autoscaling: the next one may succeed
                if self._stop.is_set():
                    return
                self._log(f"autoscaler: look at the scheduler failed ({type(exc).__name__}: {exc})")
            self._stop.wait(self.config.interval_s)

    def step(self) -> Plan:
        """One look: read the scheduler, decide, retire and scale, fail tasks that waited too long."""
        client = self._client
        assert client is not None, "start() first"
        raw = client.run_on_scheduler(observe.scheduler_state)
        snap = observe.snapshot(raw, self.backend.group_sizes(), self.backend.group_of, time.monotonic())
        plan = decide(self.profile.groups, self.config, snap, self._state)
        self._state = plan.state
        addresses = {w.name: w.address for w in snap.workers}
        for d in plan.decisions:
            self._apply(d, addresses)
        for u in plan.unavailable:
            n = client.run_on_scheduler(observe.fail_tasks, keys=list(u.keys), message=u.message)
            if n:
                self.failed_tasks += n
                self._log(f"autoscaler: failed {n} task(s) needing {describe(u.requirement)}: {u.message}")
        return plan

    def _apply(self, d: Decision, addresses: dict[str, str]) -> None:
        size, retired = d.size, d.retire
        if d.retire:
            assert self._client is not None
            # only what the scheduler did retire goes: a worker whose unique data could not be moved stays
            done = self._client.retire_workers(
                workers=[addresses[n] for n in d.retire], close_workers=True, remove=True
            )
            gone = {str(info.get("name")) for info in done.values()}
            retired = tuple(n for n in d.retire if n in gone)
            size = d.before - len(retired)
            if not retired:
                return
        self.backend.scale_group(d.group, size, retired)
        event = ScaleEvent(time.time(), d.group, d.before, size, d.reason)
        self.events.append(event)
        self._log(f"autoscaler: group {d.group} {d.before} -> {size} ({d.reason})")
