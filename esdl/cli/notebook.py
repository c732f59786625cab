"""``esdl notebook``: run a notebook of the catalogue with parameters, list the catalogue, verify it.

Everything the user can get wrong is checked before anything runs (one line, exit code 2): a notebook that does
not exist or is not valid JSON, an unknown parameter, a value that is not of its parameter's type.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from esdl.cli.root import console, fail, guard, main
from esdl.cli.runs import submit_options
from nbrun.settings import NotebookSettings

PARAMETER = click.option(
    "-p",
    "--parameter",
    "pairs",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter of the notebook (repeatable): text parameters take VALUE as it is, others read it as JSON.",
)


@main.group()
def notebook() -> None:
    """Run notebooks headless with parameters, list the catalogue (notebooks/), verify it."""


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@notebook.command("run")
@click.argument("reference", metavar="NOTEBOOK")
@PARAMETER
@click.option("--output", help="Folder or fsspec URL under which the run's own folder is made (out/notebooks).")
@click.option("--cell-timeout", type=click.FloatRange(min=0, min_open=True), help="Longest a cell may run [s].")
@click.option("--run-timeout", type=click.FloatRange(min=0, min_open=True), help="Longest the run may take [s].")
@submit_options("run-notebook/notebook")
@guard
def run_cmd(
    reference: str,
    pairs: tuple[tuple[str, str], ...],
    output: str | None,
    cell_timeout: float | None,
    run_timeout: float | None,
    submit: bool,
    deployment: str,
    watch: bool,
) -> None:
    """Run NOTEBOOK (a name in the catalogue, or a path) with parameters as a run-notebook flow run.

    The result notebook (every cell's output), its HTML, figures and recorded values go to a folder of the run's
    own. A notebook that fails prints the failing cell (counted as the notebook is written, from 0) and the
    exception, keeps its partial result notebook, and exits with code 1. With --submit the run goes to the
    deployment's worker; --watch follows it to its end.
    """
    from nbrun.catalogue import load_notebook, resolve
    from nbrun.parameters import inspect_parameters, parse_assignments

    if (watch or deployment != "run-notebook/notebook") and not submit:
        fail("--watch and --deployment go with --submit")
    settings = NotebookSettings()
    path = resolve(reference, settings.catalogue)
    load_notebook(path)
    values = parse_assignments(inspect_parameters(path), list(pairs), path.name)
    arguments = {
        "notebook": reference,
        "parameters": values,
        "output": output,
        "cell_timeout_s": cell_timeout,
        "run_timeout_s": run_timeout,
    }
    if submit:
        from esdl.cli.runs import submit_run

        raise SystemExit(submit_run(deployment, {k: v for k, v in arguments.items() if v is not None}, watch))
    from flows.run_notebook import run_notebook

    state = run_notebook(**arguments, return_state=True)  # type: ignore[call-overload]
    if state.is_completed():
        _print_run(state.result())
        return
    error = state.result(raise_on_failure=False)
    partial = getattr(getattr(error, "run", None), "result", None)
    console.print(f"[bold red]notebook failed:[/] {error}", highlight=False, soft_wrap=True)
    if partial:
        console.print(f"partial result notebook: {partial}", highlight=False, soft_wrap=True)
    raise SystemExit(1)


def _print_run(run: Any) -> None:
    out = Console()
    out.print(f"[bold green]notebook {run.name} completed[/] in {run.duration_s:.1f} s", highlight=False)
    out.print(f"result notebook: {run.result}\nHTML: {run.html}", highlight=False, soft_wrap=True)
    if run.records:
        table = Table("recorded", "value", title=None)
        for name, value in run.records.items():
            table.add_row(name, _value_text(value))
        out.print(table)
    print(json.dumps({"status": run.status, "result": run.result, "html": run.html, "records": run.records}))


@notebook.command("list")
@guard
def list_cmd() -> None:
    """The catalogue: each notebook's title, parameters and tags, its last run and its last verification (from
    the Prefect server, when one is configured)."""
    from nbrun.catalogue import discover
    from nbrun.parameters import inspect_parameters

    settings = NotebookSettings()
    entries = discover(settings.catalogue)
    last_runs, verified, note = _from_prefect()
    table = Table(title=str(settings.catalogue))
    for column in ("notebook", "title", "parameters", "tags", "last run", "verified"):
        table.add_column(column, no_wrap=column in ("notebook", "last run", "verified"))
    for entry in entries:
        run = last_runs.get(entry.name)
        check = verified.get(entry.name)
        table.add_row(
            entry.name,
            entry.meta.title,
            ", ".join(inspect_parameters(entry.path)),
            ", ".join(entry.meta.tags),
            f"{run[0]:%Y-%m-%d %H:%M} {run[1]}" if run else "—",
            check or "—",
        )
    Console().print(table)
    if note:
        console.print(note, highlight=False, soft_wrap=True)


def _from_prefect() -> tuple[dict[str, tuple[Any, str]], dict[str, str], str]:
    """The last run-notebook run of each notebook (time, state) and the last verification's status of each, from
    the Prefect server; a note instead when there is none (no server is started for this)."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        return {}, {}, "no Prefect server configured (PREFECT_API_URL): runs not shown"
    try:
        return (*asyncio.run(_read_prefect()), "")
    except Exception as err:  # an unreachable server: the catalogue is still listed
        return {}, {}, f"the Prefect server at {api} did not answer ({type(err).__name__}): runs not shown"


async def _read_prefect() -> tuple[dict[str, tuple[Any, str]], dict[str, str]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort

    from flows.verify_notebooks import VERIFICATION_KEY

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["run-notebook"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=200,
        )
        tables = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[VERIFICATION_KEY])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    last: dict[str, tuple[Any, str]] = {}
    for run in runs:
        name = Path(str(run.parameters.get("notebook", ""))).stem
        when = run.start_time or run.expected_start_time
        if name and name not in last and when is not None:
            last[name] = (when, run.state_name or "")
    verified: dict[str, str] = {}
    if tables:
        stamp = f"{tables[0].created:%Y-%m-%d %H:%M}" if tables[0].created else ""
        data = tables[0].data
        rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else []
        for row in rows:
            cell = f" (cell {row['failing_cell']})" if row.get("failing_cell") is not None else ""
            verified[row["notebook"]] = f"{stamp} {row['status']}{cell}".strip()
    return last, verified


@notebook.command("verify")
@click.argument("names", nargs=-1, metavar="[NOTEBOOK]...")
@PARAMETER
@click.option("--concurrency", type=click.IntRange(min=1), help="Notebooks run at once (default: the CPU cores).")
@click.option("--output", help="Folder or fsspec URL of the result folders (out/notebooks).")
@submit_options("verify-notebooks/nightly", "verification")
@guard
def verify_cmd(
    names: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    concurrency: int | None,
    output: str | None,
    submit: bool,
    deployment: str,
    watch: bool,
) -> None:
    """Run the catalogue's notebooks (or those named) with their verification parameters, and print how each
    went; exit code 1 when any failed. -p NAME VALUE gives every notebook that declares NAME that value (VALUE
    read as JSON, else as text): the cube or the SPARQL endpoint to verify against, say."""
    from flows.verify_notebooks import select
    from nbrun.catalogue import discover

    if (watch or deployment != "verify-notebooks/nightly") and not submit:
        fail("--watch and --deployment go with --submit")
    settings = NotebookSettings()
    select(discover(settings.catalogue), list(names) or None)  # unknown names: exit 2 before anything runs
    overrides = {name: _json_or_text(text) for name, text in pairs}
    arguments = {
        "notebooks": list(names) or None,
        "overrides": overrides or None,
        "concurrency": concurrency,
        "output": output,
    }
    if submit:
        from esdl.cli.runs import submit_run

        raise SystemExit(submit_run(deployment, {k: v for k, v in arguments.items() if v is not None}, watch))
    from flows.verify_notebooks import verify_notebooks

    state = verify_notebooks(**arguments, return_state=True)  # type: ignore[call-overload]
    rows = _verification_rows(state)
    table = Table()
    for column in ("notebook", "status", "duration [s]", "failing cell"):
        table.add_column(column, no_wrap=True)
    table.add_column("message")
    for row in rows:
        cell = "" if row.failing_cell is None else str(row.failing_cell)
        table.add_row(row.notebook, row.status, f"{row.duration_s:.1f}", cell, row.message)
    Console().print(table)
    if not state.is_completed():
        if not rows:
            console.print(f"[bold red]verification failed:[/] {state.message}", highlight=False, soft_wrap=True)
        raise SystemExit(1)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _verification_rows(state: Any) -> list[Any]:
    """The rows of a verify-notebooks run, completed or failed (read back from its table artifact then)."""
    if state.is_completed():
        return list(state.result())
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.verify_notebooks import VERIFICATION_KEY, Verification

    async def read() -> list[Any]:
        async with get_client() as client:
            return list(
                await client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                        key=ArtifactFilterKey(any_=[VERIFICATION_KEY]),
                    )
                )
            )

    found = asyncio.run(read())
    rows = json.loads(found[0].data) if found and isinstance(found[0].data, str) else []
    return [Verification.model_validate(row) for row in rows]
