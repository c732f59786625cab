"""The ``esdl-cluster-profile`` block: a saved cluster profile (worker groups, bounds, autoscaler) flows run on."""

from __future__ import annotations

from prefect.blocks.core import Block

from cubes.scaleout.profiles import ClusterProfile


class ClusterProfileBlock(Block, ClusterProfile):
    """A cluster profile for esdl flows: its backend (local or kubernetes), worker groups and autoscaler settings.

    Its fields are :class:`cubes.scaleout.profiles.ClusterProfile`'s, validated the same way (a ``default``
    group, bounds in order, no hand-set ``GPU`` resource). Flows look profiles up by name through
    :func:`flows.settings.cluster_profile`: a saved block of that name wins over a built-in profile.
    """

    _block_type_name = "esdl cluster profile"
    _block_type_slug = "esdl-cluster-profile"
    _description = "Worker groups (CPU, GPU) scaled each on its own, on local processes or Kubernetes, for esdl flows."

    def profile(self) -> ClusterProfile:
        """The :class:`~cubes.scaleout.profiles.ClusterProfile` this block describes."""
        return ClusterProfile.model_validate({name: getattr(self, name) for name in ClusterProfile.model_fields})
