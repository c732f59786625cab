"""The end of a build: every region written, the cube verified, its statistics and quicklooks, publication."""

from __future__ import annotations

import json
from pathlib import Path

import dask

from cubes.errors import WriteError
from cubes.plan import CubePlan
from cubes.quicklook import write_quicklooks
from cubes.spec import CubeSpec
from cubes.stats import VariableStats, cube_stats
from cubes.store import build_location
from cubes.verify import open_cube, verify
from cubes.writer import missing_regions


def finish_build(spec: CubeSpec, plan: CubePlan) -> tuple[Path, list[VariableStats]]:
    """Check that every region of ``plan`` is written, verify the staging cube, write its statistics
    (``stats.json``) and quicklooks beside it, and publish it; return the published path and the statistics.

    The reads here are small (coordinates, one time step per variable for the quicklooks): they run on the local
    threaded scheduler even where a distributed client is the default one, which would cost a round trip each.

    Raises:
        WriteError: Regions are missing (nothing is published).
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
        write_quicklooks(ds, stats, build.quicklooks)
    (build.root / "stats.json").write_text(json.dumps([s.as_row() for s in stats], indent=1))
    return publication.publish(build), stats
