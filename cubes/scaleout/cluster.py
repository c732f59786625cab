"""Open a cluster from a profile: its backend, its groups at their minimum and an autoscaler (no Prefect here).

```python
with open_cluster(BUILTIN_PROFILES["local-gpu"], log=print) as cluster, Client(cluster.scheduler_address) as c:
    with dask.annotate(resources={"GPU": 1}):
        result = train(...)  # waits in the scheduler; the autoscaler starts a gpu worker for it
    print(cluster.events, cluster.metrics())
```
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cubes.errors import ScaleOutError
from cubes.scaleout.autoscaler import Autoscaler
from cubes.scaleout.backend import GroupBackend, ScaleEvent
from cubes.scaleout.metrics import render_metrics
from cubes.scaleout.profiles import ClusterProfile

KUBERNETES_BACKEND = ("cubes.scaleout.kubernetes_backend", "KubernetesBackend")
"""Module and class of the Kubernetes backend, ``KubernetesBackend(profile, log=...)`` (imported only when used:
it needs the ``k8s`` extra)."""


@dataclass
class ProfileCluster:
    """A running cluster of a profile: where its scheduler is, its groups' sizes and the scale decisions so far."""

    profile: ClusterProfile
    backend: GroupBackend
    autoscaler: Autoscaler | None

    @property
    def scheduler_address(self) -> str:
        """The scheduler's address, for ``distributed.Client``."""
        return self.backend.scheduler_address

    @property
    def events(self) -> list[ScaleEvent]:
        """Every scale decision so far, oldest first (empty without an autoscaler)."""
        return self.autoscaler.events if self.autoscaler else []

    def group_sizes(self) -> dict[str, int]:
        """Workers per group that are running or starting."""
        return self.backend.group_sizes()

    def metrics(self) -> str:
        """Prometheus text exposition: ``esdl_scale_events_total{group,direction}``, ``esdl_group_workers{group}``."""
        failed = self.autoscaler.failed_tasks if self.autoscaler else 0
        return render_metrics(self.profile, self.events, self.group_sizes(), failed)

    def wait_for_workers(self, group: str, n: int, timeout_s: float = 60.0) -> None:
        """Wait until ``n`` workers of ``group`` are connected to the scheduler.

        Raises:
            ScaleOutError: ``timeout_s`` passed first (the message says how many were there).
        """
        from distributed import Client

        deadline = time.monotonic() + timeout_s
        with Client(self.scheduler_address, timeout=timeout_s) as client:
            while True:
                names = [w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
                have = sum(1 for name in names if self.backend.group_of(str(name)) == group)
                if have >= n:
                    return
                if time.monotonic() > deadline:
                    raise ScaleOutError(f"group {group!r}: {have} of {n} workers connected after {timeout_s:g} s")
                time.sleep(0.1)


def open_backend(profile: ClusterProfile, log: Callable[[str], None] | None = None) -> GroupBackend:
    """Start the profile's backend with every group at its minimum."""
    if profile.backend == "local":
        from cubes.scaleout.local import LocalBackend

        return LocalBackend(profile, log=log)
    module, cls = KUBERNETES_BACKEND
    try:
        opener = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ScaleOutError(f"the kubernetes backend ({module}.{cls}) is not available: {exc}") from exc
    backend: GroupBackend = opener(profile, log=log)
    return backend


@contextmanager
def open_cluster(
    profile: ClusterProfile, *, log: Callable[[str], None] | None = None, autoscale: bool = True
) -> Iterator[ProfileCluster]:
    """Start a cluster of ``profile``, yield it, then stop its autoscaler, workers and scheduler.

    Args:
        profile: Which backend and groups.
        log: Where scale decisions and worker starts/exits are said (a flow passes its logger's ``info``).
        autoscale: Run the autoscaler (default); without it, groups stay at their minimum unless scaled by hand
            through ``cluster.backend.scale_group``.
    """
    backend = open_backend(profile, log)
    autoscaler = None
    try:
        if autoscale:
            autoscaler = Autoscaler(profile, backend, log=log)
            autoscaler.start()
        yield ProfileCluster(profile, backend, autoscaler)
    finally:
        try:
            if autoscaler is not None:
                autoscaler.stop()
        finally:
            backend.close()
