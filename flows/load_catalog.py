"""The ``load-catalog`` flow: register a cube in PostGIS with zonal statistics and derived features.

Stages, each a Prefect task: ``inspect`` (open the cube, read and check regions and thresholds; nothing is
written if anything is wrong), ``zonal-statistics`` and ``features`` (array work on the Dask cluster, one Dask
task per time chunk), and ``load`` (one transaction: regions, cube, variables, then COPY of statistics and
features). Readers see the catalogue before or after a load, never in between; a rerun leaves the same rows.
"""

from __future__ import annotations

import time
from typing import Any

import dask
from distributed import Client
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from cubes.cluster import dask_cluster, release_free_memory
from cubes.features import features_delayed
from cubes.gridgeometry import GridGeometry
from cubes.zonal import ZonalStats, coverage_weights, zonal_delayed
from flows.keys import key_part
from flows.quoting import as_is
from flows.results import CatalogLoadResult, record_result
from flows.settings import cluster_settings, database_settings
from semantic.store.db import open_catalog
from semantic.store.load import FeatureRow
from semantic.store.plan import LoadPlan, needs_database, plan_load, write_load


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
    engine = open_catalog(database_settings(database_block)) if needs_database(regions) else None
    # the cube's small reads run on local threads: dask would otherwise take any client still registered in this
    # process, such as a worker's own client left over from a build's closed threads cluster
    with dask.config.set(scheduler="threads"):
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
    scheduler: str | None,
) -> CatalogLoadResult:
    """Write regions, cube, variables, statistics and features in one transaction."""
    engine = open_catalog(database_settings(database_block))
    logger = get_run_logger()
    started = time.perf_counter()
    with engine.begin() as conn:
        counts = write_load(conn, plan, zonal, features)
    seconds = time.perf_counter() - started
    for source, repaired in counts.repaired.items():
        logger.warning("%s: %d invalid geometries repaired", source, repaired)
    rows = counts.zonal_stats + counts.features
    logger.info("loaded %d rows in %.2f s (%.0f rows/s)", rows, seconds, rows / seconds if seconds else 0)
    return CatalogLoadResult(
        cube_id=counts.cube_id,
        zonal_stats=counts.zonal_stats,
        features=counts.features,
        regions_imported=counts.regions_imported,
        load_seconds=seconds,
        rows_per_s=rows / seconds if seconds else 0,
        scheduler=scheduler,
    )


def _summary(plan: LoadPlan, result: CatalogLoadResult) -> str:
    lines = [
        f"# Catalogue load of `{plan.cube.name}` {plan.cube.version}\n",
        f"- **Cube:** `{plan.cube.location}` ({len(plan.cube.times)} time steps, {plan.cube.crs})",
        f"- **Variables:** {', '.join(plan.variables)}",
        f"- **Region sets:** {', '.join(f'{r.source} ({len(r.names)})' for r in plan.regions) or 'none'}",
        f"- **Thresholds:** {', '.join(t.kind for t in plan.thresholds) or 'none'}",
        f"- **Rows:** {result.zonal_stats} zonal statistics, {result.features} features, "
        f"loaded in {result.load_seconds:.2f} s ({result.rows_per_s:.0f} rows/s)",
    ]
    return "\n".join(lines) + "\n"


@flow(name="load-catalog", log_prints=True, on_completion=[record_result])
def load_catalog(
    cube: str,
    regions: list[str] | None = None,
    features: list[str] | None = None,
    variables: list[str] | None = None,
    min_cells: int = 1,
    cluster: dict[str, Any] | None = None,
    cluster_block: str | None = None,
    database_block: str | None = None,
) -> CatalogLoadResult:
    """Register the cube published at ``cube`` and load its zonal statistics and features.

    Args:
        cube: Path of a published cube.
        regions: Region sets by name (already imported) or regions files (imported by this load).
        features: Thresholds ``VAR:VALUE`` (``>=``), ``VAR:>VALUE``, ``VAR:<VALUE``... to vectorise.
        variables: Variables to compute statistics for (default: all on ``(time, y, x)``).
        min_cells: Smallest feature kept, in cells.
        cluster: :class:`~cubes.cluster.ClusterSettings` fields (``address``...).
        cluster_block: Name of a saved ``esdl-dask-cluster`` block (wins over ``cluster``).
        database_block: Name of a saved ``esdl-database`` block (default: ``ESDL_DATABASE_URL`` or the
            project-local PostGIS).

    Returns:
        The rows written, the load's time and the scheduler the array work ran on.
    """
    plan = inspect_task(cube, list(regions or []), list(features or []), variables, min_cells, database_block)
    zonal: dict[tuple[str, str], ZonalStats] = {}
    found: dict[tuple[str, str], list[FeatureRow]] = {}
    scheduler = None
    if plan.regions or plan.thresholds:
        with dask_cluster(cluster_settings(cluster, cluster_block)) as scheduler:
            if plan.regions:
                zonal = zonal_task(as_is(plan), scheduler)
            if plan.thresholds:
                found = features_task(as_is(plan), scheduler)
    result = load_task(as_is(plan), as_is(zonal), as_is(found), database_block, scheduler)
    key = key_part(plan.cube.name)
    create_markdown_artifact(_summary(plan, result), key=f"catalog-{key}", description="catalogue load summary")
    return result
