"""Describing cubes for the catalogue, including cubes esdl did not build (no stats.json, projected grids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import xarray as xr

from semantic.errors import CatalogError
from semantic.store.catalog import describe_cube


def projected_cube(path: Path) -> xr.Dataset:
    crs = pyproj.CRS.from_epsg(3035)
    x = 4_000_000 + 5_000 * (np.arange(40) + 0.5)
    y = 3_000_000 + 5_000 * (np.arange(30) + 0.5)
    rng = np.random.default_rng(1)
    values = rng.normal(280, 5, (6, 30, 40)).astype(np.float32)
    values[:, :3] = np.nan
    ds = xr.Dataset(
        {
            "lst": (
                ("time", "y", "x"),
                values,
                {"units": "K", "grid_mapping": "crs", "cell_methods": "area: mean time: max", "long_name": "LST"},
            )
        },
        coords={
            "time": pd.date_range("2021-01-01", periods=6, freq="MS"),
            "y": y,
            "x": x,
            "crs": ((), 0, {"crs_wkt": crs.to_wkt()}),
        },
        attrs={"title": "foreign cube"},
    )
    ds.to_zarr(path, zarr_format=3, consolidated=False)
    return ds


def test_foreign_projected_cube_is_described(tmp_path: Path) -> None:
    ds = projected_cube(tmp_path / "lst.zarr")
    record, opened = describe_cube(tmp_path / "lst.zarr")
    assert (record.name, record.version, record.title, record.crs) == ("lst", "1", "foreign cube", "EPSG:3035")
    assert record.resolution == (5000.0, 5000.0)
    assert len(record.times) == 6 and record.time_start.isoformat() == "2021-01-01T00:00:00+00:00"
    var = record.variable("lst")
    assert (var.spatial_aggregation, var.temporal_aggregation, var.long_name) == ("mean", "max", "LST")
    values = ds["lst"].values.astype(np.float64)
    assert var.mean == pytest.approx(np.nanmean(values), rel=1e-12)
    assert var.valid_fraction == pytest.approx(np.mean(~np.isnan(values)))
    # the footprint is the grid's outline in lon/lat, densified so its edges follow the projection
    to_lonlat = pyproj.Transformer.from_crs(3035, 4326, always_xy=True)
    corners = [to_lonlat.transform(x, y) for x, y in [(4e6, 3e6), (4.2e6, 3e6), (4.2e6, 3.15e6), (4e6, 3.15e6)]]
    assert record.footprint.is_valid
    for lon, lat in corners:
        assert shapely.Point(lon, lat).distance(record.footprint) < 1e-9
    assert record.footprint.area == pytest.approx(shapely.Polygon(corners).area, rel=1e-3)
    with pytest.raises(CatalogError, match=r"cube lst has no variable 'ndvi' \(variables: lst\)"):
        record.variable("ndvi")
    assert opened["lst"].shape == (6, 30, 40)


def test_spec_hash_follows_the_data_description(tmp_path: Path) -> None:
    projected_cube(tmp_path / "a.zarr")
    projected_cube(tmp_path / "b.zarr")
    a, _ = describe_cube(tmp_path / "a.zarr", with_stats=False)
    b, _ = describe_cube(tmp_path / "b.zarr", with_stats=False)
    assert a.spec_hash == b.spec_hash and a.variable("lst").mean is None


@pytest.mark.parametrize("make,message", [(None, "does not exist"), ("junk", "no spatial dims")])
def test_unknown_or_unreadable_cube(tmp_path: Path, make: str | None, message: str) -> None:
    path = tmp_path / "c.zarr"
    if make:
        path.mkdir()
        (path / "zarr.json").write_text("{}")
    with pytest.raises(CatalogError, match=message):
        describe_cube(path)
