"""Notebook runs with real kernels (the ``esdl`` kernel of the virtual environment): results, records, figures,
and the issue's reliability cases: a cell that raises, a cell that hangs, a kernel that dies, a whole run past its
limit, two runs at once, and bad input that starts nothing."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from nbrun.errors import NotebookFailed, NotebookInvalid, NotebookNotFound, OutputExists, ParameterError
from nbrun.execute import run_notebook
from nbrun.location import RunLocation
from nbrun.parameters import inspect_parameters, parse_assignments
from nbrun.settings import NotebookSettings

pytestmark = pytest.mark.slow

PARAMETERS = 'label = "a"  # a text\ncount: int = 2\nratio = 0.5\nflag = False\nitems = [1, 2]\nextra = None'


def write_notebook(path: Path, *cells: str, parameters: str = PARAMETERS) -> Path:
    """A notebook: a markdown cell, the parameters cell, then ``cells`` as code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "esdl", "display_name": "esdl", "language": "python"}
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# a test"), tagged, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)
    return path


def settings(tmp_path: Path, **values: Any) -> NotebookSettings:
    return NotebookSettings(
        _env_file=None,  # type: ignore[call-arg]
        catalogue=tmp_path,
        output=str(tmp_path / "results"),
        **values,
    )


def outputs_of(result: str) -> list[list[dict[str, Any]]]:
    return [c.get("outputs", []) for c in json.loads(Path(result).read_text())["cells"]]


def test_a_run_keeps_its_result_notebook_html_figures_and_records(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "report.ipynb",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom nbrun import record\nimport numpy as np",
        "plt.plot([1, 2, 3]); plt.show()\nrecord('total', np.float32(count) * ratio)",
        "record('label', label); record('items', items); record('flag', flag); print('done', label)",
    )
    run = run_notebook(path, {"label": "b", "count": 3, "ratio": 2}, settings=settings(tmp_path))
    assert run.status == "completed" and run.failure is None
    assert run.parameters == {"label": "b", "count": 3, "ratio": 2.0}  # an int given for a float is a float
    assert run.records == {"total": 6.0, "label": "b", "items": [1, 2], "flag": False}
    folder = Path(run.location)
    assert folder.parent == tmp_path / "results" / "report" and folder.name.endswith(run.run_id)
    assert {p.name for p in folder.iterdir()} == {"result.ipynb", "result.html", "figures", "records.json", "run.json"}
    assert [Path(f).name for f in run.figures] == ["cell03-0.png"]  # cell 3 of the notebook as written
    assert Path(run.figures[0]).read_bytes().startswith(b"\x89PNG")
    result = nbformat.read(run.result, as_version=4)
    injected = [c for c in result.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'label = "b"' in injected[0].source
    assert any("done b" in o.get("text", "") for o in result.cells[-1].outputs)
    assert "done b" in Path(run.html or "").read_text()
    assert json.loads((folder / "records.json").read_text()) == run.records


def test_a_cell_that_raises_fails_the_run_at_that_cell_and_keeps_the_partial_notebook(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "broken.ipynb",
        "from nbrun import record\nprint('first ran')\nrecord('before', 1)",
        "x = 1\nraise ValueError(f'bad value {count}')",
        "print('never')",
    )
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(path, {"count": 7}, settings=settings(tmp_path))
    failure, run = caught.value.failure, caught.value.run
    # cell 3 as the author sees it (markdown 0, parameters 1, then 2, 3): papermill's own index counts its injected
    # parameters cell, and its error markers shift the result notebook's cells further
    assert (failure.kind, failure.cell_index, failure.ename, failure.evalue) == (
        "error",
        3,
        "ValueError",
        "bad value 7",
    )
    assert str(caught.value) == "cell 3 (x = 1) raised ValueError: bad value 7"
    assert run.status == "failed" and run.records == {"before": 1}
    text = Path(run.result).read_text()
    assert "first ran" in text and "bad value 7" in text and "never\\n" not in text
    assert Path(run.html or "").exists()


SAVED_OUTPUTS = (
    "import glob, json\n"
    "saved = json.load(open(glob.glob(f'{results}/**/result.ipynb', recursive=True)[0]))\n"
    "print('saved outputs', sum(len(c.get('outputs', [])) for c in saved['cells']))"
)


@pytest.mark.parametrize(("save_every_s", "saved"), [(0, 1), (3600, 0)])
def test_the_result_notebook_is_written_as_often_as_save_every_s_and_always_when_a_cell_fails(
    tmp_path: Path, save_every_s: float, saved: int
) -> None:
    """A cell reads the result notebook as it is on disk while the run goes: after every cell (0), or not since the
    run started (3600: the run is quicker); a failing cell and the end are written whatever the spacing."""
    path = write_notebook(
        tmp_path / "saves.ipynb",
        "print('first')",
        SAVED_OUTPUTS,
        "raise ValueError('stop')",
        parameters=f"results = {str(tmp_path / 'results')!r}",
    )
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(path, settings=settings(tmp_path, save_every_s=save_every_s))
    result = nbformat.read(caught.value.run.result, as_version=4)
    texts = [o.get("text", "") for c in result.cells if c.cell_type == "code" for o in c.outputs]
    assert f"saved outputs {saved}\n" in texts  # what the file held when the cell read it
    assert "first\n" in texts and caught.value.failure.ename == "ValueError"  # all written at the failure


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_hung_cell_is_ended_by_the_cell_timeout_and_no_kernel_process_is_left(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "hangs.ipynb",
        "import os, subprocess\nfrom nbrun import record\nchild = subprocess.Popen(['sleep', '600'])\n"
        "record('kernel', os.getpid()); record('child', child.pid)",
        "import time\ntime.sleep(600)",
    )
    started = time.monotonic()
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(path, settings=settings(tmp_path, cell_timeout_s=3))
    assert time.monotonic() - started < 60
    failure, run = caught.value.failure, caught.value.run
    assert (failure.kind, failure.cell_index) == ("cell-timeout", 3)
    assert "3 s" in failure.evalue
    kernel, child = run.records["kernel"], run.records["child"]
    deadline = time.monotonic() + 10
    while not (_gone(kernel) and _gone(child)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(kernel), f"kernel {kernel} still runs"
    assert _gone(child), f"the kernel's child {child} still runs"


def test_the_whole_run_timeout_ends_a_run_of_quick_but_many_cells(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "slow.ipynb", *["import time\ntime.sleep(1.5)"] * 20)
    started = time.monotonic()
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(path, settings=settings(tmp_path, cell_timeout_s=30, run_timeout_s=8))
    assert time.monotonic() - started < 30
    failure = caught.value.failure
    assert failure.kind == "run-timeout" and "8 s" in failure.evalue
    assert failure.cell_index is not None and 2 < failure.cell_index < 21


def test_a_kernel_that_dies_is_a_clear_failure_not_a_hang(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "dies.ipynb", "print('alive')", "import os\nos._exit(3)", "print('never')")
    started = time.monotonic()
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(path, settings=settings(tmp_path))
    assert time.monotonic() - started < 60
    failure = caught.value.failure
    assert (failure.kind, failure.cell_index) == ("kernel-died", 3)
    assert "the kernel died" in str(caught.value)
    assert "alive" in Path(caught.value.run.result).read_text()


def test_two_runs_at_once_with_different_parameters_share_nothing(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "twice.ipynb",
        "import os, time\nfrom nbrun import record\nSEEN = globals().get('SEEN', []) + [label]\ntime.sleep(1)\n"
        "record('label', label); record('seen', SEEN); record('pid', os.getpid())",
    )
    runs: dict[str, Any] = {}

    def one(label: str) -> None:
        runs[label] = run_notebook(path, {"label": label}, settings=settings(tmp_path))

    one("first")  # in this thread first: its context now holds the event loop jupyter_core made for it
    # threads started with copies of this context, as Prefect starts its task threads, still share no loop
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(one, label)) for label in ("left", "right")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    left, right = runs["left"], runs["right"]
    assert left.result != right.result and left.location != right.location
    assert left.records["seen"] == ["left"] and right.records["seen"] == ["right"]
    assert left.records["pid"] != right.records["pid"]
    for run, label in ((left, "left"), (right, "right")):
        injected = [
            c
            for c in nbformat.read(run.result, as_version=4).cells
            if c.metadata.get("tags") == ["injected-parameters"]
        ]
        assert f'label = "{label}"' in injected[0].source


def test_bad_input_is_refused_before_anything_starts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write_notebook(tmp_path / "guarded.ipynb", f"open({str(marker)!r}, 'w').close()")
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    config = settings(tmp_path)
    cases: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (path, {"colour": "red"}, ParameterError, "unknown parameter 'colour' for guarded.ipynb: it declares label"),
        (path, {"count": "2"}, ParameterError, "parameter 'count': expected int, got str '2'"),
        (path, {"flag": 1}, ParameterError, "parameter 'flag': expected bool, got int 1"),
        (path, {"items": {"a"}}, ParameterError, "parameter 'items': a set is not a JSON value"),
        ("missing", {}, NotebookNotFound, "missing: no such notebook; the catalogue has broken, guarded"),
        (tmp_path / "gone.ipynb", {}, NotebookNotFound, "gone.ipynb: no such notebook"),
        ("broken", {}, NotebookInvalid, "broken.ipynb: not a notebook (not valid JSON)"),
    ]
    for notebook, parameters, error, message in cases:
        with pytest.raises(error) as caught:
            run_notebook(notebook, parameters, settings=config)
        assert message in str(caught.value)
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_results_go_to_an_fsspec_url_and_a_run_never_overwrites_another(tmp_path: Path) -> None:
    import fsspec

    path = write_notebook(tmp_path / "remote.ipynb", "from nbrun import record\nrecord('label', label)")
    run = run_notebook(path, output="memory://results", run_id="r1", settings=settings(tmp_path))
    fs = fsspec.filesystem("memory")
    assert run.location.startswith("memory://") and "/results/remote/" in run.location
    assert run.location.endswith("-r1")
    assert run.result == f"{run.location}/result.ipynb"
    with fsspec.open(run.result) as f:
        assert json.load(f)["cells"]
    assert fs.exists(run.html) and fs.exists(f"{run.location}/records.json")
    # a run's folder is its UTC start time and its id: made exclusively, so the same id at the same time is refused
    # and the first run's results stay as they were
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for base in ("memory://exclusive", str(tmp_path / "exclusive")):
        with RunLocation(base, "remote", when, "same") as first:
            (first.local / "result.ipynb").write_text("first")
        with pytest.raises(OutputExists):
            RunLocation(base, "remote", when, "same")
        with fsspec.open(f"{first.url}/result.ipynb", "r") as f:
            assert f.read() == "first"


def test_command_line_values_are_read_as_their_parameters_types(tmp_path: Path) -> None:
    declared = inspect_parameters(write_notebook(tmp_path / "p.ipynb"))
    pairs = [("label", "2010"), ("count", "3"), ("ratio", "1"), ("flag", "true"), ("items", "[3]"), ("extra", "x y")]
    assert parse_assignments(declared, pairs, "p.ipynb") == {
        "label": "2010",
        "count": 3,
        "ratio": 1.0,
        "flag": True,
        "items": [3],
        "extra": "x y",
    }
    for pair, message in [
        (("count", "three"), "parameter 'count': 'three' is not valid JSON for type int"),
        (("count", "2.5"), "parameter 'count': expected int, got float 2.5"),
        (("colour", "red"), "unknown parameter 'colour'"),
    ]:
        with pytest.raises(ParameterError, match=message):
            parse_assignments(declared, [pair], "p.ipynb")
