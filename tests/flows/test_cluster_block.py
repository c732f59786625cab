"""A build on a saved ``esdl-dask-cluster`` block runs its catalogue step on the same cluster, and the block and
the environment's settings are one model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cubes.cluster import ClusterConfig, ClusterSettings


def _spec(output: Path) -> dict[str, Any]:
    return {
        "name": "blocked",
        "version": "1",
        "grid": {"bbox": [0, 40, 4, 44], "resolution": 0.25},
        "time": {"start": "2020-01-01", "end": "2020-02-29", "period": "8D"},
        "sources": {
            "s": {
                "kind": "synthetic",
                "options": {
                    "bbox": [0, 40, 4, 44],
                    "resolution": 0.125,
                    "start": "2020-01-01",
                    "end": "2020-02-29",
                    "variables": ["a"],
                },
            }
        },
        "variables": [{"name": "a", "source": "s", "units": "K"}],
        "chunks": {"time": 4, "y": 8, "x": 8},
        "output": str(output),
    }


def _regions(path: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": name},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x0, 40], [x0 + 2, 40], [x0 + 2, 44], [x0, 44], [x0, 40]]],
            },
        }
        for name, x0 in (("west", 0), ("east", 2))
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_block_fields_are_the_settings_fields() -> None:
    from blocks import DaskClusterBlock

    own = set(ClusterConfig.model_fields)
    assert own <= set(DaskClusterBlock.model_fields)
    assert set(ClusterSettings.model_fields) == own
    for name in own:  # same defaults (max_workers: the same factory)
        assert DaskClusterBlock.model_fields[name].get_default(
            call_default_factory=True
        ) == ClusterSettings.model_fields[name].get_default(call_default_factory=True)


def test_block_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks import DaskClusterBlock

    monkeypatch.setenv("ESDL_DASK_MAX_WORKERS", "7")
    monkeypatch.setenv("ESDL_DASK_ADDRESS", "tcp://elsewhere:8786")
    settings = DaskClusterBlock(max_workers=3).settings()
    assert (settings.max_workers, settings.address) == (3, None)
    assert ClusterSettings().max_workers == 7  # the environment does configure the settings themselves


def test_catalogue_step_runs_on_the_blocks_cluster(prefect_api: str, catalog_url: str, tmp_path: Path) -> None:
    from distributed import LocalCluster

    from blocks import DaskClusterBlock
    from flows.build_cube import build_cube

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        DaskClusterBlock(address=cluster.scheduler_address).save("test-shared", overwrite=True)
        result = build_cube(
            spec=_spec(tmp_path / "cube.zarr"),
            cluster_block="test-shared",
            catalog={"regions": [str(_regions(tmp_path / "halves.geojson"))]},
        )  # type: ignore[call-overload]  # a spec mapping
        prefixes = set(cluster.scheduler.task_prefixes)
    assert result.scheduler == cluster.scheduler_address
    assert result.catalog is not None
    assert result.catalog.scheduler == cluster.scheduler_address
    assert result.catalog.zonal_stats == 2 * 8  # two regions, eight 8-day steps
    assert "zonal_block" in prefixes  # the zonal statistics were computed on the block's scheduler


def test_catalog_settings_cannot_pick_another_cluster(prefect_api: str, tmp_path: Path) -> None:
    from flows.build_cube import build_cube

    with pytest.raises(Exception, match="runs on the build's cluster"):
        build_cube(spec=_spec(tmp_path / "cube.zarr"), catalog={"cluster": {"address": "tcp://127.0.0.1:1"}})  # type: ignore[call-overload]  # a spec mapping
