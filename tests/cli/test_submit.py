"""``esdl cube build --submit [--watch]`` against a real Prefect server and a real process worker: the spec goes
to the deployment, the run's UI address is printed, --watch follows it to Completed (exit 0) and the cube is
published; a deployment that is not registered, and --watch without --submit, exit 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from esdl_testing.cli import run_esdl
from esdl_testing.paths import REPO_ROOT
from esdl_testing.samples import sample_path

BIN = Path(sys.executable).parent
POOL = "esdl-submit-test"


def write_spec(folder: Path) -> Path:
    spec = {
        "name": "submitted",
        "grid": {"bbox": [-100.0, 10.0, -40.0, 60.0], "resolution": 2.5},
        "time": {"start": "2000-01-01", "end": "2009-12-31", "period": "1Y"},
        "sources": {"hadcm3": {"path": sample_path("A1B_north_america.nc")}},
        "variables": [{"name": "tas", "source": "hadcm3", "source_variable": "air_temperature"}],
        "chunks": {"time": 5, "y": 20, "x": 24},
        "output": str(folder / "submitted.zarr"),
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def register(name: str) -> None:
    """A process pool and a deployment ``build-cube/NAME`` of the real flow (entry point from the repository)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.utilities.callables import parameter_schema

    from flows.build_cube import build_cube

    async def create() -> None:
        async with get_client() as client:
            try:
                await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
            except ObjectAlreadyExists:
                pass
            flow_id = await client.create_flow_from_name("build-cube")
            await client.create_deployment(
                flow_id=flow_id,
                name=name,
                entrypoint="flows/build_cube.py:build_cube",
                path=str(REPO_ROOT),
                work_pool_name=POOL,
                parameter_openapi_schema=parameter_schema(build_cube.fn).model_dump_for_openapi(),
                enforce_parameter_schema=True,
            )

    asyncio.run(create())


def test_a_submitted_build_runs_on_a_worker_and_watch_follows_it(prefect_api: str, tmp_path: Path) -> None:
    register("submit-test")
    spec = write_spec(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    command = ["cube", "build", str(spec), "--submit", "--watch", "--no-progress"]
    cli = subprocess.Popen(
        [sys.executable, "-m", "esdl", *command, "--deployment", "build-cube/submit-test"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the CLI has created its run (the session has other runs)
            time.sleep(0.5)
            if cli.poll() is not None or _runs("submit-test"):
                break
        worker = subprocess.run(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        out, _ = cli.communicate(timeout=600)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, f"{out}\nworker:\n{worker.stdout[-3000:]}\n{worker.stderr[-3000:]}"
    assert "submitted" in out and "/runs/flow-run/" in out and "state: Completed" in out, out
    assert (tmp_path / "submitted.zarr" / "zarr.json").exists()


def _runs(deployment: str) -> list[object]:
    """The runs of ``build-cube/<deployment>``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async def read() -> list[object]:
        async with get_client() as client:
            named = DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
            return list(await client.read_flow_runs(deployment_filter=named))

    return asyncio.run(read())


def test_submit_to_a_deployment_not_registered_exits_2(prefect_api: str, tmp_path: Path) -> None:
    done = run_esdl(
        "cube", "build", str(write_spec(tmp_path)), "--submit", "--deployment", "build-cube/nope",
        env={**os.environ, "PREFECT_API_URL": prefect_api},
    )  # fmt: skip
    assert done.returncode == 2 and "no deployment build-cube/nope" in done.stdout + done.stderr


def test_watch_without_submit_exits_2(tmp_path: Path) -> None:
    done = run_esdl("cube", "build", str(write_spec(tmp_path)), "--watch")
    assert done.returncode == 2 and "--submit" in done.stdout + done.stderr


def test_submit_without_a_server_exits_2(tmp_path: Path) -> None:
    from esdl_testing.servers import free_port

    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    done = run_esdl("cube", "build", str(write_spec(tmp_path)), "--submit", env=env)
    assert done.returncode == 2 and "no Prefect server answers" in done.stdout + done.stderr
