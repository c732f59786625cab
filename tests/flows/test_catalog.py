"""The load-catalog flow end to end: a real cube built by the build-cube flow, a real Prefect server, real
PostGIS. Checks the numbers against independent numpy computations, idempotence, atomicity and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
import xarray as xr
from scipy import ndimage

from cubes.verify import open_cube
from esdl_testing.cli import run_esdl
from esdl_testing.paths import REPO_ROOT
from semantic.store.db import make_engine

TABLES = {
    "cube": "name, version",
    "variable": "cube_id, name",
    "region": "source, name",
    "zonal_stat": "variable_id, region_id, time",
    "feature": "variable_id, kind, time, part",
}


def cube_spec(output: Path, seed: int = 0) -> dict[str, Any]:
    return {
        "name": "cat",
        "version": "1",
        "grid": {"bbox": [0, 40, 10, 50], "resolution": 0.25},
        "time": {"start": "2020-01-01", "end": "2020-03-31", "period": "8D"},
        "sources": {
            "s": {
                "kind": "synthetic",
                "options": {
                    "bbox": [0, 40, 10, 50],
                    "resolution": 0.125,
                    "start": "2020-01-01",
                    "end": "2020-03-31",
                    "nan_fraction": 0.2,
                    "variables": ["a", "b"],
                    "seed": seed,
                },
            }
        },
        "variables": [
            {"name": "a", "source": "s", "units": "K"},
            {"name": "b", "source": "s", "units": "K", "temporal_aggregation": "max"},
        ],
        "chunks": {"time": 4, "y": 20, "x": 20},
        "output": str(output),
    }


def write_regions(path: Path) -> list[shapely.Geometry]:
    geoms = [
        shapely.box(1.0, 41.0, 2.0, 42.0),  # exactly 4 x 4 cells
        shapely.box(5.1, 44.1, 6.3, 45.7),  # partial cells on every side
        shapely.Polygon([(7, 47), (9.5, 46), (9, 49.5)]),
        shapely.box(20, 20, 21, 21),  # outside the cube
    ]
    gpd.GeoDataFrame({"name": ["square", "box", "triangle", "away"]}, geometry=geoms, crs=4326).to_file(
        path, driver="GeoJSON"
    )
    return geoms


@pytest.fixture(scope="module")
def built_cube(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Path:
    from flows.build_cube import build_cube

    out = tmp_path_factory.mktemp("catalog") / "cat.zarr"
    build_cube(spec=cube_spec(out))  # type: ignore[call-overload]  # a spec mapping
    return out


def snapshot(url: str) -> dict[str, Sequence[Any]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = {t: conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY {k}")).all() for t, k in TABLES.items()}
    engine.dispose()
    return rows


def counts(url: str) -> dict[str, int]:
    return {t: len(rows) for t, rows in snapshot(url).items()}


def area_weighted(values: np.ndarray, lat: np.ndarray, res: float) -> np.ndarray:
    """Independent reference for regions made of whole cells: mean weighted by the exact ellipsoidal cell area."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    areas = np.array(
        [abs(geod.polygon_area_perimeter([0, res, res, 0], [y - res / 2] * 2 + [y + res / 2] * 2)[0]) for y in lat]
    )
    w = np.broadcast_to(areas[None, :, None], values.shape) * ~np.isnan(values)
    return np.nansum(values * w, axis=(1, 2)) / w.sum(axis=(1, 2))


def test_load_computes_statistics_and_features(built_cube: Path, catalog_url: str, tmp_path: Path) -> None:
    from flows.load_catalog import load_catalog

    regions = tmp_path / "zones.geojson"
    write_regions(regions)
    ds = open_cube(built_cube)
    threshold = float(np.nanmedian(ds["a"].values))
    result = load_catalog(cube=str(built_cube), regions=[str(regions)], features=[f"a:>={threshold}"])
    nt = ds.sizes["time"]
    assert result.zonal_stats == 4 * 2 * nt

    engine = make_engine(catalog_url)
    with engine.connect() as conn:
        cube = conn.execute(sa.text("SELECT *, ST_AsText(footprint) AS wkt FROM cube")).one()
        assert (cube.name, cube.version, cube.time_steps, cube.crs) == ("cat", "1", nt, "EPSG:4326")
        assert shapely.from_wkt(cube.wkt).equals(shapely.box(0, 40, 10, 50))
        assert cube.spec_hash == ds.attrs["esdl_spec_fingerprint"]
        stats = {r["name"]: r for r in json.loads((built_cube.resolve().parent / "stats.json").read_text())}
        for var in conn.execute(sa.text("SELECT * FROM variable ORDER BY name")):
            assert var.mean == pytest.approx(stats[var.name]["mean"]) and var.units == "K"
        assert conn.execute(sa.text("SELECT temporal_aggregation FROM variable WHERE name = 'b'")).scalar() == "max"

        rows = conn.execute(
            sa.text(
                "SELECT z.* FROM zonal_stat z JOIN region r ON r.id = z.region_id JOIN variable v ON "
                "v.id = z.variable_id WHERE r.name = 'square' AND v.name = 'a' ORDER BY time"
            )
        ).all()
        square = ds["a"].sel(lat=slice(41, 42), lon=slice(1, 2)).values.astype(np.float64)
        assert square.shape[1:] == (4, 4)
        np.testing.assert_allclose(
            [r.mean for r in rows], area_weighted(square, ds["lat"].sel(lat=slice(41, 42)).values, 0.25), rtol=1e-10
        )
        np.testing.assert_allclose([r.min for r in rows], np.nanmin(square, axis=(1, 2)), rtol=0)
        np.testing.assert_allclose([r.max for r in rows], np.nanmax(square, axis=(1, 2)), rtol=0)
        assert [r.valid_count for r in rows] == (~np.isnan(square)).sum(axis=(1, 2)).tolist()
        assert [r.time.replace(tzinfo=None) for r in rows] == [
            t.astype("datetime64[us]").item() for t in ds["time"].values
        ]

        away = conn.execute(
            sa.text(
                "SELECT count(*), count(mean), sum(valid_count) FROM zonal_stat z JOIN region r ON "
                "r.id = z.region_id WHERE r.name = 'away'"
            )
        ).one()
        assert tuple(away) == (2 * nt, 0, 0)  # outside the cube: rows with NULL statistics, no valid cells

        features = conn.execute(
            sa.text(
                "SELECT time, part, n_cells, value, ST_IsValid(geom) AS valid, ST_Area(geom) AS deg2 FROM feature "
                "ORDER BY time, part"
            )
        ).all()
    engine.dispose()
    values = ds["a"].values
    expected_parts = [ndimage.label(values[k] >= threshold)[1] for k in range(nt)]
    got_parts = [
        sum(1 for f in features if f.time.replace(tzinfo=None) == t.astype("datetime64[us]").item())
        for t in ds["time"].values
    ]
    assert got_parts == expected_parts
    assert sum(f.n_cells for f in features) == int(np.sum(values >= threshold))
    assert all(f.valid and f.value >= threshold for f in features)
    np.testing.assert_allclose([f.deg2 for f in features], [f.n_cells * 0.0625 for f in features], rtol=1e-9)


def test_rerun_leaves_exactly_the_same_rows(built_cube: Path, catalog_url: str, tmp_path: Path) -> None:
    from flows.load_catalog import load_catalog

    regions = tmp_path / "zones.geojson"
    write_regions(regions)
    args: dict[str, Any] = {"cube": str(built_cube), "regions": [str(regions)], "features": ["a:>=295", "b:<290"]}
    load_catalog(**args)
    first = snapshot(catalog_url)
    assert all(first[t] for t in TABLES)
    load_catalog(**args)
    assert snapshot(catalog_url) == first
    # the region set by name (already imported) gives the same statistics
    load_catalog(cube=str(built_cube), regions=["zones"])
    assert snapshot(catalog_url) == first


def test_a_load_killed_mid_transaction_leaves_nothing(built_cube: Path, catalog_url: str, tmp_path: Path) -> None:
    """Block the load on a lock after its statistics are written, check nothing is visible, kill it, check again."""
    regions = tmp_path / "zones.geojson"
    write_regions(regions)
    engine = make_engine(catalog_url)
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE feature IN ACCESS EXCLUSIVE MODE"))  # the load's last step waits here
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "esdl",
                "catalog",
                "load",
                str(built_cube),
                "--regions",
                str(regions),
                "--features",
                "a:>=295",
            ],
            cwd=REPO_ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        waiting = None
        deadline = time.monotonic() + 240
        while waiting is None and time.monotonic() < deadline and proc.poll() is None:
            waiting = holder.execute(
                sa.text("SELECT pid FROM pg_locks WHERE relation = 'feature'::regclass AND NOT granted")
            ).scalar()
            time.sleep(0.1)
        assert waiting is not None, "the load never reached the feature step"
        seen = {t: holder.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES if t != "feature"}
        assert seen == {"cube": 0, "variable": 0, "region": 0, "zonal_stat": 0}  # mid-load: nothing visible
        in_flight = holder.execute(
            sa.text("SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'zonal_stat'")
        ).scalar()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        holder.rollback()  # release the lock: the orphaned backend finds its client gone and rolls back
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while True:
            activity = conn.execute(
                sa.text("SELECT state, wait_event, left(query, 200) FROM pg_stat_activity WHERE pid = :p"),
                {"p": waiting},
            ).first()
            # pg_stat_activity is read once per transaction: without this the loop saw the first reading forever
            conn.rollback()
            if activity is None:
                break
            # client_connection_check_interval (semantic.store.local) ends it within seconds of the lock's release
            assert time.monotonic() < deadline, f"the killed load's backend {waiting} is still there: {tuple(activity)}"
            time.sleep(0.1)
    engine.dispose()
    assert in_flight is not None
    assert counts(catalog_url) == dict.fromkeys(TABLES, 0)


def test_rebuilt_cube_replaces_stale_statistics(catalog_url: str, tmp_path: Path, prefect_api: str) -> None:
    from flows.build_cube import build_cube

    out = tmp_path / "re.zarr"
    regions = tmp_path / "zones.geojson"
    write_regions(regions)
    result = build_cube(spec=cube_spec(out), catalog={"regions": [str(regions)]})  # type: ignore[call-overload]  # a spec mapping
    assert result.catalog is not None and result.catalog.zonal_stats > 0
    first = snapshot(catalog_url)
    # new data, registered only: old statistics are stale
    build_cube(spec=cube_spec(out, seed=7), catalog={})  # type: ignore[call-overload]  # a spec mapping
    assert counts(catalog_url)["zonal_stat"] == 0
    after = snapshot(catalog_url)
    assert after["cube"][0].id == first["cube"][0].id and after["cube"][0].spec_hash != first["cube"][0].spec_hash


@pytest.mark.parametrize(
    "args,message",
    [
        (["{missing}"], "unknown cube: {missing} does not exist"),
        (["{cube}", "--features", "nope:1"], "cube cat has no variable 'nope' (variables: a, b)"),
        (["{cube}", "--features", "a:warm"], "a:warm"),
        (["{cube}", "--variable", "c"], "cube cat has no variable 'c'"),
        (["{cube}", "--regions", "no-such-set"], "no region set 'no-such-set'"),
        (["{cube}", "--regions", "{nocrs}"], "no CRS"),
        (["{cube}", "--regions", "{tmp}/absent.geojson"], "absent.geojson: no such file"),
    ],
)
@pytest.mark.filterwarnings("ignore:.crs. was not provided:UserWarning")
def test_bad_input_exits_2_and_writes_nothing(
    built_cube: Path, catalog_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    nocrs = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(1, 41, 2, 42)]).to_file(nocrs)
    names = {
        "missing": str(tmp_path / "missing.zarr"),
        "cube": str(built_cube),
        "nocrs": str(nocrs),
        "tmp": str(tmp_path),
    }
    run = run_esdl("catalog", "load", *(a.format(**names) for a in args))
    assert run.returncode == 2, run.stderr
    assert message.format(**names) in run.stderr
    assert counts(catalog_url) == dict.fromkeys(TABLES, 0)


def test_catalog_list_and_cli_load(built_cube: Path, catalog_url: str, tmp_path: Path) -> None:
    regions = tmp_path / "zones.geojson"
    write_regions(regions)
    run = run_esdl("catalog", "load", str(built_cube), "--regions", str(regions), "--variable", "a")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["zonal_stats"] == 4 * xr.open_zarr(built_cube, consolidated=False).sizes["time"]
    listing = run_esdl("catalog", "list")
    assert listing.returncode == 0 and "cat" in listing.stdout


def test_database_from_a_saved_block(
    built_cube: Path, catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved ``esdl-database`` block points the flow at its database, whatever the environment says."""
    from pydantic import SecretStr

    from blocks import DatabaseBlock
    from flows.load_catalog import load_catalog

    DatabaseBlock(url=SecretStr(catalog_url)).save("test-catalog", overwrite=True)
    monkeypatch.delenv("ESDL_DATABASE_URL")
    monkeypatch.setenv("ESDL_HOME", str(tmp_path / "state"))
    result = load_catalog(cube=str(built_cube), database_block="test-catalog")
    assert result.zonal_stats == 0
    assert counts(catalog_url)["cube"] == 1 and counts(catalog_url)["variable"] == 2
    assert not (tmp_path / "state" / "postgres.json").exists()  # the local cluster was never started
