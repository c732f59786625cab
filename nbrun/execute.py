"""Run a notebook headless: validate its parameters, execute it with papermill in a named kernel under a per-cell
and a whole-run timeout, and keep the result notebook (every cell's output; the partial one when a cell failed),
its HTML rendering, its figures and the values it recorded, in a folder of the run's own.

Nothing is started when the notebook or its parameters are wrong: :func:`prepare` raises first.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbrun.catalogue import load_notebook, resolve
from nbrun.errors import KernelNotFound, NotebookFailed
from nbrun.location import RunLocation
from nbrun.outputs import failing_cell, render_outputs
from nbrun.parameters import Parameter, inspect_parameters, validate_parameters
from nbrun.results import CellFailure, FailureKind, NotebookRun
from nbrun.settings import NotebookSettings


@dataclass(frozen=True)
class PreparedRun:
    """A notebook found, read and inspected, with its parameters validated: ready to execute."""

    path: Path
    name: str
    declared: dict[str, Parameter]
    parameters: dict[str, Any]


def prepare(notebook: str | Path, parameters: dict[str, Any] | None, settings: NotebookSettings) -> PreparedRun:
    """Find ``notebook`` (a path, or a name in the catalogue), read it, and check ``parameters`` against its
    parameters cell.

    Raises:
        NotebookNotFound: No such notebook.
        NotebookInvalid: Not a valid notebook (not JSON...).
        ParameterError: An unknown parameter or a value of the wrong type; the message names it.
    """
    path = resolve(str(notebook), settings.catalogue)
    load_notebook(path)
    declared = inspect_parameters(path)
    values = validate_parameters(declared, dict(parameters or {}), path.name)
    return PreparedRun(path=path, name=path.stem, declared=declared, parameters=values)


def check_kernel(name: str) -> None:
    """Fail unless the Jupyter kernel ``name`` is installed where this Python finds kernels (``sys.prefix``
    first: ``make install`` puts ``esdl`` in the virtual environment).

    Raises:
        KernelNotFound: It is not.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise KernelNotFound(
            f"no Jupyter kernel {name!r}: install it with `python -m ipykernel install --prefix .venv --name {name}` "
            "(make install does)"
        ) from None


_threads = threading.local()


def _in_thread_context(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` in a context of this thread's own, kept for its later calls.

    nbclient runs its coroutines on the event loop that jupyter_core keeps in a context variable. A thread whose
    context was copied from another's (Prefect's task threads copy the flow's) would find that thread's loop there
    and run on it at the same time: "This event loop is already running". A context per thread gives each thread
    a loop of its own, made once and reused by its later runs.
    """
    context = getattr(_threads, "context", None)
    if context is None:
        context = _threads.context = contextvars.Context()
    return context.run(function, *args, **kwargs)


class _Limits:
    """The timeout of each cell: the per-cell limit, or what is left of the whole run's when that is less."""

    def __init__(self, cell_s: float, run_s: float) -> None:
        self.cell_s = cell_s
        self.run_s = run_s
        self.end = time.monotonic() + run_s
        self.last_by_run = False

    def for_cell(self, cell: Any) -> float:
        left = self.end - time.monotonic()
        self.last_by_run = left < self.cell_s
        return max(0.1, min(self.cell_s, left))


def run_notebook(
    notebook: str | Path | PreparedRun,
    parameters: dict[str, Any] | None = None,
    *,
    output: str | None = None,
    run_id: str | None = None,
    settings: NotebookSettings | None = None,
    cell_timeout_s: float | None = None,
    run_timeout_s: float | None = None,
    kernel: str | None = None,
    cwd: str | Path | None = None,
) -> NotebookRun:
    """Validate, then run ``notebook`` with ``parameters`` and keep its results in a folder of the run's own.

    Args:
        notebook: A notebook file, the name of one in the catalogue (``settings.catalogue``), or a
            :class:`PreparedRun` (then ``parameters`` is not used: it holds them, validated).
        parameters: Values for the notebook's parameters cell; checked before anything starts.
        output: Local folder or fsspec URL under which the run's folder is made (default ``settings.output``):
            ``<output>/<notebook>/<UTC time>-<run id>/`` with ``result.ipynb``, ``result.html``, ``figures/*.png``,
            ``records.json`` and ``run.json``.
        run_id: The run's id (the flow run's in a flow); default: a new random one.
        settings: Defaults of everything else (``ESDL_NOTEBOOK_*``).
        cell_timeout_s: Longest a single cell may run (default ``settings.cell_timeout_s``).
        run_timeout_s: Longest the whole run may take, kernel start included (default ``settings.run_timeout_s``).
        kernel: The Jupyter kernel (default ``settings.kernel``, ``esdl``).
        cwd: The kernel's working directory (default: this process's, the project folder for the CLI, the worker
            and the tests, so that paths such as ``out/esdl-demo.zarr`` and ``.esdl`` mean what they mean to every
            other esdl command).

    Returns:
        The completed run.

    Raises:
        NotebookNotFound, NotebookInvalid, ParameterError, KernelNotFound: Before anything is started.
        OutputExists: The run's folder exists already (a ``run_id`` used twice).
        NotebookFailed: A cell raised or timed out, or the kernel died: ``failure`` says which cell and what;
            ``run`` is the run as far as it went, its partial result notebook kept.
    """
    import papermill

    from nbrun.engine import ENGINE

    settings = settings or NotebookSettings()
    prepared = notebook if isinstance(notebook, PreparedRun) else prepare(notebook, parameters, settings)
    kernel = kernel or settings.kernel
    check_kernel(kernel)
    limits = _Limits(cell_timeout_s or settings.cell_timeout_s, run_timeout_s or settings.run_timeout_s)
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    run_id = run_id or uuid.uuid4().hex[:12]
    with RunLocation(output or settings.output, prepared.name, started, run_id) as location:
        result = location.local / "result.ipynb"
        error: Exception | None = None
        try:
            _in_thread_context(
                papermill.execute_notebook,
                str(prepared.path),
                str(result),
                parameters=prepared.parameters,
                kernel_name=kernel,
                engine_name=ENGINE,
                save_every_s=settings.save_every_s,
                progress_bar=False,
                start_timeout=math.ceil(min(settings.start_timeout_s, limits.run_s)),
                # nbclient's own traits, passed through papermill's engine
                timeout_func=limits.for_cell,
                resources={"metadata": {"path": str(Path(cwd or Path.cwd()).resolve())}},
                shutdown_kernel="immediate",  # SIGKILL to the kernel's process group: nothing it started lives on
            )
        except Exception as err:  # a failed notebook: reported below from the partial result notebook
            error = err
        executed = load_notebook(result) if result.exists() else None
        failure = _failure(error, executed, limits) if error is not None else None
        outputs = render_outputs(executed, location) if executed is not None else None
        run = NotebookRun(
            notebook=str(prepared.path),
            name=prepared.name,
            parameters=prepared.parameters,
            kernel=kernel,
            run_id=run_id,
            location=location.url,
            result=location.url_for(result),
            html=outputs.html if outputs else None,
            figures=outputs.figures if outputs else [],
            records=outputs.records if outputs else {},
            started=started,
            duration_s=time.monotonic() - t0,
            status="failed" if failure else "completed",
            failure=failure,
        )
        (location.local / "run.json").write_text(run.model_dump_json(indent=2))
    if failure is not None:
        raise NotebookFailed(failure, run)
    return run


def _failure(error: Exception, executed: Any, limits: _Limits) -> CellFailure:
    """What ``error``, raised by papermill, means for the user: which cell of theirs, and what happened."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    found = failing_cell(executed) if executed is not None else None
    index, cell = found if found is not None else (None, None)
    source = next((line.strip() for line in (cell.source if cell else "").splitlines() if line.strip()), "")
    common: dict[str, Any] = {
        "cell_index": index,
        "execution_count": cell.get("execution_count") if cell else None,
        "source": source[:80] + ("…" if len(source) > 80 else ""),
    }
    if isinstance(error, PapermillExecutionError):
        return CellFailure(kind="error", ename=error.ename, evalue=str(error.evalue), **common)
    if isinstance(error, CellTimeoutError):
        if limits.last_by_run:
            message = f"the run passed its whole-run timeout of {limits.run_s:g} s; the kernel was shut down"
            return CellFailure(kind="run-timeout", ename="RunTimeout", evalue=message, **common)
        message = f"timed out after {limits.cell_s:g} s (the per-cell timeout); the kernel was shut down"
        return CellFailure(kind="cell-timeout", ename="CellTimeout", evalue=message, **common)
    if isinstance(error, DeadKernelError):
        return CellFailure(kind="kernel-died", ename=type(error).__name__, evalue=str(error), **common)
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    kind: FailureKind = "kernel-start" if index is None else "error"
    return CellFailure(kind=kind, ename=type(error).__name__, evalue=first, **common)
