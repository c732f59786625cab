"""The ``esdl`` command line: plans, dry runs, verification and clear errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from esdl.cli import main
from esdl_testing.samples import sample_path


def write_spec(folder: Path, **changes: object) -> Path:
    spec: dict[str, object] = {
        "name": "cli",
        "grid": {"bbox": [-100.0, 10.0, -40.0, 60.0], "resolution": 2.5},
        "time": {"start": "2000-01-01", "end": "2009-12-31", "period": "1Y"},
        "sources": {"hadcm3": {"path": sample_path("A1B_north_america.nc")}},
        "variables": [{"name": "tas", "source": "hadcm3", "source_variable": "air_temperature"}],
        "chunks": {"time": 5, "y": 20, "x": 24},
        "output": "out/cli.zarr",
    }
    spec.update(changes)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_info_prints_the_plan(tmp_path: Path) -> None:
    code, out = run("cube", "info", str(write_spec(tmp_path)))
    assert code == 0, out
    assert '"time": 10' in out and '"lat": 20' in out and '"lon": 24' in out
    assert "regions" in out and "estimated_size_mb" in out
    assert not (tmp_path / "out").exists()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    code, out = run("cube", "build", str(write_spec(tmp_path)), "--dry-run")
    assert code == 0, out
    assert "fingerprint" in out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": {"bbox": [0, 0, 1, 1], "resolution": 0.3}}, "grid: Value error"),
        ({"time": {"start": "2000-01-01", "end": "2001-01-01", "period": "2W"}}, "time.period"),
        ({"variables": [{"name": "tas", "source": "nope"}]}, "variables.0.source: unknown source 'nope'"),
        ({"chunks": {"time": 0}}, "chunks.time"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_spec_exits_2_naming_the_field(tmp_path: Path, changes: dict, message: str) -> None:
    code, out = run("cube", "build", str(write_spec(tmp_path, **changes)))
    assert code == 2
    assert message.split(":")[0] in out
    assert not (tmp_path / "out").exists()


def test_unreadable_source_exits_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"this is not netcdf")
    spec = write_spec(tmp_path, sources={"hadcm3": {"path": str(garbage)}})
    code, out = run("cube", "build", str(spec))
    assert code == 2 and "hadcm3" in out and "cannot read" in out
    assert not (tmp_path / "out").exists()


def test_missing_source_variable_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found before any flow run starts: no Prefect server is reachable, and nothing is written
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    spec = write_spec(tmp_path, variables=[{"name": "x", "source": "hadcm3", "source_variable": "nope"}])
    code, out = run("cube", "info", str(spec))
    assert code == 0  # info does not open sources
    code, out = run("cube", "build", str(spec))
    assert code == 2 and "'nope'" in out and "air_temperature" in out
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*.esdl"))


def test_missing_spec_file_exits_2(tmp_path: Path) -> None:
    code, out = run("cube", "info", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read spec" in out


def test_verify_reports_problems(tmp_path: Path) -> None:
    import numpy as np
    import xarray as xr

    bad = tmp_path / "bad.zarr"
    xr.Dataset({"v": (("t", "y"), np.zeros((2, 2)))}).to_zarr(bad, zarr_format=2)
    code, out = run("cube", "verify", str(bad))
    assert code == 2 and "zarr format is 2" in out and "missing" in out
    code, out = run("cube", "verify", str(tmp_path / "absent.zarr"))
    assert code == 2 and "no such cube" in out


def test_unusable_output_exits_2_before_any_run(tmp_path: Path) -> None:
    code, out = run("cube", "build", str(write_spec(tmp_path, output="s3://bucket/cube.zarr")))
    assert code == 2 and "only local paths" in out
    foreign = tmp_path / "out" / "cli.zarr"
    foreign.mkdir(parents=True)
    code, out = run("cube", "build", str(write_spec(tmp_path)))
    assert code == 2 and "not published by esdl" in out
    assert list(foreign.iterdir()) == []


def test_build_result_names_the_stac_collection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The build's summary points at the version's STAC Collection when the version has one, and the last line
    stays the JSON result."""
    import json

    from esdl.cli.cube import _print_result
    from flows.results import BuildResult

    version = tmp_path / "versions" / "v1"
    (version / "cube.zarr").mkdir(parents=True)
    result = BuildResult(
        path=str(version / "cube.zarr"),
        output=str(tmp_path / "c.zarr"),
        regions=2,
        written=2,
        variables=["v"],
        stats=[],
        scheduler=None,
    )
    _print_result(result)
    assert "STAC collection" not in capsys.readouterr().out  # none written: nothing claimed
    (version / "collection.json").write_text("{}")
    _print_result(result)
    out = capsys.readouterr().out
    assert "STAC collection:" in out and "collection.json" in out.replace("\n", "")
    assert json.loads(out.strip().splitlines()[-1])["written"] == 2
