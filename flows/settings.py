"""The settings a flow run uses: from a saved block when one is named, otherwise from its parameters and the
environment. Flows import blocks; blocks import only the libraries' settings classes."""

from __future__ import annotations

from typing import Any

from blocks.dask_cluster import DaskClusterBlock
from blocks.database import DatabaseBlock
from cubes.cluster import ClusterSettings
from semantic.store.settings import DatabaseSettings


def cluster_settings(cluster: dict[str, Any] | None, cluster_block: str | None) -> ClusterSettings:
    """The cluster of a saved ``esdl-dask-cluster`` block (it wins), or ``cluster``'s fields over ``ESDL_DASK_*``."""
    if cluster_block:
        block = DaskClusterBlock.load(cluster_block)
        return block.settings()  # type: ignore[union-attr]
    return ClusterSettings(**(cluster or {}))


def database_settings(database_block: str | None) -> DatabaseSettings:
    """The settings of a saved ``esdl-database`` block, or from the environment (``ESDL_DATABASE_URL``...)."""
    if database_block:
        block = DatabaseBlock.load(database_block)
        return block.settings()  # type: ignore[union-attr]
    return DatabaseSettings()
