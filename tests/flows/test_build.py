"""End-to-end cube builds as Prefect flow runs on a real server and a real Dask cluster, from real sample data.

The numbers are checked against independent computations that read the files with netCDF4 and use plain
numpy/scipy, never the library's own code.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import xarray as xr
from scipy.interpolate import RegularGridInterpolator

from cubes.verify import find_issues
from esdl_testing.samples import sample_path
from flows.results import BuildResult

Merged = tuple[BuildResult, xr.Dataset]
"""The flow's result and the opened cube."""

# a grid aligned with OSTIA's cells (5/6 x 5/9 degrees) at twice their size, reaching north over HadCM3 and SEVIRI
GRID = {
    "bbox": [-100.41666666666667, -5.277777777777778, -30.41666666666667, 70.27777777777777],
    "resolution": [5 / 3, 10 / 9],
}


def merged_spec(output: Path) -> dict[str, Any]:
    """OSTIA SST, HadCM3 air temperature and SEVIRI brightness temperature in one yearly cube."""
    return {
        "name": "merged",
        "grid": GRID,
        "time": {"start": "2006-01-01", "end": "2016-12-31", "period": "1Y"},
        "sources": {
            "ostia": {"path": sample_path("ostia_monthly.nc")},
            "hadcm3": {"path": sample_path("A1B_north_america.nc")},
            "seviri": {"path": sample_path("toa_brightness_stereographic.nc")},
        },
        "variables": [
            {
                "name": "sst",
                "source": "ostia",
                "source_variable": "surface_temperature",
                "count_valid": True,
                "attrs": {"standard_name": "sea_surface_temperature"},
            },
            {"name": "tas", "source": "hadcm3", "source_variable": "air_temperature", "units": "K"},
            {"name": "tas_c", "source": "hadcm3", "source_variable": "air_temperature", "units": "degC"},
            {"name": "bt", "source": "seviri", "source_variable": "data", "temporal_aggregation": "max"},
        ],
        "chunks": {"time": 2, "y": 34, "x": 42},
        "output": str(output),
        "metadata": {"title": "merged sample cube", "license": "CC-BY-4.0"},
    }


@pytest.fixture(scope="module")
def merged(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Merged:
    """Build the merged cube once through the flow; return the flow's result and the opened cube."""
    from flows.build_cube import build_cube

    out = tmp_path_factory.mktemp("merged") / "merged.zarr"
    result = build_cube(spec=merged_spec(out), cluster={"min_workers": 1, "max_workers": 2})  # type: ignore[call-overload]  # a spec mapping
    return result, xr.open_zarr(out, consolidated=False)


def _years(nc: netCDF4.Dataset) -> np.ndarray:
    times = netCDF4.num2date(nc["time"][:], nc["time"].units, getattr(nc["time"], "calendar", "standard"))
    assert isinstance(times, np.ndarray)
    return np.array([t.year for t in times])


def test_flow_result_and_publication(merged: Merged) -> None:
    result, ds = merged
    out = Path(result.output)
    assert out.is_symlink() and Path(result.path) == out.resolve()
    assert result.written == result.regions == 6
    assert set(result.variables) == {"sst", "sst_count", "tas", "tas_c", "bt"}
    assert find_issues(out) == []
    assert ds.sizes == {"time": 11, "lat": 68, "lon": 42, "bnds": 2}
    assert ds.attrs["Conventions"] == "CF-1.9, ACDD-1.3" and ds.attrs["title"] == "merged sample cube"
    assert all(ds[v].attrs["units"] for v in ds.data_vars)
    assert (Path(result.path).parent / "quicklooks" / "sst.png").stat().st_size > 1000


def test_zarr_v3_chunks_and_time_bounds(merged: Merged) -> None:
    import zarr

    result, ds = merged
    group = zarr.open_group(result.path, mode="r")
    assert group.metadata.zarr_format == 3
    sst = group["sst"]
    assert isinstance(sst, zarr.Array) and sst.chunks == (2, 34, 42)
    bnds = ds["time_bnds"].values
    assert bnds[0, 0] == np.datetime64("2006-01-01") and bnds[-1, 1] == np.datetime64("2017-01-01")
    assert (bnds[1:, 0] == bnds[:-1, 1]).all()


def test_sst_equals_numpy_block_and_year_means(merged: Merged) -> None:
    _, ds = merged
    with netCDF4.Dataset(sample_path("ostia_monthly.nc")) as nc:
        sst = nc["surface_temperature"][:].filled(np.nan).astype(np.float64)
        lon = nc["longitude"][:]
        years = _years(nc)
    i0 = int(np.argmin(np.abs(lon - 260.0)))  # -100.4167 .. -98.75 is the first target column: 260.0, 260.83
    blocks = sst[:, :, i0 : i0 + 84].reshape(len(years), 9, 2, 42, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks over land
        spatial = np.nanmean(blocks, axis=(2, 4))
        expected = np.stack(
            [
                np.nanmean(spatial[years == y], axis=0) if (years == y).any() else np.full((9, 42), np.nan)
                for y in range(2006, 2017)
            ]
        )
    got = ds["sst"].values
    np.testing.assert_allclose(got[:, :9], expected, rtol=0, atol=1e-4)
    assert np.isnan(got[:, 9:]).all()  # north of OSTIA's coverage
    counts = np.stack([(~np.isnan(spatial[years == y])).sum(axis=0) for y in range(2006, 2017)])
    np.testing.assert_array_equal(ds["sst_count"].values[:, :9], counts)
    assert int(ds["sst_count"].values.sum()) == int((~np.isnan(spatial[(years >= 2006) & (years <= 2016)])).sum())


def test_tas_matches_bilinear_interpolation(merged: Merged) -> None:
    _, ds = merged
    with netCDF4.Dataset(sample_path("A1B_north_america.nc")) as nc:
        tas = nc["air_temperature"][:].filled(np.nan).astype(np.float64)
        lon = nc["longitude"][:].astype(np.float64) - 360.0
        lat = nc["latitude"][:].astype(np.float64)
        years = _years(nc)
    grid_y, grid_x = np.meshgrid(ds["lat"].values, ds["lon"].values, indexing="ij")
    for k, year in enumerate(range(2006, 2017)):
        interp = RegularGridInterpolator((lat, lon), tas[years == year][0], bounds_error=False, fill_value=np.nan)
        expected = interp(np.stack([grid_y, grid_x], axis=-1))
        got = ds["tas"].values[k]
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(ds["tas_c"].values, ds["tas"].values - 273.15, atol=1e-4)
    assert ds["tas_c"].attrs["units"] == "degC"


def test_seviri_projected_source_is_binned_onto_the_grid(merged: Merged) -> None:
    """SEVIRI's ~35 km pixels are finer than half a 1.67 x 1.11 degree cell: each cell averages its pixels."""
    _, ds = merged
    with netCDF4.Dataset(sample_path("toa_brightness_stereographic.nc")) as nc:
        data = nc["data"][:].filled(np.nan).astype(np.float64)
        lat, lon = nc["lat"][:].astype(np.float64), nc["lon"][:].astype(np.float64)
    year = list(range(2006, 2017)).index(2016)
    bt = ds["bt"].values
    assert np.isnan(np.delete(bt, year, axis=0)).all()  # the only SEVIRI scene is from May 2016
    field = bt[year]
    # independent: the file's own lat/lon of each pixel centre, cell membership by plain comparisons
    lat_edges = np.append(ds["lat_bnds"].values[:, 0], ds["lat_bnds"].values[-1, 1])
    lon_edges = np.append(ds["lon_bnds"].values[:, 0], ds["lon_bnds"].values[-1, 1])
    rows = np.searchsorted(lat_edges, lat, side="right") - 1
    cols = np.searchsorted(lon_edges, lon, side="right") - 1
    ok = (rows >= 0) & (rows < field.shape[0]) & (cols >= 0) & (cols < field.shape[1]) & np.isfinite(data)
    total = np.zeros(field.shape)
    count = np.zeros(field.shape)
    np.add.at(total, (rows[ok], cols[ok]), data[ok])
    np.add.at(count, (rows[ok], cols[ok]), 1)
    with np.errstate(invalid="ignore"):
        expected = np.where(count > 0, total / count, np.nan)
    both = np.isfinite(expected) & np.isfinite(field)
    assert both.sum() > 400
    # the file's lat/lon and pyproj's transform of x/y differ in the last digits: pixels on a cell edge may
    # fall on either side, so a few cells differ a little; the rest are equal
    assert np.mean(np.isfinite(expected) == np.isfinite(field)) > 0.995
    diff = np.abs(field[both] - expected[both])
    assert np.median(diff) < 1e-3 and np.mean(diff < 1e-3) > 0.95


def test_artifacts_are_recorded(merged: Merged, prefect_api: str) -> None:
    import httpx

    # the REST API directly: prefect 3.8.8's client sends nulls this server version rejects for this call
    response = httpx.post(
        f"{prefect_api}/artifacts/filter", json={"artifacts": {"key": {"like_": "cube-merged"}}, "limit": 200}
    )
    response.raise_for_status()
    found = {a["key"]: a for a in response.json()}
    assert {"cube-merged", "cube-merged-stats", "cube-merged-sst", "cube-merged-bt"} <= set(found)
    assert "Time axis" in found["cube-merged"]["data"] and "data:image/png;base64," in found["cube-merged-sst"]["data"]
    assert found["cube-merged-stats"]["type"] == "table"


def test_flow_rejects_bad_spec_before_writing(prefect_api: str, tmp_path: Path) -> None:
    from cubes.errors import SpecError
    from flows.build_cube import build_cube

    spec = merged_spec(tmp_path / "bad.zarr")
    spec["grid"] = {**GRID, "resolution": 0.7}
    with pytest.raises(SpecError, match="grid"):
        build_cube(spec=spec)  # type: ignore[call-overload]  # a spec mapping
    assert list(tmp_path.iterdir()) == []


def test_result_is_json(merged: Merged) -> None:
    result, _ = merged
    assert json.loads(result.model_dump_json())["regions"] == 6
    assert BuildResult.model_validate_json(result.model_dump_json()) == result


def test_xcube_serve_opens_the_cube(merged: Merged, tmp_path: Path) -> None:
    """The published cube is served by ``xcube serve``: dataset metadata and a rendered map tile."""
    import socket
    import subprocess
    import sys
    import time

    import httpx
    import yaml

    result, _ = merged
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {"Datasets": [{"Identifier": "merged", "Title": "merged", "FileSystem": "file", "Path": result.output}]}
        )
    )
    xcube = Path(sys.executable).parent / "xcube"
    proc = subprocess.Popen(
        [str(xcube), "serve", "--address", "127.0.0.1", "--port", str(port), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                info = httpx.get(f"{base}/datasets/merged", timeout=10)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "xcube serve did not start"
                time.sleep(0.5)
        assert info.status_code == 200, info.text[:500]
        variables = {v["name"]: v for v in info.json()["variables"]}
        assert {"sst", "tas", "bt"} <= set(variables)
        assert variables["sst"]["shape"] == [11, 68, 42] and variables["sst"]["units"] == "K"
        tile = httpx.get(f"{base}/tiles/merged/sst/0/0/0", params={"time": "2008-07-02"}, timeout=60)
        assert tile.status_code == 200, tile.text[:500]
        assert tile.content[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cluster_from_a_saved_block(prefect_api: str, tmp_path: Path) -> None:
    """A saved ``esdl-dask-cluster`` block points the flow at an existing scheduler, which does the work."""
    from distributed import Client, LocalCluster

    from blocks import DaskClusterBlock
    from flows.build_cube import build_cube

    spec = merged_spec(tmp_path / "block.zarr")
    spec["variables"] = spec["variables"][:1]

    def transitions(client: Client) -> int:
        return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter))

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        DaskClusterBlock(address=cluster.scheduler_address).save("test-external", overwrite=True)
        saved = DaskClusterBlock.load("test-external")
        assert saved.settings().address == cluster.scheduler_address  # type: ignore[union-attr]  # sync or async
        before = transitions(client)
        result = build_cube(spec=spec, cluster_block="test-external")  # type: ignore[call-overload]  # a spec mapping
        assert transitions(client) - before > 100  # the external scheduler ran the array work
    assert result.written == result.regions == 6
    assert find_issues(result.output) == []


def test_resume_of_a_published_cube_builds_nothing(merged: Merged) -> None:
    from flows.build_cube import build_cube

    result, _ = merged
    again = build_cube(spec=merged_spec(Path(result.output)), resume=True)  # type: ignore[call-overload]  # a spec mapping
    assert again.written == 0 and again.regions == result.regions
    assert again.path == str(Path(result.output).resolve())
