"""Cubes for the ML tests, built the project's way without Prefect: the demo cube (or a variant of its spec)
assembled, written region by region and published by the library the build-cube flow drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask

from cubes.assemble import build_cube
from cubes.finish import finish_build
from cubes.plan import plan_cube
from cubes.spec import load_spec, parse_spec
from cubes.store import build_location
from cubes.writer import start_build, write_regions, write_template
from esdl_testing.paths import REPO_ROOT

DEMO_SPEC = REPO_ROOT / "cubes" / "specs" / "demo.yaml"


def build_demo(output: Path, **changes: Any) -> Path:
    """Build and publish the demo cube (its spec with ``changes``: other fields, ``variables`` kept by name)
    at ``output``; return ``output``."""
    data = load_spec(DEMO_SPEC).model_dump(mode="json")
    keep = changes.pop("keep_variables", None)
    if keep is not None:
        data["variables"] = [v for v in data["variables"] if v["name"] in keep]
        data["sources"] = {k: s for k, s in data["sources"].items() if k in {v["source"] for v in data["variables"]}}
    data.update(changes, output=str(output))
    spec = parse_spec(data)
    plan = plan_cube(spec)
    build = build_location(spec)[1]
    start_build(plan, build, resume=False)
    with dask.config.set(scheduler="threads"):
        cube = build_cube(spec)
        write_template(cube, plan, build)
        write_regions(cube, plan, build, plan.regions)
    finish_build(spec, plan)
    return output
