"""Notebook runs: the run-notebook flow's overhead over plain nbclient, and the speed-up of verifying the catalogue
a few notebooks at once.

    .venv/bin/python bench/notebooks.py [--repeat 3] [--skip-verify]

- ``overhead_vs_nbclient``: wall time of the ``run-notebook`` flow (validation, papermill, the HTML, figures and
  records, the artifacts; against a temporary Prefect server) ÷ plain ``nbclient`` executing the same notebook with
  the same parameters cell put in by hand, for a notebook of 20 quick cells; the median of ``--repeat`` runs each,
  alternated. Target ≤ 1.3. Also measured, alternated with them, to say where the difference goes:
  ``nbrun_s``, the library alone (:func:`nbrun.execute.run_notebook`: papermill, the result folder and HTML, no
  Prefect), and ``prefect_floor_s``, a flow of three tasks that do nothing (Prefect's own cost of a flow run: the
  run's creation and states, the task runs, and the end of its heartbeat thread: :mod:`flows.heartbeats`).
- ``verify_parallel_speedup``: the ``verify-notebooks`` flow over the catalogue on the demo data (``make demo``
  first: ``out/esdl-demo.zarr`` and the local catalogue), one notebook at a time ÷ the concurrency esdl uses
  (``ESDL_NOTEBOOK_CONCURRENCY``, the CPU cores). The SPARQL notebook answers in its kernel (no endpoint needed).
  Target ≥ 1.5 on 2 cores.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CELLS = 20


def quick_notebook(folder: Path) -> Path:
    """A notebook with a parameters cell and 20 quick cells (arithmetic, a print, a small list)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "esdl", "display_name": "esdl", "language": "python"}
    parameters = nbformat.v4.new_code_cell("n = 10\nlabel = 'x'")
    parameters.metadata["tags"] = ["parameters"]
    cells = [
        nbformat.v4.new_code_cell(f"v{i} = sum(range(n * {i + 1}))\nprint(label, {i}, v{i})") for i in range(CELLS)
    ]
    nb.cells = [parameters, *cells]
    path = folder / "quick.ipynb"
    nbformat.write(nb, path)
    return path


def plain_nbclient(path: Path, parameters: dict[str, object]) -> float:
    """Wall time of nbclient on the notebook with a cell assigning ``parameters`` after its parameters cell."""
    import nbformat
    from nbclient import NotebookClient

    started = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    assignments = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(1, nbformat.v4.new_code_cell(assignments))
    NotebookClient(nb, kernel_name="esdl", timeout=600).execute()
    return time.perf_counter() - started


def flow_run(path: Path, parameters: dict[str, object], output: str) -> float:
    from flows.run_notebook import run_notebook

    started = time.perf_counter()
    state = run_notebook(notebook=str(path), parameters=parameters, output=output, return_state=True)
    elapsed = time.perf_counter() - started
    assert state.is_completed(), state.message
    return elapsed


def library_run(path: Path, parameters: dict[str, object], output: str) -> float:
    from nbrun.execute import run_notebook

    started = time.perf_counter()
    run_notebook(path, parameters, output=output)
    return time.perf_counter() - started


def prefect_floor() -> float:
    """Wall time of a flow of three tasks that do nothing: what any flow run costs here."""
    from prefect import flow, task

    @task
    def nothing() -> None:
        return None

    @flow(name="bench-nothing")
    def three_tasks() -> None:
        for _ in range(3):
            nothing()

    started = time.perf_counter()
    three_tasks()
    return time.perf_counter() - started


def verify(concurrency: int, output: str) -> float:
    from flows.verify_notebooks import verify_notebooks

    cube = str(ROOT / "out" / "esdl-demo.zarr")
    started = time.perf_counter()
    state = verify_notebooks(
        overrides={"cube": cube, "endpoint": ""}, concurrency=concurrency, output=output, return_state=True
    )
    elapsed = time.perf_counter() - started
    assert state.is_completed(), state.message
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-verify", action="store_true", help="only the overhead figure")
    args = parser.parse_args()
    os.chdir(ROOT)
    os.environ.setdefault("ESDL_NOTEBOOK_CATALOGUE", str(ROOT / "notebooks"))
    from prefect.testing.utilities import prefect_test_harness

    from nbrun.settings import NotebookSettings

    figures: dict[str, object] = {"cells": CELLS, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        path = quick_notebook(Path(tmp))
        parameters = {"n": 20, "label": "bench"}
        figures["load_before"] = round(os.getloadavg()[0], 2)
        flow_run(path, parameters, f"{tmp}/results")  # warm: imports, the flow's registration
        plain_nbclient(path, parameters)
        library_run(path, parameters, f"{tmp}/results")
        prefect_floor()
        plain, flow, library, floor = [], [], [], []
        for _ in range(args.repeat):
            plain.append(plain_nbclient(path, parameters))
            flow.append(flow_run(path, parameters, f"{tmp}/results"))
            library.append(library_run(path, parameters, f"{tmp}/results"))
            floor.append(prefect_floor())
        figures |= {
            "nbclient_s": round(statistics.median(plain), 2),
            "run_notebook_flow_s": round(statistics.median(flow), 2),
            "overhead_vs_nbclient": round(statistics.median(flow) / statistics.median(plain), 2),
            "nbrun_s": round(statistics.median(library), 2),
            "nbrun_vs_nbclient": round(statistics.median(library) / statistics.median(plain), 2),
            "prefect_floor_s": round(statistics.median(floor), 2),
        }
        print(
            f"20 quick cells: nbclient {plain} s, run-notebook flow {flow} s, nbrun alone {library} s, "
            f"a flow of three empty tasks {floor} s",
            file=sys.stderr,
        )
        if not args.skip_verify:
            if not (ROOT / "out" / "esdl-demo.zarr").exists():
                raise SystemExit("verify_parallel_speedup needs the demo data: run `make demo` first")
            concurrency = NotebookSettings().concurrency
            verify(concurrency, f"{tmp}/verify")  # warm
            serial, parallel = [], []
            for _ in range(args.repeat):
                serial.append(verify(1, f"{tmp}/verify"))
                parallel.append(verify(concurrency, f"{tmp}/verify"))
            figures |= {
                "concurrency": concurrency,
                "cores": os.cpu_count(),
                "verify_serial_s": round(statistics.median(serial), 2),
                "verify_parallel_s": round(statistics.median(parallel), 2),
                "verify_parallel_speedup": round(statistics.median(serial) / statistics.median(parallel), 2),
            }
            print(f"verification: serial {serial} s, {concurrency} at once {parallel} s", file=sys.stderr)
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
