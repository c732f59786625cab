"""Region sets: reading GeoJSON, GeoPackage and Shapefile, reprojection, repair or rejection, idempotent import."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
import sqlalchemy as sa

from esdl_testing.cli import run_esdl
from semantic.errors import RegionError
from semantic.store.db import make_engine
from semantic.store.regions import import_regions, read_regions


def frame(geoms: list, names: list[str] | None = None, crs: str | None = "EPSG:4326", **cols: list) -> gpd.GeoDataFrame:
    data = {"name": names or [f"r{i}" for i in range(len(geoms))], **cols}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def squares() -> list[shapely.Polygon]:
    return [shapely.box(i, 40, i + 1, 41) for i in range(3)]


def count_regions(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text("SELECT count(*) FROM region")).scalar_one())
    engine.dispose()
    return n


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".shp", "ESRI Shapefile")])
def test_formats_are_read_and_reprojected_to_lonlat(tmp_path: Path, suffix: str, driver: str) -> None:
    to_mercator = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    lonlat = squares()
    merc = [shapely.transform(g, lambda xy: np.column_stack(to_mercator.transform(xy[:, 0], xy[:, 1]))) for g in lonlat]
    path = tmp_path / f"basins{suffix}"
    frame(merc, crs="EPSG:3857", area_class=[1, 2, 3]).to_file(path, driver=driver)
    regions = read_regions(path)
    assert regions.source == "basins" and regions.names() == ["r0", "r1", "r2"]
    for got, want in zip(regions.regions, lonlat, strict=True):
        assert got.geom.geom_type == "MultiPolygon"
        assert shapely.equals_exact(got.geom.normalize(), shapely.MultiPolygon([want]).normalize(), tolerance=1e-9)
        geod = pyproj.Geod(ellps="WGS84")
        assert got.area_m2 == pytest.approx(abs(geod.geometry_area_perimeter(want)[0]), rel=1e-9)
    assert [r.properties["area_class"] for r in regions.regions] == [1, 2, 3]


def test_invalid_geometry_is_repaired_and_counted(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    assert not bowtie.is_valid
    path = tmp_path / "r.geojson"
    frame([*squares(), bowtie]).to_file(path, driver="GeoJSON")
    regions = read_regions(path)
    assert regions.repaired == ["r3"]
    fixed = regions.regions[3].geom
    assert fixed.is_valid and fixed.area == pytest.approx(2.0)  # both triangles kept
    with pytest.raises(RegionError, match=r"feature 4 \(name='r3'\): invalid geometry \(Self-intersection"):
        read_regions(path, repair=False)


@pytest.mark.parametrize(
    "geom,message",
    [
        (shapely.Point(1, 1), "Point geometry; regions must be polygons"),
        (shapely.LineString([(0, 0), (1, 1)]), "LineString geometry"),
        (shapely.Polygon(), "empty geometry"),
    ],
)
def test_unusable_geometry_is_rejected_naming_the_feature(tmp_path: Path, geom: object, message: str) -> None:
    path = tmp_path / "r.gpkg"
    frame([*squares(), geom], names=["a", "b", "c", "bad one"]).to_file(path, driver="GPKG")
    with pytest.raises(RegionError, match=rf"feature 4 \(name='bad one'\): {message}"):
        read_regions(path)


@pytest.mark.filterwarnings("ignore:.crs. was not provided:UserWarning")
def test_file_without_crs_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    frame(squares(), crs=None).to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(RegionError, match=r"nocrs\.shp: no CRS"):
        read_regions(path)


def test_duplicate_names_and_unknown_name_field_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "r.geojson"
    frame(squares(), names=["a", "b", "a"]).to_file(path, driver="GeoJSON")
    with pytest.raises(RegionError, match=r"not unique \(name\): \['a'\]"):
        read_regions(path)
    with pytest.raises(RegionError, match="no attribute 'basin'"):
        read_regions(path, name_field="basin")
    with pytest.raises(RegionError, match="no such file"):
        read_regions(tmp_path / "missing.geojson")
    (tmp_path / "junk.geojson").write_text("{not json")
    with pytest.raises(RegionError, match=r"junk\.geojson: cannot read regions"):
        read_regions(tmp_path / "junk.geojson")


def test_import_is_idempotent_and_replaces_the_set(tmp_path: Path, catalog_url: str) -> None:
    path = tmp_path / "basins.geojson"
    frame(squares(), code=["x", "y", "z"]).to_file(path, driver="GeoJSON")
    engine = make_engine(catalog_url)

    def load() -> dict[str, Any]:
        with engine.begin() as conn:
            return import_regions(conn, read_regions(path)).as_dict()

    def snapshot() -> Sequence[Any]:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT id, source, name, kind, ST_AsEWKB(geom), area_m2, properties FROM region ORDER BY id")
            ).all()

    assert load() == {"source": "basins", "inserted": 3, "updated": 0, "unchanged": 0, "removed": 0, "repaired": 0}
    first = snapshot()
    assert load()["unchanged"] == 3
    assert snapshot() == first  # same ids, same rows
    with engine.begin() as conn:  # a statistic on r1, which is about to change shape
        conn.execute(
            sa.text(
                "INSERT INTO cube (name, version, location, store_path, crs, footprint, resolution_x, resolution_y, "
                "time_start, time_end, time_steps, spec_hash, created, attrs) VALUES ('c', '1', '/c', '/c', "
                "'EPSG:4326', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326)), 1, 1, now(), now(), 1, 'h', now(), '{}')"
            )
        )
        conn.execute(sa.text("INSERT INTO variable (cube_id, name, dtype) SELECT id, 'v', 'float32' FROM cube"))
        conn.execute(
            sa.text(
                "INSERT INTO zonal_stat (variable_id, region_id, time, mean, valid_count, covered_area) "
                "SELECT v.id, r.id, now(), 1, 1, 1 FROM variable v, region r"
            )
        )
    frame([squares()[0], shapely.box(1, 40, 1.5, 41)], names=["r0", "r1"], code=["x", "y"]).to_file(
        path, driver="GeoJSON"
    )
    assert load() == {"source": "basins", "inserted": 0, "updated": 1, "unchanged": 1, "removed": 1, "repaired": 0}
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT r.name FROM zonal_stat z JOIN region r ON r.id = z.region_id")).scalars()
        assert sorted(left) == ["r0"]  # r1's statistic described the old polygon; r2 is gone
    engine.dispose()


@pytest.mark.filterwarnings("ignore:.crs. was not provided:UserWarning")
def test_cli_import_reports_repairs_and_rejects_bad_files_writing_nothing(tmp_path: Path, catalog_url: str) -> None:
    good = tmp_path / "good.geojson"
    frame([*squares(), shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])]).to_file(good, driver="GeoJSON")
    run = run_esdl("regions", "import", str(good), "--set", "basins", "--kind", "basin")
    assert run.returncode == 0, run.stderr
    assert "repaired 1 invalid geometries" in run.stderr and '"inserted": 4' in run.stdout
    listing = run_esdl("regions", "list")
    assert "basins" in listing.stdout and "basin" in listing.stdout

    bad = tmp_path / "bad.gpkg"
    frame([*squares(), shapely.Point(0, 0)]).to_file(bad, driver="GPKG")
    run = run_esdl("regions", "import", str(bad))
    assert run.returncode == 2
    assert "feature 4 (name='r3'): Point geometry" in run.stderr
    nocrs = tmp_path / "nocrs.shp"
    frame(squares(), crs=None).to_file(nocrs)
    run = run_esdl("regions", "import", str(nocrs))
    assert run.returncode == 2 and "no CRS" in run.stderr
    assert count_regions(catalog_url) == 4
