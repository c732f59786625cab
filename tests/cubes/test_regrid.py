"""Tests of spatial regridding: the aligned coarsen path, the xcube general path and the choice between them (the
temporal bin aggregation: test_regrid_time.py).

Expected values come from independent numpy computations: block reductions by reshaping, explicit windows
padded with NaN, and bin assignment by python datetime arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr

from cubes.errors import RegridError
from cubes.grid import TargetGrid
from cubes.regrid import kernels, regrid_space
from cubes.regrid import space as space_module
from cubes.regrid.space import Alignment, alignment
from cubes.sources import open_source, resolve_path
from cubes.sources.normalize import normalise
from cubes.spec import GridSpec, SourceSpec
from esdl_testing.arrays import (
    LAT_ATTRS,
    LON_ATTRS,
    METHODS,
    block_reduce,
    centres,
    latlon_dataset,
    pad_window,
    reduce_values,
)
from esdl_testing.samples import SAMPLE

# the regular source used by the aligned tests: 0.25 degree cells, lat 40..50 (40 rows), lon 0..12 (48 columns)
SRC_LAT = centres(40.0, 0.25, 40)
SRC_LON = centres(0.0, 0.25, 48)
TIMES = pd.date_range("2020-01-01", periods=3)


def grid(bbox: tuple[float, float, float, float], resolution: float | tuple[float, float], crs: str = "EPSG:4326"):
    return TargetGrid(GridSpec(crs=crs, bbox=bbox, resolution=resolution))


@pytest.fixture(scope="module")
def source_values() -> np.ndarray:
    rng = np.random.default_rng(10)
    values = rng.normal(280.0, 10.0, size=(3, 40, 48)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 4:8, 4:8] = np.nan  # one whole target cell without any valid input
    values[1, 8:12, 8:12] = np.nan
    values[1, 8, 8] = 300.0  # a target cell with a single valid input
    return values


def make_source(values: np.ndarray, chunks: dict | None = None, lat=SRC_LAT, lon=SRC_LON) -> xr.Dataset:
    ds = latlon_dataset(values, lat, lon, TIMES[: values.shape[0]])
    if chunks:
        ds = ds.chunk(chunks)
    return normalise(ds, "test")


# ------------------------------------------------------------------------------------ aligned path


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_kernel_matches_numpy(method: str, dtype: type) -> None:
    """The compiled kernels against the reshape-and-reduce reference, on blocks of 3 x 2 cells (not square, so a
    swapped factor shows) with NaNs, blocks with no valid cell and negative values; integers are taken as float64."""
    rng = np.random.default_rng(7)
    values = rng.normal(0.0, 50.0, size=(4, 12, 10))
    if dtype is np.int16:
        values = np.round(values)
    else:
        values[rng.random(values.shape) < 0.3] = np.nan
        values[:, 0:3, 0:2] = np.nan
    source: np.ndarray = values.astype(dtype)
    got = kernels.block_reduce(source, 3, 2, method)
    expected = block_reduce(source.astype(np.float64), 3, 2, method)
    assert got.shape == (4, 4, 5)
    assert got.dtype == (np.float32 if method == "count" or dtype is np.float32 else np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype is np.float32 else 1e-12, equal_nan=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("chunks", [None, {"time": 1, "lat": 7, "lon": 9}], ids=["numpy", "dask"])
def test_aligned_block_reduction(source_values: np.ndarray, method: str, chunks: dict | None) -> None:
    src = make_source(source_values, chunks)
    target = grid((1.0, 41.0, 11.0, 49.0), 1.0)
    assert alignment(src, target) == Alignment(factor_x=4, factor_y=4, offset_x=4, offset_y=4)
    out = regrid_space(src, target, {"v": method})["v"]
    assert out.dims == ("time", "lat", "lon")
    np.testing.assert_allclose(out["lat"].values, np.arange(41.5, 49.0, 1.0))
    np.testing.assert_allclose(out["lon"].values, np.arange(1.5, 11.0, 1.0))
    np.testing.assert_array_equal(out["time"].values, TIMES.to_numpy())
    expected = block_reduce(source_values[:, 4:36, 4:44], 4, 4, method)
    got = out.values
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    if method == "count":
        assert got[0, 0, 0] == 0 and not np.isnan(got).any()
        assert got[1, 1, 1] == 1
    else:
        assert np.isnan(got[:, 0, 0]).all()
        assert got[1, 1, 1] == 300.0
    # spot-check one cell against an element-wise reduction
    np.testing.assert_allclose(got[2, 3, 5], reduce_values(source_values[2, 16:20, 24:28], method), rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_aligned_target_partly_outside_source(source_values: np.ndarray, method: str) -> None:
    src = make_source(source_values, {"time": 3, "lat": 16, "lon": 16})
    target = grid((-2.0, 38.0, 6.0, 46.0), 1.0)  # 2 degrees beyond the source's west and south edges
    assert alignment(src, target) == Alignment(4, 4, -8, -8)
    got = regrid_space(src, target, {"v": method})["v"].values
    assert got.shape == (3, 8, 8)
    expected = block_reduce(pad_window(source_values, -8, 32, -8, 32), 4, 4, method)
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    outside = np.zeros((8, 8), bool)
    outside[:2, :] = outside[:, :2] = True
    if method == "count":
        assert (got[:, outside] == 0).all()
    else:
        assert np.isnan(got[:, outside]).all()
    assert not np.isnan(got[:, ~outside]).all()


@pytest.mark.parametrize("method", ["mean", "count"])
def test_aligned_target_entirely_outside_source(source_values: np.ndarray, method: str) -> None:
    src = make_source(source_values)
    got = regrid_space(src, grid((20.0, 0.0, 24.0, 2.0), 1.0), {"v": method})["v"].values
    assert got.shape == (3, 2, 4)
    if method == "count":
        np.testing.assert_array_equal(got, 0)
    else:
        assert np.isnan(got).all()


def test_aligned_anisotropic_factors(source_values: np.ndarray) -> None:
    src = make_source(source_values)
    target = grid((0.0, 40.0, 12.0, 50.0), (0.5, 1.0))
    assert alignment(src, target) == Alignment(factor_x=2, factor_y=4, offset_x=0, offset_y=0)
    got = regrid_space(src, target, {"v": "sum"})["v"].values
    np.testing.assert_allclose(got, block_reduce(source_values, 4, 2, "sum"), rtol=1e-5, equal_nan=True)


def test_aligned_same_resolution_is_a_window(source_values: np.ndarray) -> None:
    src = make_source(source_values)
    target = grid((1.0, 41.0, 3.0, 43.0), 0.25)
    assert alignment(src, target) == Alignment(1, 1, 4, 4)
    out = regrid_space(src, target, {"v": "mean"})["v"]
    np.testing.assert_array_equal(out.values, source_values[:, 4:12, 4:12])
    count = regrid_space(src, target, {"v": "count"})["v"].values
    np.testing.assert_array_equal(count, (~np.isnan(source_values[:, 4:12, 4:12])).astype(float))


def test_aligned_integer_source_becomes_float() -> None:
    values = np.arange(2 * 40 * 48, dtype=np.int16).reshape(2, 40, 48)
    src = make_source(values)
    got = regrid_space(src, grid((0.0, 40.0, 12.0, 50.0), 2.0), {"v": "mean"})["v"]
    assert got.dtype.kind == "f"
    np.testing.assert_allclose(got.values, block_reduce(values.astype(float), 8, 8, "mean"), rtol=1e-6)


def test_aligned_several_variables_and_methods(source_values: np.ndarray) -> None:
    ds = latlon_dataset(source_values, SRC_LAT, SRC_LON, TIMES)
    ds["w"] = ds["v"] * 2
    src = normalise(ds, "two")
    out = regrid_space(src, grid((0.0, 40.0, 12.0, 50.0), 2.0), {"v": "max", "w": "min"})
    assert set(out.data_vars) == {"v", "w"}
    np.testing.assert_allclose(out["v"].values, block_reduce(source_values, 8, 8, "max"), equal_nan=True)
    np.testing.assert_allclose(out["w"].values, block_reduce(source_values * 2, 8, 8, "min"), equal_nan=True)


def test_aligned_descending_and_0_360_source() -> None:
    """A source with descending latitudes and 0..360 longitudes is normalised, then aggregated exactly."""
    rng = np.random.default_rng(11)
    lat = centres(-2.0, 0.5, 8)[::-1]
    lon = centres(0.0, 0.5, 720)
    values = rng.normal(size=(1, 8, 720)).astype(np.float32)
    src = normalise(latlon_dataset(values, lat, lon, TIMES[:1]), "wrap")
    target = grid((-180.0, -2.0, 180.0, 2.0), 2.0)
    assert alignment(src, target) == Alignment(4, 4, 0, 0)
    got = regrid_space(src, target, {"v": "mean"})["v"].values
    # independent: flip rows, move 180..360 in front of 0..180, then 4x4 block means
    reordered = np.concatenate([values[:, ::-1, 360:], values[:, ::-1, :360]], axis=2)
    np.testing.assert_allclose(got, block_reduce(reordered, 4, 4, "mean"), rtol=1e-5)


@pytest.mark.parametrize("method", ["mean", "count"])
def test_aligned_ostia_sample(method: str) -> None:
    """The OSTIA sample (0..360, land masked) on a grid of 3x3 of its own cells."""
    src = open_source("ostia", SourceSpec(path=f"{SAMPLE}/ostia_monthly.nc"))
    x0, y0 = float(src["x"][0]), float(src["y"][0])
    rx, ry = 360.0 / 432, 10.0 / 18
    target = grid((x0 - rx / 2, y0 - ry / 2, x0 - rx / 2 + 360.0, y0 - ry / 2 + 10.0), (3 * rx, 3 * ry))
    assert alignment(src, target) == Alignment(3, 3, 0, 0)
    got = regrid_space(src, target, {"surface_temperature": method})["surface_temperature"].values
    raw = xr.open_dataset(resolve_path(f"{SAMPLE}/ostia_monthly.nc"))
    lon = raw["longitude"].values.astype(np.float64)
    order = np.argsort(np.where(lon >= 180, lon - 360, lon), kind="stable")
    values = raw["surface_temperature"].values[:, :, order]
    np.testing.assert_allclose(got, block_reduce(values, 3, 3, method), rtol=1e-5, equal_nan=True)
    assert np.isnan(values).any()


def test_aligned_synthetic_source() -> None:
    options = {"bbox": [-10.0, 30.0, 10.0, 50.0], "resolution": 0.5, "start": "2020-01-01", "end": "2020-01-04"}
    options |= {"nan_fraction": 0.3, "chunks": {"time": 2, "y": 15, "x": 25}, "variables": ["a"]}
    src = open_source("syn", SourceSpec(kind="synthetic", options=options))
    values = src["a"].values
    target = grid((-8.0, 32.0, 8.0, 48.0), 2.0)
    for method in ("mean", "count", "max"):
        got = regrid_space(src, target, {"a": method})["a"].values
        np.testing.assert_allclose(got, block_reduce(values[:, 4:36, 4:36], 4, 4, method), rtol=1e-5, equal_nan=True)


# ------------------------------------------------------------------------------- path selection


def test_alignment_detection(source_values: np.ndarray) -> None:
    src = make_source(source_values)
    assert alignment(src, grid((1.1, 41.0, 11.1, 49.0), 1.0)) is None  # offset not a whole number of cells
    assert alignment(src, grid((1.0, 41.1, 11.0, 49.1), 1.0)) is None
    assert alignment(src, grid((0.0, 40.0, 6.0, 46.0), 0.6)) is None  # factor 2.4
    assert alignment(src, grid((0.0, 40.0, 6.0, 46.0), 0.125)) is None  # finer than the source
    assert alignment(src, grid((0.0, 4_000_000.0, 100_000.0, 4_100_000.0), 25_000.0, "EPSG:3035")) is None
    assert alignment(src, grid((-1.0, 39.0, 13.0, 51.0), 0.5)) == Alignment(2, 2, -4, -4)


def test_regrid_space_chooses_the_path(source_values: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_general(ds, target, methods):
        calls.append("general")
        return xr.Dataset()

    monkeypatch.setattr(space_module, "regrid_general", fake_general)
    src = make_source(source_values)
    regrid_space(src, grid((1.0, 41.0, 11.0, 49.0), 1.0), {"v": "mean"})
    assert calls == []
    regrid_space(src, grid((1.1, 41.0, 11.1, 49.0), 1.0), {"v": "mean"})
    assert calls == ["general"]


# ------------------------------------------------------------------------------------ general path


def overlapping_mean(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, target: TargetGrid) -> np.ndarray:
    """Mean of the source cells whose centres fall inside each target cell (per time step)."""
    yb, xb = target.bounds("y"), target.bounds("x")
    out = np.full((values.shape[0], *target.shape), np.nan)
    for j, (y0, y1) in enumerate(yb):
        rows = (lat > y0) & (lat < y1)
        for i, (x0, x1) in enumerate(xb):
            cols = (lon > x0) & (lon < x1)
            block = values[:, rows][:, :, cols]
            out[:, j, i] = [reduce_values(b, "mean") for b in block]
    return out


def test_general_path_regular_source() -> None:
    lat, lon = centres(40.0, 0.1, 100), centres(0.0, 0.1, 100)
    rng = np.random.default_rng(12)
    smooth = 2.0 * lon[None, None, :] + 3.0 * lat[None, :, None]
    values = (smooth + rng.normal(0.0, 0.2, size=(2, 100, 100))).astype(np.float32)
    src = make_source(values, lat=lat, lon=lon)
    target = grid((1.02, 41.02, 8.02, 48.02), 0.7)  # 7 source cells a side, edges between source centres
    assert alignment(src, target) is None
    out = regrid_space(src, target, {"v": "mean"})["v"]
    assert out.dims == ("time", "lat", "lon")
    np.testing.assert_allclose(out["lat"].values, target.y)
    np.testing.assert_allclose(out["lon"].values, target.x)
    got = out.values
    assert got.dtype == np.float32
    assert not np.isnan(got).any()
    assert np.nanmin(values) <= got.min() and got.max() <= np.nanmax(values)
    expected = overlapping_mean(values, lat, lon, target)
    np.testing.assert_allclose(got, expected, atol=0.5)
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99
    lo = regrid_space(src, target, {"v": "min"})["v"].values
    hi = regrid_space(src, target, {"v": "max"})["v"].values
    assert np.all(lo <= got + 1e-3) and np.all(got <= hi + 1e-3)
    assert np.nanmin(values) <= lo.min() and hi.max() <= np.nanmax(values)


@pytest.mark.parametrize("method", ["count", "sum"])
def test_general_path_rejects_count_and_sum(source_values: np.ndarray, method: str) -> None:
    src = make_source(source_values)
    target = grid((1.1, 41.0, 11.1, 49.0), 1.0)
    with pytest.raises(RegridError, match=rf"variable 'v': spatial aggregation '{method}' is not available"):
        regrid_space(src, target, {"v": method})


def test_general_path_curvilinear_source() -> None:
    j, i = np.meshgrid(np.arange(60.0), np.arange(80.0), indexing="ij")
    lat = 40.0 + 0.12 * j + 0.03 * i  # rotated and sheared, 0.12 degree pixels
    lon = 0.5 + 0.12 * i - 0.03 * j
    field = 2.0 * lon + 3.0 * lat
    values = np.stack([field, field + 1.0]).astype(np.float32)
    ds = xr.Dataset(
        {"v": (("time", "nj", "ni"), values, {"units": "K"})},
        coords={
            "time": TIMES[:2].to_numpy(),
            "lat": (("nj", "ni"), lat, LAT_ATTRS),
            "lon": (("nj", "ni"), lon, LON_ATTRS),
        },
    )
    src = normalise(ds, "curvi")
    assert src.attrs["esdl_curvilinear"] is True
    target = grid((2.0, 42.0, 8.0, 46.0), 0.5)
    assert alignment(src, target) is None
    got = regrid_space(src, target, {"v": "mean"})["v"].values
    assert got.shape == (2, 8, 12)
    valid = ~np.isnan(got)
    assert valid.all()  # the target lies well inside the source's footprint
    assert np.nanmin(values) <= got.min() and got.max() <= np.nanmax(values)
    np.testing.assert_allclose(got[1] - got[0], 1.0, atol=1e-4)  # both time steps resampled alike
    # rectification samples the source: every value comes from source pixels in or next to the target cell
    margin = 0.15
    for jj, (y0, y1) in enumerate(target.bounds("y")):
        for ii, (x0, x1) in enumerate(target.bounds("x")):
            near = (lat >= y0 - margin) & (lat <= y1 + margin) & (lon >= x0 - margin) & (lon <= x1 + margin)
            assert field[near].min() - 1e-3 <= got[0, jj, ii] <= field[near].max() + 1e-3, (jj, ii)
    # and follows the smooth field closely on average
    expected = 2.0 * target.x[None, :] + 3.0 * target.y[:, None]
    assert abs(float(np.mean(got[0] - expected))) < 0.3
    assert np.corrcoef(got[0].ravel(), expected.ravel())[0, 1] > 0.99


def test_general_path_projected_seviri_sample() -> None:
    src = open_source("seviri", SourceSpec(path=f"{SAMPLE}/toa_brightness_stereographic.nc"))
    src_crs = pyproj.CRS.from_wkt(src.attrs["esdl_crs"])
    target = grid((-60.0, 40.0, -20.0, 60.0), 0.5)
    got = regrid_space(src, target, {"data": "mean"})["data"].values
    assert got.shape == (1, 40, 80)
    raw = src["data"].values[0]
    valid = ~np.isnan(got[0])
    assert valid.mean() > 0.9
    assert np.nanmin(raw) <= got[0][valid].min() and got[0][valid].max() <= np.nanmax(raw)
    # each value lies within the range of the source pixels around the target cell's centre
    to_src = pyproj.Transformer.from_crs("EPSG:4326", src_crs, always_xy=True)
    sx, sy = src["x"].values, src["y"].values
    radius = 120_000.0  # metres: half a target cell plus a couple of 35 km source pixels
    for jj, ii in [(0, 0), (5, 17), (20, 40), (33, 70), (39, 79), (12, 60)]:
        if not valid[jj, ii]:
            continue
        cx, cy = to_src.transform(target.x[ii], target.y[jj])
        near = raw[np.abs(sy - cy) <= radius][:, np.abs(sx - cx) <= radius]
        assert near.size > 0
        assert np.nanmin(near) - 1e-3 <= got[0, jj, ii] <= np.nanmax(near) + 1e-3, (jj, ii)


@pytest.mark.parametrize("method", ["mean", "sum", "min", "max", "count"])
def test_fine_curvilinear_source_is_binned_exactly(method: str) -> None:
    """A source much finer than the target: each cell aggregates the pixels whose centres it contains."""
    rng = np.random.default_rng(7)
    j, i = np.meshgrid(np.arange(90.0), np.arange(120.0), indexing="ij")
    lat = 40.05 + 0.05 * j + 0.01 * i  # sheared 0.05 degree pixels
    lon = 0.05 + 0.05 * i - 0.01 * j
    values = rng.normal(280.0, 5.0, (3, *lat.shape)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    ds = xr.Dataset(
        {"v": (("time", "nj", "ni"), values, {"units": "K"})},
        coords={
            "time": TIMES[:3].to_numpy(),
            "lat": (("nj", "ni"), lat, LAT_ATTRS),
            "lon": (("nj", "ni"), lon, LON_ATTRS),
        },
    )
    target = grid((1.0, 41.0, 5.0, 44.0), 0.5)
    got = regrid_space(normalise(ds, "fine"), target, {"v": method})["v"].values
    # independent: loop over target cells, select pixels by centre with plain comparisons
    reducers: dict[str, Callable[[np.ndarray], Any]] = {
        "mean": np.mean,
        "sum": np.sum,
        "min": np.min,
        "max": np.max,
        "count": len,
    }
    reduce = reducers[method]
    expected = np.full(got.shape, np.nan)
    for jj, (y0, y1) in enumerate(target.bounds("y")):
        for ii, (x0, x1) in enumerate(target.bounds("x")):
            inside = (lat >= y0) & (lat < y1) & (lon >= x0) & (lon < x1)
            for t in range(3):
                v = values[t][inside]
                v = v[~np.isnan(v)].astype(np.float64)
                expected[t, jj, ii] = reduce(v) if v.size else (0 if method == "count" else np.nan)
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("chunked", [False, True])
def test_coarser_regular_source_is_interpolated_exactly(chunked: bool) -> None:
    """Bilinear interpolation reproduces a linear field at the target cell centres (no half-cell shift)."""
    lat = 35.15 + 0.3 * np.arange(40)
    lon = -9.85 + 0.3 * np.arange(60)
    field = (2.0 * lon[None, :] + 3.0 * lat[:, None]).astype(np.float32)
    values = np.stack([field, field + 1.0])
    values[1, 5, 7] = np.nan
    ds = xr.Dataset(
        {"v": (("time", "lat", "lon"), values, {"units": "K"})},
        coords={"time": TIMES[:2].to_numpy(), "lat": ("lat", lat, LAT_ATTRS), "lon": ("lon", lon, LON_ATTRS)},
    )
    if chunked:
        ds = ds.chunk({"time": 1, "lat": 20, "lon": 30})
    target = grid((-9.0, 36.0, 7.0, 46.0), 0.25)
    got = regrid_space(normalise(ds, "coarse"), target, {"v": "mean"})["v"].values
    expected = 2.0 * target.x[None, :] + 3.0 * target.y[:, None]
    np.testing.assert_allclose(got[0], expected, atol=1e-3)
    np.testing.assert_allclose(got[1][np.isfinite(got[1])], (expected + 1.0)[np.isfinite(got[1])], atol=1e-3)
    # only the target cells whose interpolation stencil touches the missing value are missing
    y0, x0 = lat[5], lon[7]
    near = (np.abs(target.y[:, None] - y0) < 0.3) & (np.abs(target.x[None, :] - x0) < 0.3)
    np.testing.assert_array_equal(np.isnan(got[1]), near)
