"""The Dask cluster a flow's array work runs on: a local adaptive cluster or an existing scheduler."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClusterSettings(BaseSettings):
    """Where array work runs. Environment variables: ``ESDL_DASK_ADDRESS``, ``ESDL_DASK_MIN_WORKERS``...

    With ``address`` set, the flow connects to that scheduler; otherwise it starts a ``LocalCluster`` that
    scales adaptively between ``min_workers`` and ``max_workers`` and closes it at the end of the run.
    """

    model_config = SettingsConfigDict(env_prefix="ESDL_DASK_", env_file=".env", extra="ignore")

    address: str | None = Field(default=None, description="scheduler address of an existing cluster")
    min_workers: int = Field(default=1, ge=0, description="adaptive lower bound of worker processes")
    max_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="adaptive upper bound of worker processes"
    )
    threads_per_worker: int = Field(default=1, ge=1, description="threads in each worker process")
    memory_limit: str = Field(default="4GiB", description="memory limit of each worker (dask syntax)")
    processes: bool = Field(
        default=False,
        description="local workers as separate processes (isolation, per-worker memory limits) instead of "
        "threads in the flow process (no serialisation: faster for the GIL-free array work of a build)",
    )


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
