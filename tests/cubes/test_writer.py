"""The resumable writer and atomic publication, at library level (no Prefect)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from cubes.assemble import build_cube
from cubes.errors import WriteError
from cubes.plan import plan_cube
from cubes.spec import CubeSpec, parse_spec
from cubes.stats import cube_stats
from cubes.store import Publication, local_path
from cubes.verify import find_issues
from cubes.writer import missing_regions, start_build, write_regions, write_template


def spec_for(output: Path, **changes: Any) -> CubeSpec:
    data: dict[str, Any] = {
        "name": "w",
        "grid": {"bbox": [0, 40, 20, 50], "resolution": 0.25},
        "time": {"start": "2020-01-01", "end": "2020-12-31", "period": "8D", "restart_yearly": True},
        "sources": {
            "s": {
                "kind": "synthetic",
                "options": {"bbox": [0, 40, 20, 50], "resolution": 0.05, "end": "2020-12-31", "nan_fraction": 0.1},
            }
        },
        "variables": [{"name": "a", "source": "s", "units": "K", "count_valid": True}],
        "chunks": {"time": 2, "y": 20, "x": 20},
        "output": str(output),
    }
    data.update(changes)
    return parse_spec(data)


def test_sharded_cube_is_written_per_shard(tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "c.zarr", shards={"time": 4, "y": 40, "x": 80})
    plan = plan_cube(spec)
    assert len(plan.regions) == 12  # 46 bins in shards of 4
    assert all((r.time[0] % 4 == 0) for r in plan.regions)
    cube = build_cube(spec)
    build = Publication(tmp_path / "c.zarr").build(spec.fingerprint())
    start_build(plan, build, resume=False)
    write_template(cube, plan, build)
    assert write_regions(cube, plan, build, plan.regions) == 12
    assert find_issues(build.store) == []
    arr = zarr.open_group(str(build.store), mode="r")["a"]
    assert isinstance(arr, zarr.Array)
    assert arr.chunks == (2, 20, 20) and arr.shards == (4, 40, 80)
    xr.testing.assert_equal(xr.open_zarr(build.store, consolidated=False)["a"].load(), cube["a"].load())


def test_resume_writes_only_missing_regions(tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "c.zarr")
    plan = plan_cube(spec)
    cube = build_cube(spec)
    build = Publication(tmp_path / "c.zarr").build(spec.fingerprint())
    start_build(plan, build, resume=False)
    write_template(cube, plan, build)
    write_regions(cube, plan, build, plan.regions[:5])
    assert start_build(plan, build, resume=True) == {0, 1, 2, 3, 4}
    assert [r.index for r in missing_regions(plan, build)] == list(range(5, len(plan.regions)))
    written: list[int] = []
    assert write_regions(cube, plan, build, plan.regions, on_done=lambda r: written.append(r.index)) == 18
    assert written == list(range(5, 23))
    assert find_issues(build.store) == []
    # statistics gathered while writing, across both runs, equal numpy's over the written cube
    written_cube = xr.open_zarr(build.store, consolidated=False)
    units = {"a": "K", "a_count": "1"}
    for st in cube_stats(plan, build.region_records(), units):
        values = written_cube[st.name].values.astype(np.float64)
        valid = values[~np.isnan(values)]
        assert st.valid_fraction == pytest.approx(valid.size / values.size)
        assert st.mean == pytest.approx(valid.mean(), rel=1e-9)
        assert st.std == pytest.approx(valid.std(), rel=1e-6)
        assert (st.min, st.max) == (valid.min(), valid.max())
        assert st.best_time_index == int(np.argmax((~np.isnan(values)).sum(axis=(1, 2))))
        assert st.units == units[st.name]
    # without resume the build starts afresh
    assert start_build(plan, build, resume=False) == set()
    assert build.done_regions() == set()


def test_resume_refuses_another_spec(tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "c.zarr")
    build = Publication(tmp_path / "c.zarr").build(spec.fingerprint())
    start_build(plan_cube(spec), build, resume=False)
    other = spec_for(tmp_path / "c.zarr", chunks={"time": 4, "y": 20, "x": 20})
    with pytest.raises(WriteError, match="another spec or plan"):
        start_build(plan_cube(other), build, resume=True)


# one month instead of a year (4 regions instead of 23): publication does not depend on the data, only on the build
ONE_MONTH: dict[str, Any] = {
    "time": {"start": "2020-01-01", "end": "2020-01-31", "period": "8D", "restart_yearly": True},
    "sources": {
        "s": {
            "kind": "synthetic",
            "options": {"bbox": [0, 40, 20, 50], "resolution": 0.05, "end": "2020-01-31", "nan_fraction": 0.1},
        }
    },
}


def _publish_new(tmp_path: Path, title: str) -> Path:
    spec = spec_for(tmp_path / "c.zarr", metadata={"title": title}, **ONE_MONTH)
    plan = plan_cube(spec)
    cube = build_cube(spec)
    publication = Publication(tmp_path / "c.zarr")
    build = publication.build(spec.fingerprint())
    start_build(plan, build, resume=False)
    write_template(cube, plan, build)
    write_regions(cube, plan, build, plan.regions)
    return publication.publish(build)


def test_publication_swaps_a_symlink_and_keeps_one_previous_version(tmp_path: Path) -> None:
    out = tmp_path / "c.zarr"
    first = _publish_new(tmp_path, "one")
    assert out.is_symlink() and out.resolve() == first.resolve()
    assert not os.path.isabs(os.readlink(out))  # relative: the folder can be moved as a whole
    second = _publish_new(tmp_path, "two")
    third = _publish_new(tmp_path, "three")
    assert xr.open_zarr(out, consolidated=False).attrs["title"] == "three"
    versions = sorted((tmp_path / ".c.zarr.esdl" / "versions").iterdir())
    assert [v / "cube.zarr" for v in versions] == [second, third]
    assert not first.exists()
    assert not list((tmp_path / ".c.zarr.esdl" / "builds").iterdir())


def test_foreign_output_is_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "c.zarr"
    xr.Dataset({"v": ("x", np.arange(3))}).to_zarr(out)
    with pytest.raises(WriteError, match="not published by esdl"):
        _publish_new(tmp_path, "one")
    assert (out / "v").exists()


def test_remote_outputs_are_refused_clearly() -> None:
    with pytest.raises(WriteError, match="only local paths"):
        local_path("s3://bucket/cube.zarr")
    assert local_path("file:///tmp/x.zarr") == Path("/tmp/x.zarr")


def test_small_grids_group_time_blocks_but_keep_enough_regions(tmp_path: Path) -> None:
    spec = spec_for(
        tmp_path / "c.zarr",
        time={"start": "2020-01-01", "end": "2020-12-30", "period": "1D"},
        chunks={"time": 1, "y": 40, "x": 80},
    )
    plan = plan_cube(spec)
    assert plan.shape[0] == 365
    assert len(plan.regions) == 34  # 11 daily blocks a region: 365 // 32 = 11
    assert all(r.time[1] - r.time[0] == 11 for r in plan.regions[:-1])
    assert plan.regions[-1].time == (363, 365)
    big = spec_for(tmp_path / "c.zarr", chunks={"time": 1, "y": 40, "x": 80})
    assert len(plan_cube(big).regions) == 46  # fewer than 32 x 2 blocks: one block a region
