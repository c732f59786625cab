"""Where the ML flows' work runs: the cluster of a profile (its ``gpu`` group started from 0 by the autoscaler
when the training task waits for ``GPU``) or an existing scheduler, and one GPU task submitted to it.

Only ``Client.submit(..., resources=...)`` sends a task to the workers that offer a resource; the task is the
whole training (or forecast), never one Prefect task per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from distributed import Client

from cubes.errors import ModelError
from cubes.ml.remote import EVENT_TOPIC, GPU_TASK, result_when_offered
from cubes.scaleout.cluster import ProfileCluster, open_cluster
from cubes.scaleout.profiles import GPU_RESOURCE, ClusterProfile
from flows.settings import cluster_profile

T = TypeVar("T")

RESOURCE_WAIT_S = 120.0
"""How long a task may wait while no worker offers ``GPU`` before the run fails (a profile's autoscaler fails
such tasks itself after its ``resource_wait_timeout_s``)."""


@dataclass(frozen=True)
class GpuCluster:
    """The scheduler a flow submits to and, when the flow started it, the profile's cluster."""

    address: str
    cluster: ProfileCluster | None

    def scale_events(self) -> list[str]:
        """The autoscaler's decisions so far, one line each (none on an existing scheduler)."""
        if self.cluster is None:
            return []
        return [f"{e.group}: {e.before} -> {e.after} ({e.reason})" for e in self.cluster.events]


def gpu_profile(name: str) -> ClusterProfile:
    """The profile called ``name``, checked to have a group whose workers offer ``GPU``.

    Raises:
        ModelError: It has none (the task would wait for a resource nobody offers).
    """
    profile = cluster_profile(name)
    if not any(g.gpus and g.max_workers for g in profile.groups):
        raise ModelError(
            f"profile {name!r} has no worker group offering {GPU_RESOURCE} (groups: "
            f"{', '.join(f'{g.name} gpus={g.gpus} max={g.max_workers}' for g in profile.groups)}); "
            "use local-gpu or a profile with a gpu group"
        )
    return profile


@contextmanager
def gpu_cluster(profile: str, address: str | None, log: Callable[[str], None]) -> Iterator[GpuCluster]:
    """The scheduler at ``address``, or the cluster of ``profile`` started for the block and closed after it."""
    if address:
        yield GpuCluster(address, None)
        return
    with open_cluster(gpu_profile(profile), log=log) as cluster:
        yield GpuCluster(cluster.scheduler_address, cluster)


def run_on_gpu(where: GpuCluster, key: str, log: Callable[[str], None], fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` as one Dask task needing ``GPU=1`` on ``where``'s cluster; its progress lines go to ``log``.

    If its worker dies, the scheduler runs it again on another GPU worker (the profile's autoscaler starts one).
    """
    with Client(where.address, set_as_default=False) as client:

        def relay(event: tuple[float, Any]) -> None:
            message = event[1]
            log(f"[{message.get('name')}] {message.get('line')}" if isinstance(message, dict) else str(message))

        client.subscribe_topic(EVENT_TOPIC, relay)
        try:
            future = client.submit(fn, *args, key=key, resources=GPU_TASK, pure=False)
            result: T = result_when_offered(client, future, GPU_RESOURCE, RESOURCE_WAIT_S)
        finally:
            client.unsubscribe_topic(EVENT_TOPIC)
    return result
