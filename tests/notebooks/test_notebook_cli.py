"""``esdl notebook run | list | verify``: bad input is one line and exit code 2 with nothing executed; a run and a
verification in-process on a real Prefect server, then listed with their states; --submit creates a run of the
deployment with the validated parameters."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import nbformat
import pytest

from esdl_testing.cli import run_esdl

pytestmark = pytest.mark.slow


def write_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "esdl", "display_name": "esdl", "language": "python"}
    nb.metadata["esdl"] = {"title": f"The {path.stem}", "tags": ["test"], "verify": {"count": 2}}
    tagged = nbformat.v4.new_code_cell('count = 1\nlabel = "a"')
    tagged.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), tagged, *map(nbformat.v4.new_code_cell, cells)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> dict[str, str]:
    """A catalogue of two notebooks, one of which fails, and the environment that points esdl at it."""
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    marker = tmp_path / "ran"
    write_notebook(
        catalogue / "counts.ipynb",
        f"open({str(marker)!r}, 'a').write(label)\nfrom nbrun import record\nrecord('double', 2 * count)",
    )
    write_notebook(catalogue / "fails.ipynb", "print('ok')", "raise RuntimeError(f'broken {count}')")
    return {
        **os.environ,
        "ESDL_NOTEBOOK_CATALOGUE": str(catalogue),
        "ESDL_NOTEBOOK_OUTPUT": str(tmp_path / "results"),
        "MARKER": str(marker),
    }


def test_bad_input_is_one_line_and_exit_2_with_nothing_executed(project: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "invalid.ipynb").write_text("{ not json")
    cases = [
        (["run", "counts", "-p", "colour", "red"], "unknown parameter 'colour' for counts.ipynb: it declares count"),
        (["run", "counts", "-p", "count", "many"], "parameter 'count': 'many' is not valid JSON for type int"),
        (["run", "counts", "-p", "count", "1.5"], "parameter 'count': expected int, got float 1.5"),
        (["run", "absent"], "absent: no such notebook; the catalogue has counts, fails"),
        (["run", str(tmp_path / "invalid.ipynb")], "invalid.ipynb: not a notebook (not valid JSON)"),
        (["run", "counts", "--watch"], "--watch and --deployment go with --submit"),
        (["verify", "absent"], "not in the catalogue: absent (it has counts, fails)"),
    ]
    for args, message in cases:
        done = run_esdl("notebook", *args, env=project)
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in " ".join(lines), done.stderr
    assert not Path(project["MARKER"]).exists() and not (tmp_path / "results").exists()


def test_run_verify_and_list_on_a_prefect_server(prefect_api: str, project: dict[str, str]) -> None:
    done = run_esdl("notebook", "run", "counts", "-p", "count", "5", "-p", "label", "7", env=project)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["records"] == {"double": 10}
    assert Path(project["MARKER"]).read_text() == "7"  # "7" for a text parameter stays text

    failed = run_esdl("notebook", "run", "fails", env=project)
    assert failed.returncode == 1 and "notebook failed" in failed.stderr, failed.stdout + failed.stderr
    assert "notebook failed: cell 3 (raise RuntimeError(f'broken {count}')) raised RuntimeError: broken 1" in (
        " ".join(failed.stderr.split())
    )
    partial = failed.stderr.split("partial result notebook:")[1].split()[0]
    assert "broken 1" in Path(partial).read_text()

    verified = run_esdl("notebook", "verify", env=project)
    assert verified.returncode == 1, verified.stdout + verified.stderr
    rows = {line.split("│")[1].strip(): line for line in verified.stdout.splitlines() if line.count("│") > 4}
    assert "passed" in rows.get("counts", "") and "failed" in rows.get("fails", ""), verified.stdout + verified.stderr

    listed = run_esdl("notebook", "list", env=project)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "Completed" in lines["counts"] and "passed" in lines["counts"], listed.stdout + listed.stderr
    assert "Failed" in lines["fails"] and "failed (cell 3)" in " ".join(listed.stdout.split()), listed.stdout


def test_submit_sends_the_validated_parameters_to_the_deployment(prefect_api: str, project: dict[str, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.utilities.callables import parameter_schema

    from esdl_testing.paths import REPO_ROOT
    from flows.run_notebook import run_notebook

    async def register() -> None:
        async with get_client() as client:
            try:
                await client.create_work_pool(WorkPoolCreate(name="esdl-notebook-test", type="process"))
            except ObjectAlreadyExists:
                pass
            await client.create_deployment(
                flow_id=await client.create_flow_from_name("run-notebook"),
                name="submit-test",
                entrypoint="flows/run_notebook.py:run_notebook",
                path=str(REPO_ROOT),
                work_pool_name="esdl-notebook-test",
                parameter_openapi_schema=parameter_schema(run_notebook.fn).model_dump_for_openapi(),
                enforce_parameter_schema=True,
            )

    asyncio.run(register())
    args = ["notebook", "run", "counts", "-p", "count", "3", "--submit", "--deployment", "run-notebook/submit-test"]
    done = run_esdl(*args, env=project)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stderr.split("(")[1].split(")")[0]

    async def parameters() -> dict[str, object]:
        async with get_client() as client:
            return dict((await client.read_flow_run(uuid.UUID(run_id))).parameters)

    assert asyncio.run(parameters()) == {"notebook": "counts", "parameters": {"count": 3}}
    absent = run_esdl("notebook", "run", "counts", "--submit", "--deployment", "run-notebook/absent", env=project)
    assert absent.returncode == 2 and "no deployment run-notebook/absent" in absent.stderr
