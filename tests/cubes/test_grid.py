"""The target grid of a spec: cell centres, bounds and CF attributes, geographic and projected."""

from __future__ import annotations

import numpy as np
import pyproj

from cubes.grid import TargetGrid
from cubes.spec import GridSpec


def test_geographic_grid_cell_centres_and_bounds() -> None:
    grid = TargetGrid(GridSpec(bbox=(-10.0, 30.0, 10.0, 40.0), resolution=0.5))
    assert grid.shape == (20, 40)
    assert grid.dims == ("lat", "lon")
    np.testing.assert_allclose(grid.x, np.linspace(-9.75, 9.75, 40))
    np.testing.assert_allclose(grid.y, np.linspace(30.25, 39.75, 20))
    assert np.all(np.diff(grid.y) > 0)
    xb, yb = grid.bounds("x"), grid.bounds("y")
    assert xb.shape == (40, 2) and yb.shape == (20, 2)
    np.testing.assert_allclose(xb[:, 0], np.arange(40) * 0.5 - 10.0)
    np.testing.assert_allclose(xb[:, 1], np.arange(1, 41) * 0.5 - 10.0)
    np.testing.assert_allclose(yb[:, 0], np.arange(20) * 0.5 + 30.0)
    np.testing.assert_allclose(xb[1:, 0], xb[:-1, 1])  # contiguous cells
    assert grid.geographic_bounds() == (-10.0, 30.0, 10.0, 40.0)
    yattrs, xattrs = grid.coord_attrs()
    assert (yattrs["units"], xattrs["units"]) == ("degrees_north", "degrees_east")
    assert (yattrs["bounds"], xattrs["bounds"]) == ("lat_bnds", "lon_bnds")
    gm = grid.grid_mapping_attrs()
    assert gm["grid_mapping_name"] == "latitude_longitude"
    assert pyproj.CRS.from_wkt(gm["crs_wkt"]).equals(pyproj.CRS.from_epsg(4326))


def test_anisotropic_grid() -> None:
    grid = TargetGrid(GridSpec(bbox=(0.0, 0.0, 3.0, 1.0), resolution=(1.0, 0.25)))
    assert grid.shape == (4, 3)
    np.testing.assert_allclose(grid.x, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(grid.y, [0.125, 0.375, 0.625, 0.875])


def test_projected_grid() -> None:
    bbox = (4_000_000.0, 3_000_000.0, 4_100_000.0, 3_050_000.0)
    grid = TargetGrid(GridSpec(crs="EPSG:3035", bbox=bbox, resolution=10_000))
    assert grid.dims == ("y", "x")
    assert grid.shape == (5, 10)
    np.testing.assert_allclose(grid.x, 4_005_000.0 + 10_000.0 * np.arange(10))
    np.testing.assert_allclose(grid.y, 3_005_000.0 + 10_000.0 * np.arange(5))
    yattrs, xattrs = grid.coord_attrs()
    assert yattrs["standard_name"] == "projection_y_coordinate"
    assert xattrs["units"] == "m"
    lon0, lat0, lon1, lat1 = grid.geographic_bounds()
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    for x in (bbox[0], bbox[2]):
        for y in (bbox[1], bbox[3]):
            lon, lat = to_lonlat.transform(x, y)
            assert lon0 - 1e-9 <= lon <= lon1 + 1e-9 and lat0 - 1e-9 <= lat <= lat1 + 1e-9
