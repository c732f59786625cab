"""A catalogue load, checked and described before any work (:func:`plan_load`), and written in one transaction
(:func:`write_load`).

The ``load-catalog`` flow and ``esdl catalog load`` call :func:`plan_load` first: a bad cube, variable, region
set or threshold raises a domain error naming it, and nothing is computed or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import xarray as xr

from cubes.features import Threshold
from cubes.zonal import ZonalStats
from semantic.errors import CatalogError, RegionError
from semantic.store.catalog import CubeRecord, describe_cube, register_cube
from semantic.store.load import FeatureRow, replace_features, replace_zonal_stats
from semantic.store.regions import RegionSet, import_regions, read_regions, region_set

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


@dataclass
class LoadCounts:
    """What :func:`write_load` wrote: the cube's id, rows of statistics and features, region sets imported."""

    cube_id: int
    zonal_stats: int = 0
    features: int = 0
    regions_imported: list[dict[str, Any]] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)  # region set: invalid geometries repaired


def needs_database(regions: list[str]) -> bool:
    """Whether some of ``regions`` name region sets already in the database rather than files."""
    return any(not is_regions_file(r) for r in regions)


def is_regions_file(arg: str) -> bool:
    """Whether a ``regions`` argument is a file (existing, or named like one) rather than a region set's name."""
    path = Path(arg)
    return path.exists() or path.suffix.lower() in REGION_FILE_SUFFIXES


def _region_input(arg: str, engine: sa.Engine | None) -> RegionInput:
    if is_regions_file(arg):
        regions = read_regions(arg)
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
    """Check every input and describe the work; raises a domain error naming the first problem found.

    Args:
        cube: Path of a published cube.
        regions: Region sets by name (``engine`` is needed to read them) or regions files.
        features: Thresholds ``VAR:VALUE`` (``>=``), ``VAR:>VALUE``, ``VAR:<VALUE``...
        variables: Variables to compute statistics for (default: all of the cube's).
        engine: The catalogue, for region sets given by name; ``None`` when every region set is a file.
        min_cells: Smallest feature kept, in cells.
        with_stats: Read the cube's per-variable statistics (the load records them; a check does not need them).
    """
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


def write_load(
    conn: sa.Connection,
    plan: LoadPlan,
    zonal: dict[tuple[str, str], ZonalStats],
    features: dict[tuple[str, str], list[FeatureRow]],
) -> LoadCounts:
    """Write regions, cube, variables, statistics and features in the caller's transaction.

    Loads take an advisory lock (one at a time); a rerun over the same cube leaves the same rows.
    """
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    imported: list[dict[str, Any]] = []
    repaired: dict[str, int] = {}
    for regions in plan.regions:
        if regions.from_file is not None:
            result = import_regions(conn, regions.from_file)
            imported.append(result.as_dict())
            if result.repaired:
                repaired[regions.source] = result.repaired
    cube_id, variable_ids = register_cube(conn, plan.cube)
    counts = LoadCounts(cube_id, regions_imported=imported, repaired=repaired)
    for regions in plan.regions:
        ids = {name: rid for rid, name, _ in region_set(conn, regions.source)}
        region_ids = np.array([ids[name] for name in regions.names], dtype=np.int64)
        for name in plan.variables:
            st = zonal[(regions.source, name)]
            counts.zonal_stats += replace_zonal_stats(
                conn, variable_ids[name], region_ids, plan.cube.times, st.__dict__
            )
    for (name, kind), rows in features.items():
        counts.features += replace_features(conn, variable_ids[name], kind, rows)
    return counts
