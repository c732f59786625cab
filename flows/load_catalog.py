"""The ``load-catalog`` flow: register a cube in PostGIS with zonal statistics and derived features.

Stages, each a Prefect task: ``inspect`` (open the cube, read and check regions and thresholds; nothing is
written if anything is wrong), ``zonal-statistics`` and ``features`` (array work on the Dask cluster, one Dask
task per time chunk), and ``load`` (one transaction: regions, cube, variables, then COPY of statistics and
features). Readers see the catalogue before or after a load, never in between; a rerun leaves the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import xarray as xr
from distributed import Client
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from cubes.features import Threshold, features_delayed
from cubes.gridgeometry import GridGeometry
from cubes.zonal import ZonalStats, coverage_weights, zonal_delayed
from flows.cluster import ClusterSettings, dask_cluster, release_free_memory
from semantic.errors import CatalogError, RegionError
from semantic.store.catalog import CubeRecord, describe_cube, register_cube
from semantic.store.db import open_catalog
from semantic.store.load import FeatureRow, replace_features, replace_zonal_stats
from semantic.store.regions import RegionSet, import_regions, read_regions, region_set
from semantic.store.settings import DatabaseSettings

REGION_FILE_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".kml", ".zip")
LOCK_KEY = 0x65_73_64_6C  # "esdl": catalogue loads take this advisory lock, one at a time


@dataclass
class RegionInput:
    """A region set to compute statistics for: from a file (imported by the load) or already in the database."""

    source: str
    names: list[str]
    geometries: list[Any]
    from_file: RegionSet | None = None


@dataclass
class LoadPlan:
    """Everything checked before any work: the cube, its variables, the regions and the thresholds."""

    cube: CubeRecord
    dataset: xr.Dataset
    variables: list[str]
    regions: list[RegionInput] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    min_cells: int = 1


def _region_input(arg: str, engine: sa.Engine | None) -> RegionInput:
    path = Path(arg)
    if path.exists() or path.suffix.lower() in REGION_FILE_SUFFIXES:
        regions = read_regions(path)
        return RegionInput(regions.source, regions.names(), [r.geom for r in regions.regions], regions)
    if engine is None:
        raise RegionError(f"{arg}: no such regions file")
    with engine.connect() as conn:
        rows = region_set(conn, arg)
    return RegionInput(arg, [name for _, name, _ in rows], [geom for _, _, geom in rows])


def plan_load(
    cube: str,
    regions: list[str],
    features: list[str],
    variables: list[str] | None,
    engine: sa.Engine | None,
    min_cells: int = 1,
    with_stats: bool = True,
) -> LoadPlan:
    """Check every input and describe the work; raises a domain error naming the first problem found."""
    record, ds = describe_cube(cube, with_stats=with_stats)
    names = variables or [v.name for v in record.variables]
    for name in names:
        record.variable(name)
    thresholds = [Threshold.parse(text) for text in features]
    for threshold in thresholds:
        record.variable(threshold.variable)
    inputs = [_region_input(arg, engine) for arg in regions]
    sources = [r.source for r in inputs]
    if len(set(sources)) != len(sources):
        raise CatalogError(f"region sets given twice: {sources}")
    return LoadPlan(record, ds, names, inputs, thresholds, min_cells)


def database_settings(database_block: str | None) -> DatabaseSettings:
    """The settings of a saved ``esdl-database`` block, or from the environment (``ESDL_DATABASE_URL``...)."""
    if database_block:
        from blocks.database import DatabaseBlock

        return DatabaseBlock.load(database_block).settings()  # type: ignore[union-attr]
    return DatabaseSettings()


@task(name="inspect", cache_policy=NO_CACHE)
def inspect_task(
    cube: str,
    regions: list[str],
    features: list[str],
    variables: list[str] | None,
    min_cells: int,
    database_block: str | None,
) -> LoadPlan:
    """Open the cube and check the variables, regions and thresholds."""
    needs_db = any(not Path(r).exists() for r in regions)
    engine = open_catalog(database_settings(database_block)) if needs_db else None
    plan = plan_load(cube, regions, features, variables, engine, min_cells)
    get_run_logger().info(
        "cube %s %s: %d variables, %d time steps, %d region sets, %d thresholds",
        plan.cube.name,
        plan.cube.version,
        len(plan.variables),
        len(plan.cube.times),
        len(plan.regions),
        len(plan.thresholds),
    )
    return plan


@task(name="zonal-statistics", cache_policy=NO_CACHE)
def zonal_task(plan: LoadPlan, address: str) -> dict[tuple[str, str], ZonalStats]:
    """Coverage weights once per region set, then every variable's statistics over all time steps on Dask."""
    grid = GridGeometry.from_dataset(plan.dataset)
    jobs: list[tuple[tuple[str, str], list[tuple[int, Any]]]] = []
    for regions in plan.regions:
        weights = coverage_weights(grid, regions.geometries)
        for name in plan.variables:
            jobs.append(((regions.source, name), zonal_delayed(plan.dataset[name], weights)))
    out: dict[tuple[str, str], ZonalStats] = {}
    with Client(address, set_as_default=False) as client:
        futures = client.compute([[d for _, d in parts] for _, parts in jobs])
        for (key, _), parts in zip(jobs, client.gather(futures), strict=True):
            out[key] = ZonalStats.concat(parts)
    release_free_memory()
    return out


@task(name="features", cache_policy=NO_CACHE)
def features_task(plan: LoadPlan, address: str) -> dict[tuple[str, str], list[FeatureRow]]:
    """Vectorise each threshold mask at every time step on Dask."""
    grid = GridGeometry.from_dataset(plan.dataset)
    times = plan.cube.times
    out: dict[tuple[str, str], list[FeatureRow]] = {}
    with Client(address, set_as_default=False) as client:
        for threshold in plan.thresholds:
            parts = features_delayed(plan.dataset[threshold.variable], grid, threshold, plan.min_cells)
            results = client.gather(client.compute([d for _, d in parts]))
            rows = [
                FeatureRow(times[f.time_index], f.part, f.geometry, f.value, f.n_cells, f.area)
                for block in results
                for f in block
            ]
            out[(threshold.variable, threshold.kind)] = rows
    return out


@task(name="load", cache_policy=NO_CACHE)
def load_task(
    plan: LoadPlan,
    zonal: dict[tuple[str, str], ZonalStats],
    features: dict[tuple[str, str], list[FeatureRow]],
    database_block: str | None,
) -> dict[str, Any]:
    """Write regions, cube, variables, statistics and features in one transaction."""
    engine = open_catalog(database_settings(database_block))
    logger = get_run_logger()
    started = time.perf_counter()
    counts = {"zonal_stats": 0, "features": 0, "regions_imported": []}
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        for regions in plan.regions:
            if regions.from_file is not None:
                result = import_regions(conn, regions.from_file)
                counts["regions_imported"].append(result.as_dict())  # type: ignore[attr-defined]
                if result.repaired:
                    logger.warning("%s: %d invalid geometries repaired", regions.source, result.repaired)
        cube_id, variable_ids = register_cube(conn, plan.cube)
        for regions in plan.regions:
            ids = {name: rid for rid, name, _ in region_set(conn, regions.source)}
            region_ids = np.array([ids[name] for name in regions.names], dtype=np.int64)
            for name in plan.variables:
                st = zonal[(regions.source, name)]
                counts["zonal_stats"] += replace_zonal_stats(
                    conn, variable_ids[name], region_ids, plan.cube.times, st.__dict__
                )
        for (name, kind), rows in features.items():
            counts["features"] += replace_features(conn, variable_ids[name], kind, rows)
    seconds = time.perf_counter() - started
    rows = counts["zonal_stats"] + counts["features"]  # type: ignore[operator]
    logger.info("loaded %d rows in %.2f s (%.0f rows/s)", rows, seconds, rows / seconds if seconds else 0)
    return {"cube_id": cube_id, **counts, "load_seconds": seconds, "rows_per_s": rows / seconds if seconds else 0}


def _summary(plan: LoadPlan, result: dict[str, Any]) -> str:
    lines = [
        f"# Catalogue load of `{plan.cube.name}` {plan.cube.version}\n",
        f"- **Cube:** `{plan.cube.location}` ({len(plan.cube.times)} time steps, {plan.cube.crs})",
        f"- **Variables:** {', '.join(plan.variables)}",
        f"- **Region sets:** {', '.join(f'{r.source} ({len(r.names)})' for r in plan.regions) or 'none'}",
        f"- **Thresholds:** {', '.join(t.kind for t in plan.thresholds) or 'none'}",
        f"- **Rows:** {result['zonal_stats']} zonal statistics, {result['features']} features, "
        f"loaded in {result['load_seconds']:.2f} s ({result['rows_per_s']:.0f} rows/s)",
    ]
    return "\n".join(lines) + "\n"


@flow(name="load-catalog", log_prints=True)
def load_catalog(
    cube: str,
    regions: list[str] | None = None,
    features: list[str] | None = None,
    variables: list[str] | None = None,
    min_cells: int = 1,
    cluster: dict[str, Any] | None = None,
    database_block: str | None = None,
) -> dict[str, Any]:
    """Register the cube published at ``cube`` and load its zonal statistics and features.

    Args:
        cube: Path of a published cube.
        regions: Region sets by name (already imported) or regions files (imported by this load).
        features: Thresholds ``VAR:VALUE`` (``>=``), ``VAR:>VALUE``, ``VAR:<VALUE``... to vectorise.
        variables: Variables to compute statistics for (default: all on ``(time, y, x)``).
        min_cells: Smallest feature kept, in cells.
        cluster: :class:`~flows.cluster.ClusterSettings` fields (``address``...).
        database_block: Name of a saved ``esdl-database`` block (default: ``ESDL_DATABASE_URL`` or the
            project-local PostGIS).

    Returns:
        ``{"cube_id", "zonal_stats", "features", "regions_imported", "load_seconds", "rows_per_s"}``.
    """
    plan = inspect_task(cube, list(regions or []), list(features or []), variables, min_cells, database_block)
    zonal: dict[tuple[str, str], ZonalStats] = {}
    found: dict[tuple[str, str], list[FeatureRow]] = {}
    if plan.regions or plan.thresholds:
        with dask_cluster(ClusterSettings(**(cluster or {}))) as address:
            if plan.regions:
                zonal = zonal_task(quote(plan), address)
            if plan.thresholds:
                found = features_task(quote(plan), address)
    result = load_task(quote(plan), quote(zonal), quote(found), database_block)
    key = "".join(c if c.isalnum() else "-" for c in plan.cube.name.lower())
    create_markdown_artifact(_summary(plan, result), key=f"catalog-{key}", description="catalogue load summary")
    return result
