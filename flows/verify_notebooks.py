"""The ``verify-notebooks`` flow: run every catalogue notebook with its verification parameters, a few at once, and
publish one table of how each went; the run fails when any notebook did.

Each notebook is a task (``verify-<name>``), failed when the notebook failed. At most ``concurrency`` run at once
(default ``ESDL_NOTEBOOK_CONCURRENCY``: the CPU cores); each runs in a kernel process of its own, so they run in
parallel although the tasks are threads.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from flows.results import record_result
from nbrun.catalogue import CatalogueEntry, discover
from nbrun.errors import NotebookError, NotebookFailed, NotebookNotFound
from nbrun.execute import run_notebook as execute_notebook
from nbrun.parameters import inspect_parameters
from nbrun.results import NotebookRun
from nbrun.settings import NotebookSettings

VERIFICATION_KEY = "notebooks-verification"
"""The key of the verification table artifact (``esdl notebook list`` reads the latest)."""


class Verification(BaseModel):
    """How one notebook's verification went."""

    notebook: str = Field(description="the notebook's name")
    status: str = Field(description="passed, failed (the notebook failed) or error (it could not be run)")
    duration_s: float = Field(description="wall time of its run")
    failing_cell: int | None = Field(default=None, description="the failing cell, as the notebook is written")
    message: str = Field(default="", description="what failed")
    result: str | None = Field(default=None, description="its result notebook")


@task(name="verify", task_run_name="verify-{name}", cache_policy=NO_CACHE)
def verify_task(
    name: str,
    path: str,
    parameters: dict[str, Any],
    overrides: dict[str, Any],
    output: str | None,
    settings: NotebookSettings,
    cell_timeout_s: float | None,
    run_timeout_s: float | None,
) -> NotebookRun:
    """Run one notebook with its verification parameters and the ``overrides`` it declares."""
    declared = inspect_parameters(path)
    values = {**parameters, **{k: v for k, v in overrides.items() if k in declared}}
    return execute_notebook(
        path,
        values,
        output=output,
        settings=settings,
        cell_timeout_s=cell_timeout_s,
        run_timeout_s=run_timeout_s,
    )


def _outcome(entry: CatalogueEntry, future: PrefectFuture[NotebookRun], started: float) -> Verification:
    try:
        run = future.result()
    except NotebookFailed as failed:
        return Verification(
            notebook=entry.name,
            status="failed",
            duration_s=round(failed.run.duration_s, 2),
            failing_cell=failed.failure.cell_index,
            message=str(failed),
            result=failed.run.result,
        )
    except NotebookError as err:  # bad verification parameters, no kernel...: nothing ran
        return Verification(
            notebook=entry.name, status="error", duration_s=round(time.monotonic() - started, 2), message=str(err)
        )
    return Verification(notebook=entry.name, status="passed", duration_s=round(run.duration_s, 2), result=run.result)


def _wait_for_a_slot(running: list[Any], limit: int) -> list[Any]:
    """The futures still running once fewer than ``limit`` are (a slot frees when any of them ends)."""
    while len(running) >= limit:
        pending = [f.wrapped_future for f in running]  # the thread pool's own futures
        concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
        running = [f for f in running if not f.wrapped_future.done()]
    return running


def select(entries: list[CatalogueEntry], names: list[str] | None) -> list[CatalogueEntry]:
    """The entries named (all when ``names`` is None).

    Raises:
        NotebookNotFound: A name not in the catalogue.
    """
    if names is None:
        return entries
    known = {e.name: e for e in entries}
    missing = [n for n in names if n not in known]
    if missing:
        raise NotebookNotFound(f"not in the catalogue: {', '.join(missing)} (it has {', '.join(known)})")
    return [known[n] for n in names]


@flow(name="verify-notebooks", log_prints=True, on_completion=[record_result])
def verify_notebooks(
    notebooks: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    concurrency: int | None = None,
    output: str | None = None,
    cell_timeout_s: float | None = None,
    run_timeout_s: float | None = None,
) -> list[Verification]:
    """Run the catalogue's notebooks with their verification parameters, ``concurrency`` at once, and publish one
    table (notebook, status, duration, failing cell); fail when any notebook failed.

    Args:
        notebooks: Names of catalogue notebooks (default: all of them).
        overrides: Parameters given to every notebook that declares them, over its verification parameters (the
            cube, the SPARQL endpoint of the platform being verified...).
        concurrency: Notebooks run at once (default ``ESDL_NOTEBOOK_CONCURRENCY``: the CPU cores).
        output: Where the result folders go (default ``ESDL_NOTEBOOK_OUTPUT``).
        cell_timeout_s: Per-cell timeout of every run (default ``ESDL_NOTEBOOK_CELL_TIMEOUT_S``).
        run_timeout_s: Whole-run timeout of every run (default ``ESDL_NOTEBOOK_RUN_TIMEOUT_S``).

    Returns:
        One row per notebook, in the catalogue's order.
    """
    settings = NotebookSettings()
    entries = select(discover(settings.catalogue), notebooks)
    limit = max(1, concurrency or settings.concurrency)
    logger = get_run_logger()
    logger.info("verifying %d notebooks, %d at once", len(entries), limit)
    started = time.monotonic()
    futures: dict[str, PrefectFuture[NotebookRun]] = {}
    running: list[PrefectFuture[NotebookRun]] = []
    for entry in entries:
        running = _wait_for_a_slot(running, limit)
        future = verify_task.submit(
            entry.name,
            str(entry.path),
            entry.meta.verify,
            dict(overrides or {}),
            output,
            settings,
            cell_timeout_s,
            run_timeout_s,
        )
        futures[entry.name] = future
        running.append(future)
    rows = [_outcome(entry, futures[entry.name], started) for entry in entries]
    create_table_artifact(
        [row.model_dump() for row in rows],
        key=VERIFICATION_KEY,
        description=f"verification of {len(rows)} catalogue notebooks ({limit} at once)",
    )
    bad = [row for row in rows if row.status != "passed"]
    for row in rows:
        logger.info(
            "%s: %s in %.1f s%s", row.notebook, row.status, row.duration_s, f": {row.message}" if row.message else ""
        )
    if bad:
        raise NotebookError(
            f"{len(bad)} of {len(rows)} notebooks failed verification: "
            + "; ".join(f"{row.notebook}: {row.message}" for row in bad)
        )
    return rows


__all__ = ["VERIFICATION_KEY", "Verification", "verify_notebooks"]
