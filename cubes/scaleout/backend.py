"""What the autoscaler needs of a backend, and the record of one scale decision (no Prefect here).

A backend runs the workers of a profile's groups: :class:`cubes.scaleout.local.LocalBackend` as processes on this
machine, the Kubernetes backend (:mod:`cubes.scaleout.kubernetes`) as the replicas of DaskWorkerGroup resources.
The autoscaler (:mod:`cubes.scaleout.autoscaler`) reads the scheduler, decides each group's size and tells the
backend; the backend never decides anything itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ScaleEvent:
    """One change of a group's desired size, as the autoscaler decided it.

    Attributes:
        time: Wall-clock time of the decision (seconds since the epoch).
        group: The worker group.
        before: Its size before (workers started or starting).
        after: Its desired size after.
        reason: Why, in words (``"3 tasks waiting for GPU=1"``, ``"idle for 30 s"``).
    """

    time: float
    group: str
    before: int
    after: int
    reason: str

    @property
    def direction(self) -> str:
        """``up`` or ``down``."""
        return "up" if self.after > self.before else "down"


@runtime_checkable
class GroupBackend(Protocol):
    """What the autoscaler needs of a backend.

    Shrinking is always graceful: before it asks a backend to shrink a group, the autoscaler retires the chosen
    workers through the scheduler (``retire_workers``, which first copies results only they hold to other
    workers) and passes their names as ``retire``; the backend then only has to make those workers go away
    (local: their processes exit or are stopped; Kubernetes: those pods are deleted as the replicas drop).
    """

    scheduler_address: str
    """Address of the cluster's scheduler (``tcp://host:port``)."""

    def group_of(self, worker_name: str) -> str | None:
        """The group a worker (by its Dask name) belongs to, or None for a worker the backend did not start."""
        ...

    def group_sizes(self) -> dict[str, int]:
        """Workers per group that are running or starting (local: live processes; Kubernetes: replicas)."""
        ...

    def scale_group(self, group: str, n: int, retire: Sequence[str] = ()) -> None:
        """Make ``group`` have ``n`` workers; when shrinking, ``retire`` names the workers to remove.

        Args:
            group: The group's name.
            n: Desired number of workers (within the group's bounds: the autoscaler clamps it).
            retire: Names of workers already retired through the scheduler that must be the ones to go.
        """
        ...

    def close(self) -> None:
        """Stop every worker and the scheduler the backend started."""
        ...
