"""Cube builds to disturb (killed, frozen, their server restarted) and compare: a small synthetic spec, its staging
build, the data of a built cube, waiting for a condition; and a small real cube published with the library alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from cubes.spec import CubeSpec, parse_spec
from cubes.store import BuildDir, Publication

REGIONS = 23
"""The regions of :func:`synthetic_spec`'s cube."""


def synthetic_spec(output: Path, title: str = "reliability") -> dict[str, Any]:
    """A cube from a daily 0.05 degree synthetic source, 8-day bins, 0.25 degrees: 23 regions, a few s each."""
    return {
        "name": "reliability",
        "grid": {"bbox": [0.0, 40.0, 20.0, 50.0], "resolution": 0.25},
        "time": {"start": "2020-01-01", "end": "2021-12-31", "period": "8D", "restart_yearly": True},
        "sources": {
            "syn": {
                "kind": "synthetic",
                "options": {
                    "bbox": [0.0, 40.0, 20.0, 50.0],
                    "resolution": 0.05,
                    "start": "2020-01-01",
                    "end": "2021-12-31",
                    "variables": ["a", "b"],
                    "nan_fraction": 0.05,
                    "chunks": {"time": 8, "y": 200, "x": 400},
                },
            }
        },
        "variables": [
            {"name": "a", "source": "syn", "units": "K", "count_valid": True},
            {
                "name": "b_max",
                "source": "syn",
                "source_variable": "b",
                "units": "K",
                "spatial_aggregation": "max",
                "temporal_aggregation": "max",
            },
        ],
        "chunks": {"time": 4, "y": 40, "x": 80},
        "output": str(output),
        "metadata": {"title": title},
    }


def staging_build(spec: dict[str, Any]) -> BuildDir:
    """The staging build of ``spec`` (its ``done_regions()`` are the regions recorded as written)."""
    return Publication(Path(spec["output"])).build(parse_spec(spec).fingerprint())


def versions(output: Path) -> list[Path]:
    """The versions published at ``output`` (one per publication)."""
    folder = Publication(output).private / "versions"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def data_of(path: Path) -> xr.Dataset:
    """The cube's data and coordinates, without the attributes that record when it was built."""
    ds = xr.open_zarr(path, consolidated=False).load()
    ds.attrs = {}
    return ds


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, interval: float = 0.05) -> None:
    """Return once ``predicate()`` is true; :class:`TimeoutError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(interval)


def publish(spec: dict[str, Any], output: Path) -> tuple[CubeSpec, Path]:
    """Build and publish ``spec`` to ``output`` with the library calls of the build flow (no Prefect, no cluster):
    the resolved spec and the published store's real path."""
    from cubes.assemble import build_cube
    from cubes.finish import finish_build
    from cubes.plan import plan_cube
    from cubes.spec import resolve_spec
    from cubes.store import build_location
    from cubes.writer import start_build, write_regions, write_template

    resolved = resolve_spec(spec, str(output))
    _, build = build_location(resolved)
    plan = plan_cube(resolved)
    start_build(plan, build, resume=False)
    cube = build_cube(resolved)
    write_template(cube, plan, build)
    write_regions(cube, plan, build, plan.regions)
    path, _ = finish_build(resolved, plan)
    return resolved, path


def publish_sst_cube(
    output: Path, name: str = "sst-stac", bbox: tuple[float, float, float, float] = (-100, -5, -30, 70)
) -> tuple[CubeSpec, Path]:
    """OSTIA SST (iris-sample-data), yearly on a 5 degree grid over ``bbox``, published with :func:`publish`."""
    from esdl_testing.samples import sample_path

    spec = {
        "name": name,
        "grid": {"bbox": list(bbox), "resolution": [5, 5]},
        "time": {"start": "2006-01-01", "end": "2009-12-31", "period": "1Y"},
        "sources": {"ostia": {"path": sample_path("ostia_monthly.nc")}},
        "variables": [{"name": "sst", "source": "ostia", "source_variable": "surface_temperature", "units": "K"}],
        "chunks": {"time": 2, "y": 8, "x": 8},
    }
    return publish(spec, output)
