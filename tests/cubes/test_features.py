"""Tests of threshold features: known blobs on synthetic fields, compared with cell sets built by hand.

Expected polygons are checked through shapely areas (exact for outlines on a 0.5 degree lattice), point
membership and bounds; expected means and areas are numpy sums over the hand-built cell sets.
"""

from __future__ import annotations

import dask
import numpy as np
import pyproj
import pytest
import shapely
import xarray as xr

from cubes.errors import SpecError, ZonalError
from cubes.features import FeatureRecord, Threshold, features_delayed, vectorize_block
from cubes.gridgeometry import GridGeometry
from esdl_testing.arrays import centres

RES = 0.5


def blob_field(nt: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values (t, y from south, x), cells of blob A, cells of blob B)``; B is a 5x5 ring around a NaN hole."""
    rng = np.random.default_rng(4)
    values = rng.uniform(0.0, 0.9, size=(nt, 12, 20))
    values[:, 0, 0] = np.nan  # NaN background never counts
    a = np.zeros((12, 20), bool)
    a[2:5, 2:6] = True
    b = np.zeros((12, 20), bool)
    b[5:10, 10:15] = True
    b[7, 12] = False
    for t in range(nt):
        values[t][a] = 1.0 + rng.uniform(0, 2, a.sum())
        values[t][b] = 5.0 + t + rng.uniform(0, 1, b.sum())
    values[:, 7, 12] = np.nan  # the hole
    return values, a, b


def latlon_grid(ascending: bool = True) -> GridGeometry:
    lat = centres(40.0, RES, 12)
    return GridGeometry(pyproj.CRS.from_epsg(4326), centres(0.0, RES, 20), lat if ascending else lat[::-1])


def geometry_key(rec: FeatureRecord) -> tuple:
    return (rec.time_index, rec.part, rec.geometry.wkb, rec.value, rec.n_cells, rec.area)


# ------------------------------------------------------------------------------------------ thresholds


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("ndvi:<0.2", Threshold("ndvi", "<", 0.2), "ndvi<0.2"),
        ("lst:300", Threshold("lst", ">=", 300.0), "lst>=300"),
        (" t2m : > -5.5e0 ", Threshold("t2m", ">", -5.5), "t2m>-5.5"),
        ("sm_1.x:<=.25", Threshold("sm_1.x", "<=", 0.25), "sm_1.x<=0.25"),
        ("q:>0.123456789", Threshold("q", ">", 0.123456789), "q>0.123456789"),
        ("q:<1e-5", Threshold("q", "<", 1e-5), "q<1e-05"),
    ],
)
def test_threshold_parse(text: str, expected: Threshold, kind: str) -> None:
    parsed = Threshold.parse(text)
    assert parsed == expected
    assert parsed.kind == kind


@pytest.mark.parametrize("text", ["ndvi<0.2", "ndvi:=0.2", "ndvi:", ":3", "ndvi:abc", "ndvi:<<1", "ndvi:nan"])
def test_threshold_rejects_bad_text(text: str) -> None:
    with pytest.raises(SpecError, match=f"bad threshold '{text}'"):
        Threshold.parse(text)


def test_threshold_rejects_bad_fields() -> None:
    with pytest.raises(SpecError, match="operator '=='"):
        Threshold("v", "==", 1.0)
    with pytest.raises(SpecError, match="not finite"):
        Threshold("v", ">", float("inf"))
    np.testing.assert_array_equal(Threshold("v", "<", 1.0).mask(np.array([0.5, np.nan, 2.0])), [True, False, False])


# ------------------------------------------------------------------------------------------ vectorisation


@pytest.mark.parametrize("ascending", [True, False], ids=["south-up", "north-up"])
def test_two_known_blobs(ascending: bool) -> None:
    values, a, b = blob_field()
    grid = latlon_grid(ascending)
    data = values if ascending else values[:, ::-1]
    records = vectorize_block(data, grid, Threshold.parse("v:>=1"), t_index0=10)
    assert [(r.time_index, r.part) for r in records] == [(10, 0), (10, 1), (11, 0), (11, 1)]
    areas = latlon_grid().cell_areas()  # south-up, like the cell sets
    # numbering follows the dataset's row-major order: south-up rows meet blob A (rows 2-4) first
    first, second = (a, b) if ascending else (b, a)
    for t in range(2):
        for rec, cells in zip(records[2 * t : 2 * t + 2], (first, second), strict=True):
            assert rec.n_cells == cells.sum()
            assert rec.value == pytest.approx(values[t][cells].mean(), rel=1e-14)
            assert rec.area == pytest.approx(areas[cells].sum(), rel=1e-14)
            assert rec.geometry.geom_type == "MultiPolygon" and rec.geometry.is_valid
            assert rec.geometry.area == cells.sum() * RES * RES  # exact on the 0.5 degree lattice
    blob_a = records[0] if ascending else records[1]
    blob_b = records[1] if ascending else records[0]
    assert blob_a.geometry.bounds == (1.0, 41.0, 3.0, 42.5)
    assert blob_b.geometry.bounds == (5.0, 42.5, 7.5, 45.0)
    (ring,) = blob_b.geometry.geoms
    assert len(ring.interiors) == 1
    assert not blob_b.geometry.contains(shapely.Point(6.25, 43.75))  # the NaN hole
    assert blob_b.geometry.contains(shapely.Point(5.75, 43.75))


def test_diagonal_neighbours_are_separate_components() -> None:
    values = np.zeros((1, 4, 4))
    values[0, 1, 1] = values[0, 2, 2] = values[0, 3, 1] = 1.0
    values[0, 3, 2] = 1.0  # joins (3, 1) by an edge, touches (2, 2) by an edge too
    grid = GridGeometry(pyproj.CRS.from_epsg(4326), centres(0, 1, 4), centres(0, 1, 4))
    records = vectorize_block(values, grid, Threshold("v", ">", 0.5), t_index0=0)
    assert [r.n_cells for r in records] == [1, 3]
    assert [r.geometry.area for r in records] == [1.0, 3.0]
    values[0, 3, 2] = 0.0  # now three cells that touch only at corners
    records = vectorize_block(values, grid, Threshold("v", ">", 0.5), t_index0=0)
    assert [r.n_cells for r in records] == [1, 1, 1]
    assert [r.geometry.bounds[:2] for r in records] == [(1.0, 1.0), (2.0, 2.0), (1.0, 3.0)]


def test_nan_cells_never_belong_and_small_parts_are_dropped() -> None:
    values, a, b = blob_field(nt=1)
    everything = vectorize_block(values, latlon_grid(), Threshold("v", "<=", 100.0), t_index0=0)
    assert len(everything) == 1 and everything[0].n_cells == np.isfinite(values).sum()
    assert not everything[0].geometry.contains(shapely.Point(0.25, 40.25))
    values[0, 11, 19] = 3.0  # a lone cell, dropped by min_cells
    records = vectorize_block(values, latlon_grid(), Threshold("v", ">=", 1.0), t_index0=0, min_cells=2)
    assert [(r.part, r.n_cells) for r in records] == [(0, a.sum()), (1, b.sum())]
    assert vectorize_block(values, latlon_grid(), Threshold("v", ">", 1e9), t_index0=0) == []
    with pytest.raises(ZonalError, match="not \\(t, y, x\\) on the grid"):
        vectorize_block(values[:, :4], latlon_grid(), Threshold("v", ">", 0.0), t_index0=0)


def test_projected_grid_gives_lonlat_geometries() -> None:
    grid = GridGeometry(pyproj.CRS.from_epsg(3035), centres(4.3e6, 5000, 30), centres(3.2e6, 5000, 20))
    values = np.zeros((1, 20, 30))
    values[0, 5:12, 8:20] = 2.0
    values[0, 8, 12] = 0.0
    (rec,) = vectorize_block(values, grid, Threshold("v", ">", 1.0), t_index0=3)
    lon0, lat0, lon1, lat1 = rec.geometry.bounds
    assert 9.5 < lon0 < lon1 < 11.5 and 51.5 < lat0 < lat1 < 53.5  # EPSG:3035's origin is 10°E 52°N
    back = pyproj.Transformer.from_crs(4326, 3035, always_xy=True)
    projected = shapely.transform(rec.geometry, lambda xy: np.column_stack(back.transform(*xy.T)))
    assert projected.area == pytest.approx(83 * 5000.0**2, rel=1e-9)
    assert projected.bounds == pytest.approx((4.34e6, 3.225e6, 4.4e6, 3.26e6), abs=1e-3)  # mm round trip
    assert rec.area == 83 * 5000.0**2 and rec.time_index == 3


# rasterio can warn once per process when GDAL is first used from several threads at once; results are unaffected
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_reruns_and_delayed_chunks_give_identical_features() -> None:
    values, _, _ = blob_field(nt=5)
    grid = latlon_grid()
    threshold = Threshold.parse("v:1")
    direct = vectorize_block(values, grid, threshold, t_index0=0)
    assert [geometry_key(r) for r in direct] == [geometry_key(r) for r in vectorize_block(values, grid, threshold, 0)]
    da = xr.DataArray(values, dims=("time", "lat", "lon")).chunk({"time": 2, "lat": 5, "lon": 7})
    items = features_delayed(da, grid, threshold)
    assert [t0 for t0, _ in items] == [0, 2, 4]
    chunks = dask.compute(*[d for _, d in items], scheduler="threads")
    assert [geometry_key(r) for part in chunks for r in part] == [geometry_key(r) for r in direct]
    with pytest.raises(ZonalError, match="not \\(time, y, x\\) on the grid"):
        features_delayed(da[:, :3], grid, threshold)
