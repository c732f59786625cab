"""The end of a build: every region written, the cube verified, its statistics and quicklooks, publication."""

from __future__ import annotations

import json
from pathlib import Path

import dask

from cubes.errors import WriteError
from cubes.plan import CubePlan
from cubes.quicklook import write_quicklooks
from cubes.spec import CubeSpec
from cubes.stac import cube_collection, derived_from, write_collection
from cubes.stats import VariableStats, cube_stats
from cubes.store import build_location
from cubes.verify import open_cube, verify
from cubes.writer import missing_regions


def finish_build(spec: CubeSpec, plan: CubePlan) -> tuple[Path, list[VariableStats]]:
    """Check that every region of ``plan`` is written, verify the staging cube, write its statistics
    (``stats.json``), quicklooks and STAC Collection (``collection.json``, :mod:`cubes.stac`) beside it, and publish
    it; return the published path and the statistics.

    The reads here are small (coordinates, one time step per variable for the quicklooks): they run on the local
    threaded scheduler even where a distributed client is the default one, which would cost a round trip each.

    Raises:
        WriteError: Regions are missing, or the cube's STAC Collection does not validate (nothing is published).
        cubes.errors.VerifyError: The cube is invalid (nothing is published).
    """
    publication, build = build_location(spec)
    missing = [r.index for r in missing_regions(plan, build)]
    if missing:
        raise WriteError(f"cannot publish: {len(missing)} regions are not written: {missing[:10]}")
    with dask.config.set(scheduler="threads"):
        verify(build.store)
        ds = open_cube(build.store)
        stats = cube_stats(plan, build.region_records(), {str(k): v.attrs.get("units", "") for k, v in ds.items()})
        quicklooks = write_quicklooks(ds, stats, build.quicklooks)
        collection = cube_collection(
            ds,
            name=spec.name,
            crs=spec.grid.pyproj_crs,
            period=spec.time.period,
            restart_yearly=spec.time.restart_yearly,
            fingerprint=spec.fingerprint(),
            thumbnails={k: f"./{p.relative_to(build.root).as_posix()}" for k, p in quicklooks.items()},
            derived_from=derived_from(spec),
        )
    try:
        write_collection(collection, build.root)
    except ValueError as err:
        raise WriteError(f"cannot publish: {err}") from None
    (build.root / "stats.json").write_text(json.dumps([s.as_row() for s in stats], indent=1))
    return publication.publish(build), stats
