"""The run-notebook and verify-notebooks flows on a real Prefect server with real kernels: artifacts of a run, a
failed notebook failing its run with the cell and the exception, bad parameters failing it before any kernel, and
the catalogue verified on the demo data (the demo cube built and catalogued by the real flows, the SPARQL endpoint
served by esdl serve), so that a broken example fails the tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import nbformat
import pytest

from esdl_testing.database import fresh_database
from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import running_server

pytestmark = pytest.mark.slow


def write_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "esdl", "display_name": "esdl", "language": "python"}
    nb.metadata["esdl"] = {"title": path.stem, "verify": {"count": 2}}
    tagged = nbformat.v4.new_code_cell("count = 1")
    tagged.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), tagged, *map(nbformat.v4.new_code_cell, cells)]
    nbformat.write(nb, path)
    return path


async def _artifacts(flow_run_id: UUID) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {str(a.key): a for a in found}


def artifacts(state: Any) -> dict[str, Any]:
    return asyncio.run(_artifacts(state.state_details.flow_run_id))


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalogue folder of the test's own, and its results folder, as the flows' settings."""
    folder = tmp_path / "catalogue"
    folder.mkdir()
    monkeypatch.setenv("ESDL_NOTEBOOK_CATALOGUE", str(folder))
    monkeypatch.setenv("ESDL_NOTEBOOK_OUTPUT", str(tmp_path / "results"))
    return folder


def test_a_run_publishes_its_summary_values_and_figures(prefect_api: str, catalogue: Path) -> None:
    from flows.run_notebook import run_notebook

    write_notebook(
        catalogue / "plots.ipynb",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom nbrun import record",
        "plt.plot(range(count)); plt.show()\nrecord('count', count); record('squares', [i * i for i in range(count)])",
    )
    state = run_notebook(notebook="plots", parameters={"count": 4}, return_state=True)
    assert state.is_completed(), state.message
    run = state.result()
    assert run.records == {"count": 4, "squares": [0, 1, 4, 9]} and Path(run.result).exists()
    found = artifacts(state)
    assert set(found) == {"notebook-plots", "notebook-plots-records", "notebook-plots-cell03-0"}
    summary = found["notebook-plots"].data
    assert "# Notebook `plots` completed" in summary and "| `count` | `4` |" in summary
    assert Path(run.result).resolve().as_uri() in summary
    assert json.loads(found["notebook-plots-records"].data) == [
        {"name": "count", "value": 4},
        {"name": "squares", "value": "[0, 1, 4, 9]"},
    ]
    assert found["notebook-plots-cell03-0"].data.startswith("![cell03-0](data:image/png;base64,iVBOR")


def test_a_failing_notebook_fails_the_run_with_its_cell_and_exception(prefect_api: str, catalogue: Path) -> None:
    from flows.run_notebook import run_notebook

    write_notebook(catalogue / "broken.ipynb", "print('before')", "raise KeyError(f'no key {count}')", "print(2)")
    state = run_notebook(notebook="broken", return_state=True)
    assert state.is_failed()
    assert "cell 3" in (state.message or "") and "KeyError: 'no key 1'" in (state.message or ""), state.message
    found = artifacts(state)
    assert {"notebook-broken", "notebook-broken-failure"} <= set(found)
    failure = found["notebook-broken-failure"].data
    assert "- **Cell:** 3" in failure and "`KeyError`" in failure
    partial = failure.split("Partial result notebook")[1].split("`")[1]
    assert "before" in Path(partial).read_text() and "no key 1" in Path(partial).read_text()


def test_bad_parameters_fail_the_run_before_any_kernel(prefect_api: str, catalogue: Path, tmp_path: Path) -> None:
    from flows.run_notebook import run_notebook

    marker = tmp_path / "ran"
    write_notebook(catalogue / "guarded.ipynb", f"open({str(marker)!r}, 'w').close()")
    for parameters, message in [
        ({"colour": "red"}, "unknown parameter 'colour' for guarded.ipynb: it declares count"),
        ({"count": "2"}, "parameter 'count': expected int, got str '2'"),
    ]:
        state = run_notebook(notebook="guarded", parameters=parameters, return_state=True)
        assert state.is_failed() and message in (state.message or ""), state.message
    state = run_notebook(notebook="absent", return_state=True)
    assert state.is_failed() and "absent: no such notebook" in (state.message or ""), state.message
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_verification_fails_on_a_broken_notebook_and_says_which(prefect_api: str, catalogue: Path) -> None:
    from flows.verify_notebooks import VERIFICATION_KEY, verify_notebooks

    write_notebook(catalogue / "good.ipynb", "assert count == 2, count")  # its verification parameters: count 2
    write_notebook(catalogue / "bad.ipynb", "x = 1", "1 / 0")
    state = verify_notebooks(concurrency=2, return_state=True)
    assert state.is_failed()
    assert "1 of 2 notebooks failed verification: bad: cell 3 (1 / 0) raised ZeroDivisionError" in (state.message or "")
    table = {row["notebook"]: row for row in json.loads(artifacts(state)[VERIFICATION_KEY].data)}
    assert table["good"]["status"] == "passed" and table["good"]["failing_cell"] is None
    assert table["bad"]["status"] == "failed" and table["bad"]["failing_cell"] == 3
    assert all(row["duration_s"] > 0 for row in table.values())


@pytest.fixture(scope="module")
def demo(prefect_api: str, postgis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What ``make demo`` makes, made by the same flows: the demo cube (cubes/specs/demo.yaml, into a temporary
    folder) loaded into a fresh catalogue with zonal statistics over the demo seas and warm-water features."""
    from flows.build_cube import build_cube

    folder = tmp_path_factory.mktemp("demo")
    with fresh_database(postgis_server) as url, pytest.MonkeyPatch.context() as env:
        env.setenv("ESDL_DATABASE_URL", url)
        build_cube(
            spec=str(REPO_ROOT / "cubes" / "specs" / "demo.yaml"),
            output=str(folder / "esdl-demo.zarr"),
            catalog={
                "regions": [str(REPO_ROOT / "cubes" / "specs" / "demo-regions.geojson")],
                "features": ["sst:>=300"],
            },
        )
        yield {"cube": str(folder / "esdl-demo.zarr"), "database_url": url, "folder": str(folder)}


def test_the_catalogue_notebooks_pass_verification_on_the_demo_data(
    demo: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """verify-notebooks over notebooks/ (each with its verification parameters), on the demo cube and catalogue,
    the SPARQL notebook asking a running endpoint: a broken example fails here."""
    from flows.verify_notebooks import VERIFICATION_KEY, verify_notebooks

    monkeypatch.setenv("ESDL_DATABASE_URL", demo["database_url"])
    monkeypatch.setenv("ESDL_NOTEBOOK_CATALOGUE", str(REPO_ROOT / "notebooks"))
    monkeypatch.setenv("ESDL_NOTEBOOK_OUTPUT", str(tmp_path / "results"))
    with running_server(demo["database_url"], tmp_path / "serve.log") as base:
        state = verify_notebooks(overrides={"cube": demo["cube"], "endpoint": f"{base}/sparql"}, return_state=True)
    rows = {row["notebook"]: row for row in json.loads(artifacts(state)[VERIFICATION_KEY].data)}
    assert state.is_completed(), json.dumps(rows, indent=1)
    assert set(rows) == {p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    assert all(row["status"] == "passed" for row in rows.values())
    # the examples' recorded values agree with the demo data: SPARQL and SQL see the same regions and means
    records = {
        name: json.loads((Path(row["result"]).parent / "records.json").read_text()) for name, row in rows.items()
    }
    assert records["sparql-regions"]["regions"] == records["zonal-statistics"]["regions"] == 6
    assert records["sparql-regions"]["highest_mean_region"] == records["zonal-statistics"]["highest_mean_region"]
    assert records["sparql-regions"]["highest_mean"] == pytest.approx(records["zonal-statistics"]["highest_mean"])
    assert records["cube-report"]["time_steps"] == 132 and records["cube-report"]["steps_with_values"] == 54


def test_the_sparql_notebook_answers_in_the_kernel_without_an_endpoint(
    demo: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nbrun.execute import run_notebook

    monkeypatch.setenv("ESDL_DATABASE_URL", demo["database_url"])
    run = run_notebook(REPO_ROOT / "notebooks" / "sparql-regions.ipynb", {"endpoint": ""}, output=str(tmp_path))
    assert run.records["regions"] == 6 and run.records["regions_with_values"] == 5
    assert "the translator in this kernel" in Path(run.result).read_text()
