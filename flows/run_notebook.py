"""The ``run-notebook`` flow: validate a notebook's parameters, execute it (:mod:`nbrun`), publish what it produced.

Tasks: ``validate`` (find and read the notebook, check the parameters against its parameters cell: an unknown
name or a wrong type fails the run at once, and no kernel is started), ``execute`` (papermill in the ``esdl``
kernel, under the per-cell and whole-run timeouts; never retried: a notebook need not be idempotent) and
``artifacts`` (a summary, the recorded values as a table, the figures as images). A failed notebook fails the run
with the cell, the exception's type and message in the state message and in an artifact that links the partial
result notebook.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.keys import key_part
from flows.results import record_result
from nbrun.catalogue import catalogue_meta, load_notebook
from nbrun.errors import NotebookFailed
from nbrun.execute import PreparedRun, prepare
from nbrun.execute import run_notebook as execute_notebook
from nbrun.results import NotebookRun
from nbrun.settings import NotebookSettings

MAX_FIGURES = 12
MAX_FIGURE_BYTES = 2 * 2**20  # larger figures stay in the result folder only


def artifact_key(name: str) -> str:
    """An artifact key from a notebook's name (lower case letters, digits and dashes)."""
    return key_part(name).strip("-") or "notebook"


def link(location: str) -> str:
    """A markdown link to a result file: a ``file://`` URI for a local path, the URL itself otherwise."""
    target = Path(location).resolve().as_uri() if "://" not in location else location
    return f"[`{location}`]({target})"


def _title(path: str) -> str:
    try:
        return catalogue_meta(Path(path), load_notebook(path)).title
    except Exception:  # a notebook outside the catalogue: no title
        return ""


def summary_markdown(run: NotebookRun) -> str:
    """The run's summary: the notebook, its parameters, the duration, where the results are, and any failure."""
    title = _title(run.notebook)
    status = "completed" if run.failure is None else "**failed**"
    lines = [
        f"# Notebook `{run.name}` {status}",
        "",
        f"- **Notebook:** `{run.notebook}`" + (f" — {title}" if title else ""),
        f"- **Kernel:** `{run.kernel}`; **duration:** {run.duration_s:.1f} s; "
        f"**started:** {run.started:%Y-%m-%d %H:%M:%S} UTC",
        f"- **Result notebook:** {link(run.result)}" + (f" (HTML: {link(run.html)})" if run.html else ""),
        f"- **Results folder:** {link(run.location)}",
    ]
    if run.failure is not None:
        lines.append(f"- **Failure:** {run.failure.describe()}")
    lines += ["", "| parameter | value |", "|---|---|"]
    lines += [f"| `{k}` | `{json.dumps(v)}` |" for k, v in run.parameters.items()] or ["| (defaults) | |"]
    return "\n".join(lines) + "\n"


def failure_markdown(run: NotebookRun) -> str:
    """What failed, for the failure artifact: the cell, the exception, and the partial result notebook."""
    failure = run.failure
    assert failure is not None
    return (
        f"# Notebook `{run.name}` failed\n\n"
        f"- **Cell:** {failure.cell_index if failure.cell_index is not None else '—'} "
        f"(counting the notebook's cells as written, from 0){f': `{failure.source}`' if failure.source else ''}\n"
        f"- **Exception:** `{failure.ename}`: {failure.evalue}\n"
        f"- **Why it stopped:** {failure.kind}\n"
        f"- **Partial result notebook** (the outputs of every cell up to this one): {link(run.result)}\n"
    )


def _read(location: str) -> bytes:
    import fsspec

    with fsspec.open(location, "rb") as f:
        return bytes(f.read())


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(notebook: str, parameters: dict[str, Any], settings: NotebookSettings) -> PreparedRun:
    """Find and read the notebook and check the parameters against its parameters cell; nothing is started."""
    prepared = prepare(notebook, parameters, settings)
    get_run_logger().info(
        "%s: parameters %s valid (it declares %s)",
        prepared.path,
        json.dumps(prepared.parameters),
        ", ".join(prepared.declared) or "none",
    )
    return prepared


@task(name="execute", cache_policy=NO_CACHE)
def execute_task(
    prepared: PreparedRun,
    output: str | None,
    settings: NotebookSettings,
    cell_timeout_s: float | None,
    run_timeout_s: float | None,
) -> NotebookRun:
    """Execute the notebook in its kernel; a failed notebook raises :class:`~nbrun.errors.NotebookFailed`."""
    run_id = str(flow_run.get_id() or "")[:8] or None
    run = execute_notebook(
        prepared,
        output=output,
        run_id=run_id,
        settings=settings,
        cell_timeout_s=cell_timeout_s,
        run_timeout_s=run_timeout_s,
    )
    get_run_logger().info("%s completed in %.1f s: %s", prepared.name, run.duration_s, run.result)
    return run


@task(name="artifacts", cache_policy=NO_CACHE)
def artifacts_task(run: NotebookRun) -> None:
    """Publish the run's summary, its recorded values, its figures and, when it failed, what failed."""
    key = f"notebook-{artifact_key(run.name)}"
    create_markdown_artifact(summary_markdown(run), key=key, description=f"notebook {run.name}: summary")
    if run.records:
        rows = [
            {"name": name, "value": value if isinstance(value, int | float | str | bool) else json.dumps(value)}
            for name, value in run.records.items()
        ]
        create_table_artifact(rows, key=f"{key}-records", description=f"notebook {run.name}: recorded values")
    for figure in run.figures[:MAX_FIGURES]:
        data = _read(figure)
        if len(data) > MAX_FIGURE_BYTES:
            continue
        name = Path(figure).stem  # cell<i>-<k>
        create_markdown_artifact(
            f"![{name}](data:image/png;base64,{base64.b64encode(data).decode()})",
            key=f"{key}-{artifact_key(name)}",
            description=f"notebook {run.name}: figure of {name.replace('-', ', output ')}",
        )
    if run.failure is not None:
        create_markdown_artifact(
            failure_markdown(run), key=f"{key}-failure", description=f"notebook {run.name}: the failure"
        )


# validate_parameters=False: the notebook's own parameters are validated by the validate task against its
# parameters cell (the error names the parameter), not by Prefect
@flow(name="run-notebook", log_prints=True, validate_parameters=False, on_completion=[record_result])
def run_notebook(
    notebook: str,
    parameters: dict[str, Any] | None = None,
    output: str | None = None,
    cell_timeout_s: float | None = None,
    run_timeout_s: float | None = None,
) -> NotebookRun:
    """Run a notebook headless with parameters and keep its result notebook as the record of what ran.

    Args:
        notebook: The name of a notebook of the catalogue (``notebooks/``, ``ESDL_NOTEBOOK_CATALOGUE``) or a path.
        parameters: Values for the notebook's parameters cell, checked against it before anything starts.
        output: Local folder or fsspec URL under which this run's folder is made (default
            ``ESDL_NOTEBOOK_OUTPUT``, ``out/notebooks``): ``<output>/<notebook>/<UTC time>-<run id>/``.
        cell_timeout_s: Longest a single cell may run (default ``ESDL_NOTEBOOK_CELL_TIMEOUT_S``, 600).
        run_timeout_s: Longest the whole run may take (default ``ESDL_NOTEBOOK_RUN_TIMEOUT_S``, 3600).

    Returns:
        The run: parameters, duration, result notebook, HTML, figures and recorded values.
    """
    settings = NotebookSettings()
    prepared = validate_task(notebook, dict(parameters or {}), settings)
    try:
        run = execute_task(prepared, output, settings, cell_timeout_s, run_timeout_s)
    except NotebookFailed as failed:
        artifacts_task(failed.run)
        raise  # the run fails with the cell, the exception's type and its message
    artifacts_task(run)
    return run
