"""Tests of coverage-weighted zonal statistics.

References are independent of :mod:`cubes.zonal`'s kernel: the closed-form ellipsoid area and geodesic
polygon areas (pyproj.Geod) for cell areas; shapely intersections for coverage fractions; exactextract run
directly with its own operations (weighted_mean, weighted_stdev, min, max, count, values) for the statistics;
plain numpy sums for a hand-constructed case.
"""

from __future__ import annotations

import dask
import numpy as np
import pyproj
import pytest
import shapely
import xarray as xr
from exactextract import exact_extract
from exactextract.feature import JSONFeatureSource
from exactextract.raster import NumPyRasterSource
from shapely.geometry import Polygon, box

from cubes.errors import ZonalError
from cubes.gridgeometry import GridGeometry
from cubes.zonal import (
    ZonalStats,
    ZoneWeights,
    coverage_weights,
    time_blocks,
    zonal_block,
    zonal_delayed,
)
from esdl_testing.arrays import centres
from esdl_testing.samples import sample_path

WGS84_AREA_M2 = 510_065_621.7e6  # total area of the WGS84 ellipsoid (510,065,621.7 km²)


def star(rng: np.random.Generator, cx: float, cy: float, r: float, hole: bool = False) -> Polygon:
    """A random star-shaped polygon around ``(cx, cy)``, optionally with a hole."""
    ang = (np.arange(11) + rng.uniform(0, 0.8, 11)) * 2 * np.pi / 11  # gaps < 2π/5.5: centre inside
    rad = r * rng.uniform(0.6, 1.0, 11)
    shell = np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)])
    holes = [np.column_stack([cx + 0.3 * r * np.cos(ang[::2]), cy + 0.3 * r * np.sin(ang[::2])])] if hole else []
    poly = Polygon(shell, holes)
    assert poly.is_valid
    return poly


def reference(
    values: np.ndarray, grid: GridGeometry, polys: list, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """exactextract's own statistics of every band of ``values`` (``t, y, x`` in dataset order), ``(region, t)``."""
    nu = grid.north_up(values)
    areas = grid.north_up(grid.cell_areas() if weights is None else weights)
    bands = [
        NumPyRasterSource(np.ascontiguousarray(nu[t], dtype=np.float64), *grid.bounds, name=f"b{t}")
        for t in range(len(nu))
    ]
    valid_area = [
        NumPyRasterSource(np.where(np.isnan(nu[t]), np.nan, areas), *grid.bounds, name=f"a{t}") for t in range(len(nu))
    ]
    w = NumPyRasterSource(np.ascontiguousarray(areas), *grid.bounds, name="w")
    feats = [
        {"type": "Feature", "properties": {"i": i}, "geometry": shapely.geometry.mapping(p)}
        for i, p in enumerate(polys)
    ]
    stats = exact_extract(
        bands, JSONFeatureSource(feats), ["weighted_mean", "weighted_stdev", "min", "max", "count", "values"], weights=w
    )
    areas_sum = exact_extract(valid_area, JSONFeatureSource(feats), ["sum"])
    nt = len(nu)
    out = {
        "mean": [[f["properties"][f"b{t}_w_weighted_mean"] for t in range(nt)] for f in stats],
        "std": [[f["properties"][f"b{t}_w_weighted_stdev"] for t in range(nt)] for f in stats],
        "min": [[f["properties"][f"b{t}_min"] for t in range(nt)] for f in stats],
        "max": [[f["properties"][f"b{t}_max"] for t in range(nt)] for f in stats],
        "cov_sum": [[f["properties"][f"b{t}_count"] for t in range(nt)] for f in stats],
        # "values" lists the covered cells' valid values: its length is the integer count
        "valid_count": [[len(f["properties"][f"b{t}_values"]) for t in range(nt)] for f in stats],
        "covered_area": [[f["properties"][f"a{t}_sum"] for t in range(nt)] for f in areas_sum],
    }
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def assert_matches(got: ZonalStats, ref: dict[str, np.ndarray], rtol: float = 1e-9) -> None:
    """Statistics equal exactextract's where there are valid cells; NaN and zero counts elsewhere."""
    empty = got.valid_count == 0
    np.testing.assert_array_equal(got.valid_count, ref["valid_count"])
    for key in ("mean", "min", "max"):
        np.testing.assert_allclose(got_field := getattr(got, key), ref[key], rtol=rtol, atol=0, equal_nan=True)
        assert np.isnan(got_field[empty]).all()
    np.testing.assert_allclose(got.std, ref["std"], rtol=rtol, atol=1e-12 * np.nanmax(np.abs(ref["mean"])))
    np.testing.assert_allclose(got.covered_area, np.nan_to_num(ref["covered_area"]), rtol=rtol, atol=0)
    assert (got.covered_area[empty] == 0).all()


def coverage_sum(weights: ZoneWeights, valid: np.ndarray) -> np.ndarray:
    """Σ coverage over the valid cells of each region, per time step: what exactextract calls ``count``."""
    out = np.zeros((weights.n_regions, valid.shape[0]))
    for i in range(weights.n_regions):
        sl = slice(weights.indptr[i], weights.indptr[i + 1])
        out[i] = (valid[:, weights.rows[sl], weights.cols[sl]] * weights.coverage[sl]).sum(axis=1)
    return out


# ------------------------------------------------------------------------------------------ cell areas


def test_cell_areas_sum_to_the_ellipsoid() -> None:
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(-180, 1.0, 360), centres(-90, 0.5, 360))
    areas = grid.cell_areas()
    assert areas.shape == (360, 360)
    a, f = 6378137.0, 1 / 298.257223563
    e = np.sqrt(f * (2 - f))
    closed_form = 2 * np.pi * a * a * (1 + (1 - e * e) / (2 * e) * np.log((1 + e) / (1 - e)))
    assert abs(areas.sum() / closed_form - 1) < 1e-12
    assert abs(areas.sum() / WGS84_AREA_M2 - 1) < 1e-9
    # descending rows give the same areas, flipped
    flipped = GridGeometry(grid.crs, grid.x, grid.y[::-1])
    np.testing.assert_array_equal(flipped.cell_areas(), areas[::-1])


def test_cell_areas_on_a_sphere() -> None:
    crs = pyproj.CRS.from_cf({"grid_mapping_name": "latitude_longitude", "earth_radius": 6371229.0})
    grid = GridGeometry(crs, centres(0, 2.0, 180), centres(-90, 2.0, 90))
    assert abs(grid.cell_areas().sum() / (4 * np.pi * 6371229.0**2) - 1) < 1e-12


@pytest.mark.parametrize(("lat0", "res"), [(40.0, 1.0), (-75.25, 0.25), (0.0, 0.05)])
def test_cell_area_matches_a_geodesic_polygon(lat0: float, res: float) -> None:
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(10, res, 3), centres(lat0, res, 3))
    lons = np.linspace(10 + res, 10 + 2 * res, 20001)  # parallels are not geodesics: densify them
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full_like(lons, lat0 + 2 * res), np.full_like(lons, lat0 + res)])
    area, _ = pyproj.Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)
    assert abs(grid.cell_areas()[1, 1] / abs(area) - 1) < 1e-6


def test_projected_cell_areas_are_nominal() -> None:
    grid = GridGeometry(pyproj.CRS.from_epsg(3035), centres(4e6, 5000, 4), centres(3e6, 2500, 3))
    np.testing.assert_array_equal(grid.cell_areas(), np.full((3, 4), 5000 * 2500.0))


# ------------------------------------------------------------------------------------------ grid geometry


def test_grid_from_cube_dataset() -> None:
    crs = pyproj.CRS.from_epsg(3035)
    ds = xr.Dataset(
        {"v": (("time", "y", "x"), np.zeros((1, 3, 4)), {"grid_mapping": "crs"})},
        coords={"y": centres(3e6, 1000, 3), "x": centres(4e6, 1000, 4), "crs": ((), 0, {"crs_wkt": crs.to_wkt()})},
    )
    grid = GridGeometry.from_dataset(ds)
    assert grid.crs == crs and not grid.geographic and grid.y_ascending
    assert grid.bounds == (4e6, 3e6, 4.004e6, 3.003e6)
    assert tuple(grid.affine)[:6] == (1000.0, 0.0, 4e6, 0.0, -1000.0, 3.003e6)
    assert GridGeometry.from_dataset(ds["v"]).crs == crs  # the grid mapping is a coordinate of the variable
    with pytest.raises(ZonalError, match="no CRS"):
        GridGeometry.from_dataset(ds.drop_vars("crs"))
    bad = ds.assign_coords(x=[0.0, 1.0, 2.0, 4.0])
    with pytest.raises(ZonalError, match="x: coordinates are not regularly spaced"):
        GridGeometry.from_dataset(bad)


def test_grid_from_sample_data_reads_the_cf_grid_mapping() -> None:
    ds = xr.open_dataset(sample_path("ostia_monthly.nc"))
    grid = GridGeometry.from_dataset(ds)
    assert grid.geographic and grid.shape == (18, 432)
    assert grid.crs.ellipsoid is not None and grid.crs.ellipsoid.semi_major_metre == 6371229.0
    assert abs(grid.res_x - 360 / 432) < 1e-6
    plain = xr.Dataset(coords={"lat": centres(0, 1, 3), "lon": centres(0, 1, 4)})
    assert GridGeometry.from_dataset(plain).crs == pyproj.CRS.from_epsg(4326)


# ------------------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("ascending", [True, False], ids=["south-up", "north-up"])
def test_hand_constructed_square(ascending: bool) -> None:
    # 1 km cells; the square covers cells 3..4 in both axes fully and half of the ring around them
    y = centres(0, 1000, 8) if ascending else centres(0, 1000, 8)[::-1]
    grid = GridGeometry(pyproj.CRS.from_epsg(32632), centres(500_000, 1000, 8), y)
    square = box(502_500, 2_500, 505_500, 5_500)
    weights = coverage_weights(grid, [square], crs="EPSG:32632")
    expected = np.zeros((8, 8))  # by (x index, y index from the south)
    expected[2:6, 2:6] = 0.5
    expected[3:5, 3:5] = 1.0
    expected[[2, 2, 5, 5], [2, 5, 2, 5]] = 0.25
    got = np.zeros((8, 8))
    south_index = weights.rows if ascending else 7 - weights.rows
    got[weights.cols, south_index] = weights.coverage
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(weights.weight, weights.coverage * 1e6)
    assert np.all(np.diff(weights.rows * 8 + weights.cols) > 0)  # row-major order of the dataset

    rng = np.random.default_rng(3)
    field = rng.normal(size=(2, 8, 8))  # (t, y from south, x)
    field[1, 3, 3] = np.nan
    data = field if ascending else field[:, ::-1]
    stats = zonal_block(data[:, weights.window[0], weights.window[1]], weights)
    cov = expected.T  # (y, x)
    for t in range(2):
        ok = (cov > 0) & ~np.isnan(field[t])
        c, v = cov[ok], field[t][ok]
        mean = np.sum(c * v) / np.sum(c)
        assert stats.mean[0, t] == pytest.approx(mean, rel=1e-12)
        assert stats.std[0, t] == pytest.approx(np.sqrt(np.sum(c * (v - mean) ** 2) / np.sum(c)), rel=1e-12)
        assert (stats.min[0, t], stats.max[0, t]) == (v.min(), v.max())
        assert stats.valid_count[0, t] == (16 if t == 0 else 15)
        assert stats.covered_area[0, t] == pytest.approx(np.sum(c) * 1e6, rel=1e-12)


@pytest.fixture(scope="module")
def ostia() -> tuple[GridGeometry, np.ndarray]:
    ds = xr.open_dataset(sample_path("ostia_monthly.nc"))
    return GridGeometry.from_dataset(ds), ds["surface_temperature"].values


def sample_polygons(rng: np.random.Generator, grid: GridGeometry) -> list:
    xmin, ymin, xmax, ymax = grid.bounds
    polys: list = [
        star(rng, rng.uniform(xmin + 10, xmax - 10), rng.uniform(ymin, ymax), rng.uniform(1, 12)) for _ in range(6)
    ]
    polys += [star(rng, rng.uniform(xmin + 20, xmax - 20), 0.0, 8.0, hole=True) for _ in range(2)]
    polys += [
        star(rng, xmin + 1, 0.0, 6.0),
        star(rng, xmax - 2, ymax, 4.0),
        box(xmin + 50, ymin - 3, xmin + 53, ymax + 3),
    ]
    polys += [star(rng, 100.0, 40.0, 5.0)]  # entirely outside the grid
    polys += [shapely.MultiPolygon([star(rng, 30.0, -2.0, 2.0), star(rng, 200.0, 3.0, 3.0, hole=True)])]
    return polys


def test_against_exactextract_on_sample_data(ostia: tuple[GridGeometry, np.ndarray]) -> None:
    grid, values = ostia
    polys = sample_polygons(np.random.default_rng(11), grid)
    weights = coverage_weights(grid, polys, crs=grid.crs)
    assert np.diff(weights.indptr)[11] == 0  # the region outside the grid covers nothing
    got = zonal_block(values[:, weights.window[0], weights.window[1]], weights)
    ref = reference(values, grid, polys)
    assert_matches(got, ref)
    assert got.valid_count.shape == (len(polys), values.shape[0]) and got.valid_count.dtype == np.int64
    # exactextract's count is Σ coverage of the valid cells, not an integer count
    np.testing.assert_allclose(coverage_sum(weights, ~np.isnan(values)), ref["cov_sum"], rtol=1e-12)
    assert np.isnan(got.mean[11]).all() and (got.valid_count[11] == 0).all()


def test_coverage_matches_shapely_intersections(ostia: tuple[GridGeometry, np.ndarray]) -> None:
    grid, _ = ostia
    polys = sample_polygons(np.random.default_rng(12), grid)
    weights = coverage_weights(grid, polys, crs=grid.crs)
    ny, nx = grid.shape
    # edges of the regular grid (the sample's float32 centres are a few 1e-5 degrees off it)
    x0 = grid.bounds[0] + grid.res_x * np.arange(nx)
    y0 = grid.bounds[1] + grid.res_y * np.arange(ny)
    cells = shapely.box(x0[None, :], y0[:, None], x0[None, :] + grid.res_x, y0[:, None] + grid.res_y)
    for i, poly in enumerate(polys):
        frac = shapely.area(shapely.intersection(cells, poly)) / (grid.res_x * grid.res_y)
        got = np.zeros((ny, nx))
        sl = slice(weights.indptr[i], weights.indptr[i + 1])
        got[weights.rows[sl], weights.cols[sl]] = weights.coverage[sl]
        # exactextract's coverage fractions are float32: agreement to their precision, not to 1e-9
        np.testing.assert_allclose(got, frac, rtol=0, atol=1e-7)
        assert ((got > 0) == (frac > 1e-12)).all()


def test_against_exactextract_on_a_synthetic_field_with_nans() -> None:
    rng = np.random.default_rng(5)
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(-20, 0.5, 60), centres(30, 0.5, 40)[::-1])
    values = rng.normal(15, 4, size=(7, 40, 60)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[4] = np.nan  # a step without any valid value
    polys = [
        star(rng, rng.uniform(-22, 12), rng.uniform(28, 52), rng.uniform(0.3, 6), hole=i % 3 == 0) for i in range(12)
    ]
    polys.append(box(-19.9, 49.6, -19.6, 49.9))  # a single partly covered cell
    weights = coverage_weights(grid, polys)
    got = zonal_block(values, weights)  # the whole grid is accepted as well as the window
    assert_matches(got, reference(values, grid, polys))
    assert np.isnan(got.mean[:, 4]).all() and (got.valid_count[:, 4] == 0).all()
    assert (got.covered_area[:, 4] == 0).all()


def test_projected_grid_with_polygons_in_lonlat() -> None:
    rng = np.random.default_rng(8)
    grid = GridGeometry(pyproj.CRS.from_epsg(3035), centres(3.9e6, 10_000, 70), centres(2.4e6, 10_000, 60))
    values = rng.normal(size=(3, 60, 70))
    values[rng.random(values.shape) < 0.1] = np.nan
    lonlat = [star(rng, rng.uniform(4, 13), rng.uniform(45, 50), rng.uniform(0.3, 1.5)) for _ in range(10)]
    weights = coverage_weights(grid, lonlat)  # EPSG:4326 by default
    to_grid = pyproj.Transformer.from_crs(4326, 3035, always_xy=True)
    projected = [shapely.transform(p, lambda xy: np.column_stack(to_grid.transform(*xy.T))) for p in lonlat]
    got = zonal_block(values[:, weights.window[0], weights.window[1]], weights)
    assert_matches(got, reference(values, grid, projected))
    # a polygon well inside the grid is covered exactly by its projected area
    inside = [i for i, p in enumerate(projected) if shapely.contains(shapely.box(*grid.bounds), p)]
    assert 0 < len(inside) < len(projected)
    for i in inside:
        sl = slice(weights.indptr[i], weights.indptr[i + 1])
        assert weights.weight[sl].sum() == pytest.approx(projected[i].area, rel=1e-7)  # float32 coverage


def test_regions_without_cells_and_bad_geometries() -> None:
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(0, 1, 4), centres(0, 1, 3))
    weights = coverage_weights(grid, [None, box(10, 10, 11, 11), shapely.Polygon()])
    assert weights.n_regions == 3 and len(weights.rows) == 0
    stats = zonal_block(np.ones((2, 1, 1)), weights)
    assert np.isnan(stats.mean).all() and (stats.valid_count == 0).all() and (stats.covered_area == 0).all()
    with pytest.raises(ZonalError, match="region 0: expected a Polygon"):
        coverage_weights(grid, [shapely.Point(1, 1)])
    with pytest.raises(ZonalError, match="neither the window"):
        zonal_block(np.ones((2, 2, 2)), coverage_weights(grid, [box(0, 0, 3, 3)]))


def test_zonal_delayed_one_task_per_time_chunk(ostia: tuple[GridGeometry, np.ndarray]) -> None:
    grid, values = ostia
    polys = sample_polygons(np.random.default_rng(13), grid)
    weights = coverage_weights(grid, polys)
    da = xr.DataArray(values, dims=("time", "latitude", "longitude")).chunk(
        {"time": 20, "latitude": 5, "longitude": 100}
    )
    items = zonal_delayed(da, weights)
    assert [t0 for t0, _ in items] == [0, 20, 40]
    parts = dask.compute(*[d for _, d in items], scheduler="threads")
    got = ZonalStats.concat(parts)
    expected = zonal_block(values, weights)
    for key in ("mean", "std", "min", "max", "valid_count", "covered_area"):
        np.testing.assert_array_equal(getattr(got, key), getattr(expected, key))
    empty = coverage_weights(grid, [box(100, 40, 101, 41)])
    ((t0, only),) = zonal_delayed(da.chunk({"time": -1}), empty)
    assert t0 == 0 and (only.compute().valid_count == 0).all()
    with pytest.raises(ZonalError, match="not \\(time, y, x\\)"):
        zonal_delayed(da[:, :4], weights)
    with pytest.raises(ZonalError, match="expected a \\(time, y, x\\) variable"):
        time_blocks(da.transpose("latitude", "time", "longitude"))


def test_constant_values_give_that_mean_and_zero_std_exactly() -> None:
    """One valid cell, or equal values under unequal weights: the mean is the value and the std exactly 0."""
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(0.0, 0.25, 8), centres(40.0, 0.25, 8))
    rng = np.random.default_rng(3)
    block = rng.normal(291.0, 3.0, (50, 8, 8))
    block[:, :4, :4] = np.nan
    block[:, 0, 4:] = 291.123456789  # one row of equal values
    block[:, 0, 0] = 287.0123456789  # the only valid cell of the first region
    regions = [box(0.0, 40.0, 0.6, 40.6), box(1.01, 40.0, 1.99, 40.2)]
    stats = zonal_block(block, coverage_weights(grid, regions))
    assert (stats.valid_count[0] == 1).all() and (stats.std[0] == 0).all() and (stats.mean[0] == 287.0123456789).all()
    assert (stats.std[1] == 0).all() and (stats.mean[1] == 291.123456789).all()
