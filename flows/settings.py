"""The settings a flow run uses: from a saved block when one is named, otherwise from its parameters and the
environment. Flows import blocks; blocks import only the libraries' settings classes."""

from __future__ import annotations

from typing import Any

from blocks.cluster_profile import ClusterProfileBlock
from blocks.dask_cluster import DaskClusterBlock
from blocks.database import DatabaseBlock
from cubes.cluster import ClusterSettings
from cubes.errors import ScaleOutError
from cubes.scaleout.profiles import BUILTIN_PROFILES, ClusterProfile
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


def saved_profiles() -> list[str]:
    """Names of the ``esdl-cluster-profile`` blocks saved on the Prefect server (none before the first save)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            docs = client.read_block_documents_by_type(block_type_slug=ClusterProfileBlock.get_block_type_slug())
        except ObjectNotFound:  # the block type is registered by its first save
            return []
        except PrefectHTTPStatusError as err:  # the sync client says so with a bare 404 ('Block type not found')
            if err.response.status_code == 404:
                return []
            raise
    return sorted(d.name for d in docs if d.name)


def cluster_profile(name: str) -> ClusterProfile:
    """The cluster profile called ``name``: a saved ``esdl-cluster-profile`` block wins, else a built-in profile.

    Raises:
        ScaleOutError: neither exists (the message lists the saved and the built-in profiles).
    """
    saved = saved_profiles()
    if name in saved:
        block = ClusterProfileBlock.load(name)
        return block.profile()  # type: ignore[union-attr]
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    raise ScaleOutError(
        f"no cluster profile {name!r}: saved esdl-cluster-profile blocks: {', '.join(saved) or 'none'}; "
        f"built-in profiles: {', '.join(sorted(BUILTIN_PROFILES))}"
    )
