"""The catalogue in notebooks/: every notebook is committed without outputs, carries valid catalogue metadata and
a parameters cell, and its verification parameters pass the checks every run passes. No kernel is started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esdl_testing.paths import REPO_ROOT
from nbrun.catalogue import discover
from nbrun.parameters import inspect_parameters, validate_parameters

CATALOGUE = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(CATALOGUE.glob("*.ipynb"))


def committed_outputs(path: Path) -> list[str]:
    """What a notebook file holds that a stripped notebook does not: outputs and execution counts by cell."""
    found = []
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell.get("outputs"):
            found.append(f"cell {index}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {index}: execution count {cell['execution_count']}")
        if "papermill" in cell.get("metadata", {}) or "execution" in cell.get("metadata", {}):
            found.append(f"cell {index}: run metadata")
    return found


def test_the_catalogue_has_the_examples() -> None:
    names = {e.name for e in discover(CATALOGUE)}
    assert {"cube-report", "sparql-regions", "zonal-statistics"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    found = committed_outputs(path)
    assert found == [], f"{path.name} has outputs: clear them before committing ({'; '.join(found)})"


def test_the_output_check_finds_outputs(tmp_path: Path) -> None:
    notebook = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hello\n"}]
    code["execution_count"] = 3
    executed = tmp_path / "executed.ipynb"
    executed.write_text(json.dumps(notebook))
    assert len(committed_outputs(executed)) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_declares_its_parameters_and_verification(path: Path) -> None:
    (entry,) = [e for e in discover(CATALOGUE) if e.path == path]
    declared = inspect_parameters(path)
    assert declared, f"{path.name} has no parameters cell"
    assert entry.meta.title and entry.meta.description
    assert validate_parameters(declared, entry.meta.verify, path.name) == entry.meta.verify
    kernelspec = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
    assert kernelspec["name"] == "esdl"
