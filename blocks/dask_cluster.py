"""The ``esdl-dask-cluster`` block: which Dask cluster a flow's array work runs on."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from flows.cluster import ClusterSettings


class DaskClusterBlock(Block):
    """A Dask cluster for cube builds: a local adaptive cluster (default) or an existing scheduler."""

    _block_type_name = "esdl Dask cluster"
    _block_type_slug = "esdl-dask-cluster"
    _description = "Local adaptive Dask cluster, or the address of an existing scheduler, for esdl flows."

    address: str | None = Field(default=None, description="Scheduler address (tcp://host:8786); empty: local")
    min_workers: int = Field(default=1, ge=0, description="Adaptive lower bound of local worker processes")
    max_workers: int = Field(default=2, ge=1, description="Adaptive upper bound of local worker processes")
    threads_per_worker: int = Field(default=1, ge=1, description="Threads per local worker process")
    memory_limit: str = Field(default="4GiB", description="Memory limit per local worker (dask syntax)")
    processes: bool = Field(default=False, description="Local workers as processes instead of threads")

    def settings(self) -> ClusterSettings:
        """The :class:`~flows.cluster.ClusterSettings` this block describes."""
        return ClusterSettings(
            address=self.address,
            min_workers=self.min_workers,
            max_workers=self.max_workers,
            threads_per_worker=self.threads_per_worker,
            memory_limit=self.memory_limit,
            processes=self.processes,
        )
