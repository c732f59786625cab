"""Tests of the source kinds and their normalisation (CF decoding, axis order, longitude wrapping, CRS, time).

Every input is built here (tmp_path) or taken from the iris sample data; expected values are computed with
numpy from the raw arrays, never with the library.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pyproj
import pystac
import pytest
import xarray as xr

from cubes.errors import CubeError, SourceError
from cubes.sources import open_source, resolve_path, source_kinds
from cubes.sources.synthetic import synthetic_values
from cubes.spec import SourceSpec
from esdl_testing.arrays import LAT_ATTRS, LON_ATTRS, latlon_dataset

SAMPLE = "pkg://iris_sample_data/sample_data"


def open_path(path: str | Path, name: str = "src", **kwargs) -> xr.Dataset:
    return open_source(name, SourceSpec(path=str(path), **kwargs))


def crs_of(ds: xr.Dataset) -> pyproj.CRS:
    return pyproj.CRS.from_wkt(ds.attrs["esdl_crs"])


def assert_normalised_regular(ds: xr.Dataset) -> None:
    """Invariants of every normalised regular source."""
    assert ds.attrs["esdl_curvilinear"] is False
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert ds.indexes["time"].is_monotonic_increasing
    for dim in ("y", "x"):
        assert ds[dim].ndim == 1
        assert np.all(np.diff(ds[dim].values) > 0), f"{dim} is not strictly ascending"
    for name, var in ds.data_vars.items():
        assert {"time", "y", "x"} <= set(var.dims), name
    if crs_of(ds).is_geographic:
        assert ds["x"].values.min() >= -180 and ds["x"].values.max() < 180


# ------------------------------------------------------------------------------------------- NetCDF


@pytest.fixture
def packed_nc(tmp_path: Path) -> dict:
    """A NetCDF file with int16 packing, a fill value, descending latitudes and 0..360 longitudes.

    Written with netCDF4 directly, so that the packing is exactly what is stored on disk.
    """
    rng = np.random.default_rng(1)
    lat = np.array([45.5, 44.5, 43.5, 42.5])  # descending
    lon = np.arange(0.0, 360.0, 30.0)  # 0..330, 180 and above must wrap
    times = np.array([0, 1, 2])  # days since 2020-01-01
    raw = rng.integers(-3000, 3000, size=(3, lat.size, lon.size)).astype(np.int16)
    raw[0, 0, 0] = raw[1, 2, 7] = raw[2, 3, 11] = -32768
    scale, offset = np.float32(0.01), np.float32(273.15)
    path = tmp_path / "packed.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", None)
        nc.createDimension("latitude", lat.size)
        nc.createDimension("longitude", lon.size)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar, t.standard_name = "days since 2020-01-01 00:00:00", "standard", "time"
        t[:] = times
        la = nc.createVariable("latitude", "f8", ("latitude",))
        la.units, la.standard_name = "degrees_north", "latitude"
        la[:] = lat
        lo = nc.createVariable("longitude", "f8", ("longitude",))
        lo.units, lo.standard_name = "degrees_east", "longitude"
        lo[:] = lon
        v = nc.createVariable("tas", "i2", ("time", "latitude", "longitude"), fill_value=np.int16(-32768))
        v.set_auto_maskandscale(False)
        v.scale_factor, v.add_offset, v.units = scale, offset, "K"
        v[:] = raw
    decoded = np.where(raw == -32768, np.nan, raw.astype(np.float64) * float(scale) + float(offset))
    return {"path": path, "raw": raw, "decoded": decoded, "lat": lat, "lon": lon}


def test_netcdf_packed_values_are_decoded(packed_nc: dict) -> None:
    ds = open_path(packed_nc["path"], "packed")
    assert_normalised_regular(ds)
    assert list(ds["tas"].dims) == ["time", "y", "x"]
    assert ds["tas"].dtype.kind == "f"
    # independent expectation: flip latitude, map 0..360 to -180..180 and sort the columns with it
    lon = packed_nc["lon"]
    wrapped = np.where(lon >= 180, lon - 360, lon)
    order = np.argsort(wrapped)
    expected = packed_nc["decoded"][:, ::-1, :][:, :, order]
    np.testing.assert_allclose(ds["y"].values, packed_nc["lat"][::-1])
    np.testing.assert_allclose(ds["x"].values, wrapped[order])
    np.testing.assert_allclose(ds["x"].values, np.arange(-180.0, 180.0, 30.0))
    np.testing.assert_allclose(ds["tas"].values, expected, rtol=1e-6, atol=1e-4)
    assert int(np.isnan(ds["tas"].values).sum()) == 3
    np.testing.assert_array_equal(ds["time"].values, pd.date_range("2020-01-01", periods=3).to_numpy())
    assert ds["tas"].attrs["units"] == "K"
    assert crs_of(ds).is_geographic


def test_netcdf_values_move_with_coordinates(packed_nc: dict) -> None:
    """Label-based check: the value at (lat, lon) in the file is the value at (lat, wrapped lon) after opening."""
    ds = open_path(packed_nc["path"], "packed").load()
    dec = packed_nc["decoded"]
    for j, la in enumerate(packed_nc["lat"]):
        for i, lo in enumerate(packed_nc["lon"]):
            got = ds["tas"].sel(y=la, x=lo - 360 if lo >= 180 else lo).values
            np.testing.assert_allclose(got, dec[:, j, i], rtol=1e-6, atol=1e-4)


def test_netcdf_unsorted_time_is_sorted(tmp_path: Path) -> None:
    times = pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-02"])
    values = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    latlon_dataset(values, [0.5, 1.5], [10.5, 11.5], times).to_netcdf(tmp_path / "t.nc")
    ds = open_path(tmp_path / "t.nc")
    assert_normalised_regular(ds)
    np.testing.assert_array_equal(ds["time"].values, pd.date_range("2020-01-01", periods=3).to_numpy())
    np.testing.assert_array_equal(ds["v"].values, values[[1, 2, 0]])


def test_netcdf_glob_concatenates_along_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lat, lon = [10.5, 11.5, 12.5], [-1.5, -0.5, 0.5, 1.5]
    parts = {}
    # file names sort in the opposite order of their times
    for name, first in (("c.nc", "2020-01-01"), ("b.nc", "2020-01-03"), ("a.nc", "2020-01-05")):
        values = rng.normal(size=(2, 3, 4)).astype(np.float32)
        times = pd.date_range(first, periods=2)
        latlon_dataset(values, lat, lon, times).to_netcdf(tmp_path / name)
        parts[first] = values
    (tmp_path / "other.txt").write_text("not matched")
    ds = open_path(tmp_path / "*.nc", "parts", kind="netcdf")
    assert_normalised_regular(ds)
    np.testing.assert_array_equal(ds["time"].values, pd.date_range("2020-01-01", periods=6).to_numpy())
    expected = np.concatenate([parts[k] for k in sorted(parts)])
    np.testing.assert_array_equal(ds["v"].values, expected)


def test_netcdf_glob_without_match(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no files match"):
        open_path(tmp_path / "nothing_*.nc", "none", kind="netcdf")


# --------------------------------------------------------------------------------------------- Zarr


def zarr_source_dataset() -> tuple[xr.Dataset, np.ndarray]:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 3, 5)).astype(np.float32)
    values[1, 1, 1] = np.nan
    lat = [2.5, 1.5, 0.5]  # descending
    lon = [170.5, 175.5, 180.5, 185.5, 190.5]  # crosses the antimeridian in 0..360
    ds = latlon_dataset(values, lat, lon, pd.date_range("2021-03-01", periods=4, freq="6h"))
    # expected: lat ascending; longitudes 180.5.. become -179.5.. and move to the front
    expected = values[:, ::-1, :][:, :, [2, 3, 4, 0, 1]]
    return ds, expected


@pytest.mark.filterwarnings("ignore:Failed to open Zarr store with consolidated metadata:RuntimeWarning")
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_store(tmp_path: Path, zarr_format: int) -> None:
    ds_in, expected = zarr_source_dataset()
    store = tmp_path / f"cube_v{zarr_format}.zarr"
    ds_in.to_zarr(store, zarr_format=zarr_format, consolidated=zarr_format == 2)
    marker = ".zgroup" if zarr_format == 2 else "zarr.json"
    assert (store / marker).exists()
    ds = open_path(store, "z")  # kind inferred from the suffix
    assert_normalised_regular(ds)
    np.testing.assert_allclose(ds["x"].values, [-179.5, -174.5, -169.5, 170.5, 175.5])
    np.testing.assert_allclose(ds["y"].values, [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(ds["v"].values, expected)
    np.testing.assert_array_equal(ds["time"].values, ds_in["time"].values)


@pytest.mark.filterwarnings("ignore:Failed to open Zarr store with consolidated metadata:RuntimeWarning")
def test_zarr_in_memory_filesystem() -> None:
    ds_in, expected = zarr_source_dataset()
    url = f"memory://esdl-test-{uuid.uuid4().hex}/cube.zarr"
    ds_in.to_zarr(url, zarr_format=3, consolidated=False)
    try:
        ds = open_path(url, "mem")
        assert_normalised_regular(ds)
        np.testing.assert_array_equal(ds["v"].values, expected)
    finally:
        import fsspec

        fsspec.filesystem("memory").rm(url.removeprefix("memory://").rsplit("/", 1)[0], recursive=True)


# ------------------------------------------------------------------------------------------ GeoTIFF


def write_tif(path: Path, data: np.ndarray, x: np.ndarray, y: np.ndarray, crs: str) -> None:
    dims = ("band", "y", "x") if data.ndim == 3 else ("y", "x")
    coords = {"y": y, "x": x} | ({"band": np.arange(1, data.shape[0] + 1)} if data.ndim == 3 else {})
    da = xr.DataArray(data, dims=dims, coords=coords).rio.write_crs(crs)
    da.rio.to_raster(path)


TIF_X = np.array([0.5, 1.5, 2.5, 3.5])
TIF_Y = np.array([12.5, 11.5, 10.5])  # north-up: descending


def test_geotiff_geographic(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_tif(tmp_path / "a.tif", data, TIF_X, TIF_Y, "EPSG:4326")
    ds = open_path(tmp_path / "a.tif", "tif", options={"time": "2020-06-01"})
    assert_normalised_regular(ds)
    assert list(ds.data_vars) == ["band_data"]
    assert crs_of(ds).equals(pyproj.CRS.from_epsg(4326))
    np.testing.assert_allclose(ds["y"].values, TIF_Y[::-1])
    np.testing.assert_allclose(ds["x"].values, TIF_X)
    np.testing.assert_array_equal(ds["time"].values, [np.datetime64("2020-06-01", "ns")])
    np.testing.assert_array_equal(ds["band_data"].values, data[None, ::-1, :])


def test_geotiff_projected_crs(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4) * 2.0
    x = 4_000_000.0 + 1000.0 * TIF_X
    y = 3_000_000.0 + 1000.0 * TIF_Y
    write_tif(tmp_path / "laea.tif", data, x, y, "EPSG:3035")
    ds = open_path(tmp_path / "laea.tif", "laea", options={"time": "2020-06-01", "variable": "ndvi"})
    assert_normalised_regular(ds)
    assert list(ds.data_vars) == ["ndvi"]
    crs = crs_of(ds)
    assert not crs.is_geographic
    assert crs.to_epsg() == 3035
    np.testing.assert_allclose(ds["x"].values, x)
    np.testing.assert_allclose(ds["y"].values, y[::-1])
    np.testing.assert_array_equal(ds["ndvi"].values, data[None, ::-1, :])


def test_geotiff_bands(tmp_path: Path) -> None:
    data = np.stack([np.full((3, 4), 1.0), np.full((3, 4), 2.0), np.full((3, 4), 3.0)]).astype(np.float32)
    data[1, 0, 0] = 7.0
    write_tif(tmp_path / "multi.tif", data, TIF_X, TIF_Y, "EPSG:4326")
    ds = open_path(tmp_path / "multi.tif", "multi", options={"time": "2020-01-01"})
    assert sorted(str(name) for name in ds.data_vars) == ["band_data_1", "band_data_2", "band_data_3"]
    for b in range(3):
        np.testing.assert_array_equal(ds[f"band_data_{b + 1}"].values, data[None, b, ::-1, :])
    one = open_path(tmp_path / "multi.tif", "multi", options={"time": "2020-01-01", "band": 2})
    assert list(one.data_vars) == ["band_data"]
    np.testing.assert_array_equal(one["band_data"].values, data[None, 1, ::-1, :])


def test_geotiff_without_time_needs_option(tmp_path: Path) -> None:
    write_tif(tmp_path / "a.tif", np.zeros((3, 4), np.float32), TIF_X, TIF_Y, "EPSG:4326")
    with pytest.raises(SourceError, match=r"source 'notime' has no time coordinate; give one with options\.time"):
        open_path(tmp_path / "a.tif", "notime")


def test_geotiff_garbage(tmp_path: Path) -> None:
    (tmp_path / "bad.tif").write_bytes(b"definitely not a tiff" * 10)
    with pytest.raises(SourceError, match="source 'badtif'"):
        open_path(tmp_path / "bad.tif", "badtif", options={"time": "2020-01-01"})


# --------------------------------------------------------------------------------------------- STAC


@pytest.fixture
def stac_catalog(tmp_path: Path) -> dict:
    """A self-contained static catalog of three items (added out of datetime order) with GeoTIFF assets."""
    stamps = {"late": dt.datetime(2020, 1, 3, tzinfo=dt.UTC), "early": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}
    stamps["middle"] = dt.datetime(2020, 1, 2, 12, tzinfo=dt.UTC)
    catalog = pystac.Catalog(id="test-catalog", description="three rasters")
    root = tmp_path / "stac"
    values = {}
    for k, (item_id, stamp) in enumerate(stamps.items()):
        data = np.arange(12, dtype=np.float32).reshape(3, 4) + 100.0 * (k + 1)
        values[item_id] = data
        raster = tmp_path / "rasters" / f"{item_id}.tif"
        raster.parent.mkdir(exist_ok=True)
        write_tif(raster, data, TIF_X, TIF_Y, "EPSG:4326")
        item = pystac.Item(
            id=item_id,
            geometry={"type": "Polygon", "coordinates": [[[0, 10], [4, 10], [4, 13], [0, 13], [0, 10]]]},
            bbox=[0, 10, 4, 13],
            datetime=stamp,
            properties={},
        )
        # a non-raster asset first: it must be skipped when choosing the default asset
        item.add_asset("metadata", pystac.Asset(href=str(raster.with_suffix(".xml")), media_type="application/xml"))
        item.add_asset("data", pystac.Asset(href=str(raster), media_type=pystac.MediaType.COG))
        catalog.add_item(item)
    catalog.normalize_hrefs(str(root))  # gives items their self links, needed to make asset hrefs relative
    catalog.make_all_asset_hrefs_relative()
    catalog.normalize_and_save(str(root), catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return {"path": root / "catalog.json", "values": values, "stamps": stamps}


def test_stac_items_become_time_steps(stac_catalog: dict) -> None:
    ds = open_path(stac_catalog["path"], "stac")  # kind inferred from catalog.json
    assert_normalised_regular(ds)
    assert list(ds.data_vars) == ["data"]  # the asset key names the variable
    expected_times = [np.datetime64(s.replace(tzinfo=None), "ns") for s in sorted(stac_catalog["stamps"].values())]
    np.testing.assert_array_equal(ds["time"].values, expected_times)
    order = ["early", "middle", "late"]
    expected = np.stack([stac_catalog["values"][k][::-1, :] for k in order])
    np.testing.assert_array_equal(ds["data"].values, expected)
    assert crs_of(ds).equals(pyproj.CRS.from_epsg(4326))


def test_stac_catalog_is_self_contained(stac_catalog: dict, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "stac", moved / "stac")
    shutil.copytree(tmp_path / "rasters", moved / "rasters")
    shutil.rmtree(tmp_path / "rasters")
    ds = open_path(moved / "stac" / "catalog.json", "stac", options={"asset": "data", "variable": "red"})
    assert list(ds.data_vars) == ["red"]
    assert ds.sizes["time"] == 3
    np.testing.assert_array_equal(ds["red"].values[0], stac_catalog["values"]["early"][::-1, :])


def test_stac_missing_asset(stac_catalog: dict) -> None:
    with pytest.raises(SourceError, match=r"source 'stac': no item .* has asset 'nir'"):
        open_path(stac_catalog["path"], "stac", options={"asset": "nir"})


def test_stac_garbage_catalog(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(SourceError, match="source 'stacbad': cannot read STAC catalog"):
        open_path(tmp_path / "catalog.json", "stacbad")


# -------------------------------------------------------------------------------------- curvilinear


def curvilinear_dataset() -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    j, i = np.meshgrid(np.arange(5.0), np.arange(6.0), indexing="ij")
    lat = 40.0 + 0.8 * j + 0.3 * i  # a rotated, sheared grid
    lon = 170.0 + 1.1 * i - 0.4 * j  # 0..360 convention, crossing 180
    rng = np.random.default_rng(4)
    values = rng.normal(280, 5, size=(2, 5, 6)).astype(np.float32)
    ds = xr.Dataset(
        {"t2m": (("time", "nj", "ni"), values, {"units": "K"})},
        coords={
            "time": pd.date_range("2020-01-01", periods=2).to_numpy(),
            "nav_lat": (("nj", "ni"), lat, LAT_ATTRS),
            "nav_lon": (("nj", "ni"), lon, LON_ATTRS),
            "nj": ("nj", np.arange(5)),
            "ni": ("ni", np.arange(6)),
        },
    )
    return ds, lat, lon


def test_curvilinear_source(tmp_path: Path) -> None:
    ds_in, lat, lon = curvilinear_dataset()
    ds_in.to_netcdf(tmp_path / "curvi.nc")
    ds = open_path(tmp_path / "curvi.nc", "curvi")
    assert ds.attrs["esdl_curvilinear"] is True
    assert crs_of(ds).is_geographic
    assert ds["lat"].dims == ds["lon"].dims == ("nj", "ni")
    assert "nj" not in ds.variables and "ni" not in ds.variables
    np.testing.assert_allclose(ds["lat"].values, lat)
    np.testing.assert_allclose(ds["lon"].values, np.where(lon >= 180, lon - 360, lon))
    assert ds["lon"].values.min() >= -180 and ds["lon"].values.max() < 180
    np.testing.assert_array_equal(ds["t2m"].transpose("time", "nj", "ni").values, ds_in["t2m"].values)


# --------------------------------------------------------------------------------------------- HTTP


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Serve ``tmp_path/www`` over HTTP on a free local port; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_netcdf_over_http(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    rng = np.random.default_rng(5)
    values = rng.normal(size=(2, 3, 4)).astype(np.float32)
    lon = [90.0, 180.0, 270.0, 350.0]
    latlon_dataset(values, [-1.0, 0.0, 1.0], lon, pd.date_range("2020-01-01", periods=2)).to_netcdf(
        root / "remote.nc", format="NETCDF4"
    )
    ds = open_path(f"{base}/remote.nc", "web").load()
    assert_normalised_regular(ds)
    np.testing.assert_allclose(ds["x"].values, [-180.0, -90.0, -10.0, 90.0])
    np.testing.assert_array_equal(ds["v"].values, values[:, :, [1, 2, 3, 0]])


def test_http_missing_file(http_root: tuple[Path, str]) -> None:
    _, base = http_root
    with pytest.raises(SourceError, match="source 'web'"):
        open_path(f"{base}/absent.nc", "web")


# ----------------------------------------------------------------------------------------- synthetic


def test_synthetic_source() -> None:
    options = {
        "bbox": [-10.0, 40.0, -4.0, 44.0],
        "resolution": 0.5,
        "start": "2020-02-27",
        "end": "2020-03-03",
        "variables": ["a", "b"],
        "nan_fraction": 0.25,
        "seed": 7,
        "chunks": {"time": 2, "y": 3, "x": 5},
    }
    ds = open_source("syn", SourceSpec(kind="synthetic", options=options))
    assert_normalised_regular(ds)
    lat = 40.0 + 0.25 + 0.5 * np.arange(8)
    lon = -10.0 + 0.25 + 0.5 * np.arange(12)
    np.testing.assert_allclose(ds["y"].values, lat)
    np.testing.assert_allclose(ds["x"].values, lon)
    np.testing.assert_array_equal(ds["time"].values, pd.date_range("2020-02-27", "2020-03-03").to_numpy())
    assert ds["a"].chunks == ((2, 2, 2), (3, 3, 2), (5, 5, 2))
    t = np.array([(d - dt.date(2000, 1, 1)).days for d in pd.date_range("2020-02-27", "2020-03-03").date], float)
    for k, name in enumerate(["a", "b"]):
        got = ds[name].values
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, synthetic_values(k, t, lat, lon, seed=7, nan_fraction=0.25))
        # independent check of the documented field: smooth part plus a perturbation within +-0.5
        smooth = (
            280.0
            + 20 * np.cos(np.deg2rad(lat))[None, :, None]
            + 5 * np.sin(2 * np.pi * t[:, None, None] / 365.25 + np.deg2rad(lon)[None, None, :])
            + k
        )
        valid = ~np.isnan(got)
        assert np.all(np.abs(got[valid] - smooth[valid]) <= 0.5 + 1e-4)
        assert 0.1 < 1 - valid.mean() < 0.4
    assert not np.array_equal(np.isnan(ds["a"].values), np.isnan(ds["b"].values))
    again = open_source("syn", SourceSpec(kind="synthetic", options=options))
    xr.testing.assert_identical(again.compute(), ds.compute())
    other = open_source("syn", SourceSpec(kind="synthetic", options={**options, "seed": 8}))
    assert not np.array_equal(other["a"].values, ds["a"].values, equal_nan=True)


# ------------------------------------------------------------------------------------- iris samples


def raw_sample(name: str) -> xr.Dataset:
    return xr.open_dataset(resolve_path(f"{SAMPLE}/{name}"), decode_times=False)


def test_ostia_sample_longitudes_wrap() -> None:
    ds = open_path(f"{SAMPLE}/ostia_monthly.nc", "ostia")
    assert_normalised_regular(ds)
    raw = raw_sample("ostia_monthly.nc")
    lon = raw["longitude"].values.astype(np.float64)
    assert lon.min() == 0 and lon.max() > 359
    wrapped = np.where(lon >= 180, lon - 360, lon)
    order = np.argsort(wrapped, kind="stable")
    np.testing.assert_allclose(ds["x"].values, wrapped[order], atol=1e-4)
    assert ds["x"].values[0] == -180.0
    np.testing.assert_allclose(ds["y"].values, raw["latitude"].values)
    expected = raw["surface_temperature"].values[:, :, order]
    np.testing.assert_array_equal(ds["surface_temperature"].values, expected)
    assert np.isnan(expected).any() and not np.isnan(expected).all()  # land is masked
    assert ds["time"].values[0] == np.datetime64("2006-04-16", "ns")
    assert ds.sizes["time"] == 54


def test_hadcm3_sample_360_day_calendar() -> None:
    ds = open_path(f"{SAMPLE}/A1B_north_america.nc", "hadcm3")
    assert_normalised_regular(ds)
    times = pd.DatetimeIndex(ds["time"].values)
    assert times.dtype == np.dtype("datetime64[ns]")
    assert ds.sizes["time"] == 240
    np.testing.assert_array_equal(times.year, np.arange(1860, 2100))  # one step a year, none lost
    assert set(times.month) == {6} and times.day.max() <= 3  # 1 June of 360 days stays at the start of June
    assert times.is_unique
    raw = raw_sample("A1B_north_america.nc")
    lon = raw["longitude"].values.astype(np.float64)
    np.testing.assert_allclose(ds["x"].values, lon - 360, atol=1e-4)  # 225..315 -> -135..-45
    np.testing.assert_array_equal(ds["air_temperature"].values, raw["air_temperature"].values)


def test_seviri_sample_projected() -> None:
    ds = open_path(f"{SAMPLE}/toa_brightness_stereographic.nc", "seviri")
    assert_normalised_regular(ds)
    crs = crs_of(ds)
    assert crs.is_projected
    assert "stereographic" in crs.to_cf()["grid_mapping_name"]
    assert list(ds.data_vars) == ["data"]
    assert "lat" not in ds.coords and "lon" not in ds.coords
    raw = raw_sample("toa_brightness_stereographic.nc")
    assert raw["y"].values[0] > raw["y"].values[-1]
    np.testing.assert_array_equal(ds["y"].values, raw["y"].values[::-1])
    np.testing.assert_array_equal(ds["data"].values, raw["data"].values[None, ::-1, :])
    assert ds.sizes["time"] == 1
    assert ds["time"].values[0] == np.datetime64("2016-05-16T12:00", "ns")
    # the CRS puts the raw 2-D lat/lon where they belong
    tr = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(float(raw["x"][10]), float(raw["y"][20]))
    np.testing.assert_allclose([lon, lat], [raw["lon"].values[20, 10], raw["lat"].values[20, 10]], atol=0.05)


# ------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source 'missing': cannot read .*absent\.nc") as info:
        open_path(tmp_path / "absent.nc", "missing")
    assert isinstance(info.value, CubeError)


def test_file_that_is_not_netcdf(tmp_path: Path) -> None:
    path = tmp_path / "garbage.nc"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(SourceError, match="source 'garbage'"):
        open_path(path, "garbage")


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source 'odd': unknown kind 'grib9' \(known: .*netcdf"):
        open_path(tmp_path / "x.grb", "odd", kind="grib9")
    assert {"netcdf", "zarr", "geotiff", "stac", "synthetic"} <= set(source_kinds())


def test_kind_cannot_be_inferred(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot infer the kind"):
        open_path(tmp_path / "data.xyz", "odd")


def test_missing_package() -> None:
    with pytest.raises(SourceError, match="package 'no_such_package_xyz' is not installed"):
        open_path("pkg://no_such_package_xyz/data.nc", "pkg")


def test_no_time_coordinate(tmp_path: Path) -> None:
    ds = latlon_dataset(np.ones((1, 2, 2), np.float32), [0.5, 1.5], [0.5, 1.5], ["2020-01-01"]).isel(time=0, drop=True)
    ds.to_netcdf(tmp_path / "static.nc")
    with pytest.raises(SourceError, match=r"source 'static' has no time coordinate; give one with options\.time"):
        open_path(tmp_path / "static.nc", "static")
    opened = open_path(tmp_path / "static.nc", "static", options={"time": "2019-07-01T06:00"})
    np.testing.assert_array_equal(opened["time"].values, [np.datetime64("2019-07-01T06:00", "ns")])
    assert opened["v"].dims == ("time", "y", "x")


def test_undecodable_time(tmp_path: Path) -> None:
    ds = latlon_dataset(np.ones((2, 2, 2), np.float32), [0.5, 1.5], [0.5, 1.5], ["2020-01-01", "2020-01-02"])
    ds = ds.assign_coords(time=("time", [1.0, 2.0]))  # numbers without units
    ds.to_netcdf(tmp_path / "badtime.nc")
    with pytest.raises(SourceError, match="source 'badtime': time coordinate is not decodable"):
        open_path(tmp_path / "badtime.nc", "badtime")


def test_no_spatial_coordinates(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {"v": (("time", "a", "b"), np.zeros((2, 3, 4), np.float32))},
        coords={"time": pd.date_range("2020-01-01", periods=2).to_numpy()},
    )
    ds.to_netcdf(tmp_path / "nospace.nc")
    with pytest.raises(SourceError, match="source 'nospace': cannot identify spatial coordinates"):
        open_path(tmp_path / "nospace.nc", "nospace")


def test_projected_without_crs_needs_option(tmp_path: Path) -> None:
    x = 500.0 + 1000.0 * np.arange(4)
    y = 2500.0 - 1000.0 * np.arange(3)
    values = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    ds = xr.Dataset(
        {"v": (("time", "y", "x"), values)},
        coords={
            "time": pd.date_range("2020-01-01", periods=2).to_numpy(),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
        },
    )
    ds.to_netcdf(tmp_path / "proj.nc")
    with pytest.raises(SourceError, match=r"source 'proj': cannot identify spatial coordinates.*options\.crs"):
        open_path(tmp_path / "proj.nc", "proj")
    opened = open_path(tmp_path / "proj.nc", "proj", options={"crs": "EPSG:32633"})
    assert crs_of(opened).to_epsg() == 32633
    np.testing.assert_allclose(opened["y"].values, y[::-1])
    np.testing.assert_array_equal(opened["v"].values, values[:, ::-1, :])


def test_stac_used_items_are_the_items_read(stac_catalog: dict) -> None:
    """What a cube built from the source links to (``derived_from``): the items read, in time order, by their
    absolute self hrefs; an item without the chosen asset is not one of them."""
    from cubes.sources.stac import used_items

    path = str(stac_catalog["path"])
    spec = SourceSpec(path=path, kind="stac")
    hrefs = used_items("stac", spec, path)
    root = stac_catalog["path"].parent
    assert hrefs == [str(root / name / f"{name}.json") for name in ("early", "middle", "late")]
    with pytest.raises(SourceError, match="has asset 'nir'"):
        used_items("stac", SourceSpec(path=path, kind="stac", options={"asset": "nir"}), path)
