"""The ``esdl-dask-cluster`` block: which Dask cluster a flow's array work runs on."""

from __future__ import annotations

from prefect.blocks.core import Block

from cubes.cluster import ClusterConfig, ClusterSettings


class DaskClusterBlock(Block, ClusterConfig):
    """A Dask cluster for esdl flows: a local adaptive cluster (default) or an existing scheduler.

    Its fields are :class:`cubes.cluster.ClusterConfig`'s, with the same defaults as the environment's
    ``ESDL_DASK_*`` settings.
    """

    _block_type_name = "esdl Dask cluster"
    _block_type_slug = "esdl-dask-cluster"
    _description = "Local adaptive Dask cluster, or the address of an existing scheduler, for esdl flows."

    def settings(self) -> ClusterSettings:
        """The :class:`~cubes.cluster.ClusterSettings` this block describes (the environment plays no part)."""
        return ClusterSettings(_env_file=None, **self.cluster_fields())  # type: ignore[call-arg]
