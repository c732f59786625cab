"""The Dask cluster array work runs on: a local adaptive cluster or an existing scheduler (no Prefect here)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClusterConfig(BaseModel):
    """The fields that describe a cluster: shared by :class:`ClusterSettings` (environment) and the Prefect block
    ``esdl-dask-cluster`` (saved configuration), so the two cannot drift apart.

    With ``address`` set, the flow connects to that scheduler; otherwise it starts a ``LocalCluster`` that
    scales adaptively between ``min_workers`` and ``max_workers`` and closes it at the end of the run.
    """

    address: str | None = Field(default=None, description="Scheduler address of an existing cluster (tcp://host:8786)")
    min_workers: int = Field(default=1, ge=0, description="Adaptive lower bound of local workers")
    max_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Adaptive upper bound of local workers"
    )
    threads_per_worker: int = Field(default=1, ge=1, description="Threads in each local worker")
    memory_limit: str = Field(default="4GiB", description="Memory limit of each local worker (dask syntax)")
    processes: bool = Field(
        default=False,
        description="Local workers as separate processes (isolation, per-worker memory limits) instead of "
        "threads in the flow process (no serialisation: faster for the GIL-free array work of a build)",
    )

    def cluster_fields(self) -> dict[str, Any]:
        """The values of :class:`ClusterConfig`'s own fields (a subclass may add others)."""
        return {name: getattr(self, name) for name in ClusterConfig.model_fields}


class ClusterSettings(ClusterConfig, BaseSettings):
    """Where array work runs, from the environment: ``ESDL_DASK_ADDRESS``, ``ESDL_DASK_MIN_WORKERS``..."""

    model_config = SettingsConfigDict(env_prefix="ESDL_DASK_", env_file=".env", extra="ignore")


def release_free_memory() -> None:
    """Hand memory freed by the array work back to the system (glibc keeps it in per-thread arenas).

    With the default threads cluster the workers live in the flow process, whose resident size would otherwise
    creep up with the amount of work done rather than stay at what one batch needs.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    libc.malloc_trim(0)


@contextmanager
def dask_cluster(settings: ClusterSettings) -> Iterator[str]:
    """Yield the scheduler address to use, starting (and finally closing) a local cluster if needed."""
    if settings.address:
        yield settings.address
        return
    from distributed import LocalCluster

    n0 = max(settings.min_workers, 1)
    cluster = LocalCluster(
        n_workers=n0,
        threads_per_worker=settings.threads_per_worker,
        processes=settings.processes,
        memory_limit=settings.memory_limit,
        dashboard_address=None,
    )
    if settings.max_workers > n0:
        cluster.adapt(minimum=settings.min_workers, maximum=settings.max_workers)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
