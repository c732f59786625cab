"""``esdl cube``: plan, build and verify data cubes."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cubes.spec import CubeSpec, load_spec, resolve_spec
from esdl.cli.root import console, fail, guard, main

if TYPE_CHECKING:
    from flows.results import BuildResult


@main.group()
def cube() -> None:
    """Build, inspect and verify data cubes."""


def _load(spec_path: str, output: str | None) -> CubeSpec:
    from cubes.store import build_location

    spec = resolve_spec(spec_path, output)
    build_location(spec)[0].check_publishable()  # before any flow run starts
    return spec


def _print_plan(spec: CubeSpec) -> None:
    from cubes.plan import plan_cube

    desc = plan_cube(spec).describe()
    table = Table(title=f"cube {spec.name} {spec.version}", show_header=False)
    for key, value in desc.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


@cube.command("info")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--output", help="Output location overriding the spec's.")
@guard
def info(spec_path: str, output: str | None) -> None:
    """Print the plan of SPEC: shape, chunks, regions and estimated size."""
    _print_plan(load_spec(spec_path).with_output(output))


class _RegionProgress:
    """Polls the build's region markers and shows a progress bar (the flow runs in the main thread)."""

    def __init__(self, spec: CubeSpec, enabled: bool) -> None:
        from cubes.plan import plan_cube
        from cubes.store import build_location

        self.total = len(plan_cube(spec).regions)
        self.build = build_location(spec)[1]
        self.enabled = enabled
        self.stop = threading.Event()
        self.succeeded = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with Progress(
            TextColumn("regions"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task("regions", total=self.total)
            while not self.stop.wait(0.25):
                progress.update(bar, completed=len(self.build.done_regions()))
            if self.succeeded:  # the build folder has been published (renamed) by now
                progress.update(bar, completed=self.total)

    def __enter__(self) -> _RegionProgress:
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.succeeded = exc_type is None
        self.stop.set()
        if self.enabled:
            self.thread.join()


@cube.command("build")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--output", help="Output location (local path or file:// URL) overriding the spec's.")
@click.option("--resume", is_flag=True, help="Continue an unfinished build of the same spec.")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; write nothing.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar of regions written.")
@click.option("--scheduler", help="Address of an existing Dask scheduler (default: a local adaptive cluster).")
@click.option("--catalog", "load", is_flag=True, help="Then register the cube in the PostGIS catalogue.")
@click.option("--regions", multiple=True, help="With --catalog: region set name or file for zonal statistics.")
@click.option("--features", multiple=True, help="With --catalog: threshold VAR:VALUE to vectorise (repeatable).")
@click.option("--submit", is_flag=True, help="Send the spec to a deployment's worker instead of building here.")
@click.option(
    "--deployment", default="build-cube/build", show_default=True, help="With --submit: the deployment to run."
)
@click.option("--watch", is_flag=True, help="With --submit: follow the run's state and logs until it ends.")
@guard
def build(
    spec_path: str,
    output: str | None,
    resume: bool,
    dry_run: bool,
    progress: bool,
    scheduler: str | None,
    load: bool,
    regions: tuple[str, ...],
    features: tuple[str, ...],
    submit: bool,
    deployment: str,
    watch: bool,
) -> None:
    """Build the cube described by SPEC as a Prefect flow run and publish it atomically.

    With --catalog (implied by --regions or --features), the same flow run then loads the cube into the
    catalogue (see `esdl catalog load`). With --submit, the spec (validated here first) goes to the deployment's
    work pool and a worker builds it: the run's UI address is printed, and with --watch its state and logs are
    followed until it ends (exit code 0 only if it completed). Two builds of one cube never write at once: the
    second waits for the first.
    """
    if (watch or deployment != "build-cube/build") and not submit:
        fail("--watch and --deployment go with --submit")
    spec = _load(spec_path, output)
    catalog = None
    if load or regions or features:
        from cubes.features import Threshold

        names = {v.name for v in spec.variables}
        for text in features:  # checked before the build, so a typo does not cost a whole build
            if (threshold := Threshold.parse(text)).variable not in names:
                fail(f"--features {text}: the spec has no variable {threshold.variable!r}")
        catalog = {"regions": list(regions), "features": list(features)}
    from cubes.assemble import check_sources

    check_sources(spec)  # fail fast, before any flow run, on an unreadable source or a missing variable
    if dry_run:
        _print_plan(spec)
        return
    cluster = {"address": scheduler} if scheduler else None
    if submit:
        from esdl.cli.runs import submit_run

        parameters = {"spec": spec.model_dump(mode="json"), "resume": resume, "cluster": cluster, "catalog": catalog}
        raise SystemExit(submit_run(deployment, parameters, watch))
    from flows.build_cube import build_cube

    with _RegionProgress(spec, enabled=progress):
        result = build_cube(spec=spec.model_dump(mode="json"), resume=resume, cluster=cluster, catalog=catalog)  # type: ignore[call-overload]  # a spec mapping
    _print_result(result)


def _print_result(result: BuildResult) -> None:
    out = Console()
    out.print(f"[bold green]cube published[/] at {result.output} (→ {result.path})")
    out.print(f"regions: {result.regions} ({result.written} written in this run)")
    from cubes.stac import COLLECTION_FILE  # (xarray: not at the command line's start)

    collection = Path(result.path).parent / COLLECTION_FILE
    if collection.is_file():  # (a version published before builds wrote one has none)
        out.print(f"STAC collection: {collection}")
    table = Table("variable", "units", "valid", "min", "mean", "max")

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.4g}"

    for row in result.stats:
        table.add_row(
            row.name, row.units, f"{100 * row.valid_fraction:.1f}%", fmt(row.min), fmt(row.mean), fmt(row.max)
        )
    out.print(table)
    print(json.dumps(result.model_dump(include={"output", "path", "regions", "written"})))


@cube.command("verify")
@click.argument("path", type=click.Path())
@guard
def verify_cmd(path: str) -> None:
    """Verify the cube at PATH (xcube's checks, Zarr format 3, CF and ACDD attributes)."""
    from cubes.verify import find_issues, open_cube

    if not Path(path).exists():
        fail(f"{path}: no such cube")
    issues = find_issues(path)
    if issues:
        for issue in issues:
            console.print(f"[red]✗[/] {issue}", highlight=False)
        fail(f"{path}: {len(issues)} problem(s) found")
    ds = open_cube(path)
    Console().print(
        f"[green]✓[/] {path}: valid cube, dims {dict(ds.sizes)}, variables {', '.join(map(str, ds.data_vars))}"
    )
