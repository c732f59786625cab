"""Cluster profiles by name: a saved ``esdl-cluster-profile`` block wins, then the built-in profiles, else an error
listing both (against the real Prefect test server)."""

from __future__ import annotations

import pydantic
import pytest

from cubes.errors import ScaleOutError
from cubes.scaleout.profiles import BUILTIN_PROFILES, ClusterProfile, WorkerGroup


def test_the_block_has_the_profiles_fields_and_validation() -> None:
    from blocks import ClusterProfileBlock

    assert set(ClusterProfileBlock.model_fields) >= set(ClusterProfile.model_fields)
    with pytest.raises(pydantic.ValidationError, match="a group named default is required"):
        ClusterProfileBlock(name="bad", groups=[WorkerGroup(name="gpu")])


def test_a_saved_profile_round_trips_and_wins_over_a_builtin_of_the_same_name(prefect_api: str) -> None:
    from blocks import ClusterProfileBlock
    from flows.settings import cluster_profile, saved_profiles

    k8s = BUILTIN_PROFILES["k8s-gpu"]
    ClusterProfileBlock(**k8s.model_dump()).save("test-k8s-copy", overwrite=True)
    assert cluster_profile("test-k8s-copy") == k8s  # groups, tolerations, node selectors, options: all of it
    assert "test-k8s-copy" in saved_profiles()

    assert cluster_profile("local-cpu") == BUILTIN_PROFILES["local-cpu"]
    bigger = BUILTIN_PROFILES["local-cpu"].model_copy(
        update={"groups": [WorkerGroup(name="default", min_workers=0, max_workers=5)]}
    )
    ClusterProfileBlock(**bigger.model_dump()).save("local-cpu", overwrite=True)
    try:
        assert cluster_profile("local-cpu").group("default").max_workers == 5
    finally:
        ClusterProfileBlock.delete("local-cpu")
    assert cluster_profile("local-cpu") == BUILTIN_PROFILES["local-cpu"]


def test_an_unknown_profile_is_an_error_listing_what_exists(prefect_api: str) -> None:
    from blocks import ClusterProfileBlock
    from flows.settings import cluster_profile

    ClusterProfileBlock(**BUILTIN_PROFILES["local-gpu"].model_dump()).save("test-listed", overwrite=True)
    with pytest.raises(ScaleOutError) as caught:
        cluster_profile("nope")
    message = str(caught.value)
    assert "no cluster profile 'nope'" in message
    assert "test-listed" in message and "built-in profiles: k8s-gpu, local-cpu, local-gpu" in message
