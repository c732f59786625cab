"""Prefect blocks: saved configuration for the flows. Each returns the settings object its code uses."""

from blocks.cluster_profile import ClusterProfileBlock
from blocks.dask_cluster import DaskClusterBlock
from blocks.database import DatabaseBlock

__all__ = ["ClusterProfileBlock", "DaskClusterBlock", "DatabaseBlock"]
