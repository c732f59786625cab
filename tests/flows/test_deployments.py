"""deployments/prefect.yaml registers every deployment on a real Prefect server, and a process worker runs one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
PREFECT = str(Path(sys.executable).parent / "prefect")

pytestmark = pytest.mark.slow


def _prefect(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [PREFECT, "--no-prompt", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=os.environ
    )
    assert run.returncode == 0, f"prefect {' '.join(args)}:\n{run.stdout}\n{run.stderr}"
    return run


def _declared() -> list[dict[str, object]]:
    return list(yaml.safe_load(PREFECT_FILE.read_text())["deployments"])


async def _deployments() -> dict[str, object]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.read_deployments()
        flows = {f.id: f.name for f in await client.read_flows()}
    return {f"{flows[d.flow_id]}/{d.name}": d for d in found}


async def _runs_of(deployment_id: UUID) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        return list(
            await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        )


async def _flow_run(run_id: str) -> object:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_flow_run(UUID(run_id))


def test_every_deployment_registers_and_one_runs_on_a_worker(prefect_api: str, tmp_path: Path) -> None:
    declared = _declared()
    pools = {d["work_pool"]["name"] for d in declared}  # type: ignore[index]
    for pool in pools:
        _prefect("work-pool", "create", str(pool), "--type", "process", "--overwrite")
    _prefect("deploy", "--all", "--prefect-file", str(PREFECT_FILE.relative_to(ROOT)))

    registered = asyncio.run(_deployments())
    entry = {str(d["name"]): str(d["entrypoint"]) for d in declared}
    # (the server is the session's: other tests register deployments of their own)
    registered = {full: d for full, d in registered.items() if full.split("/")[1] in entry}
    names = {name.split("/")[1] for name in registered}
    assert names == set(entry), f"registered {sorted(registered)}, declared {sorted(entry)}"
    for full, deployment in registered.items():
        assert deployment.work_pool_name in pools  # type: ignore[attr-defined]
        assert deployment.entrypoint == entry[full.split("/")[1]]  # type: ignore[attr-defined]
        assert deployment.enforce_parameter_schema is True  # type: ignore[attr-defined]

    # the nightly demo rebuild: a cron schedule in its time zone
    nightly = registered["build-cube/demo-cube"]
    (schedule,) = nightly.schedules  # type: ignore[attr-defined]
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == ("0 3 * * *", "Europe/Berlin", True)
    # the weekly cube report notebook and the nightly verification of the notebook catalogue
    (weekly,) = registered["run-notebook/cube-report"].schedules  # type: ignore[attr-defined]
    assert (weekly.schedule.cron, weekly.schedule.timezone) == ("0 6 * * 1", "Europe/Berlin")
    assert registered["run-notebook/cube-report"].parameters["notebook"] == "cube-report"  # type: ignore[attr-defined]
    (verify,) = registered["verify-notebooks/nightly"].schedules  # type: ignore[attr-defined]
    assert (verify.schedule.cron, verify.schedule.timezone) == ("30 4 * * *", "Europe/Berlin")
    # the generic build: its spec parameter is a CubeSpec (a form in the UI) or a path
    schema = registered["build-cube/build"].parameter_openapi_schema  # type: ignore[attr-defined]
    assert {"$ref": "#/definitions/CubeSpec"} in schema["properties"]["spec"]["anyOf"]
    assert {"grid", "sources", "variables"} <= set(schema["definitions"]["CubeSpec"]["properties"])

    # start the demo build into a temporary folder and let a process worker run it
    (name,) = [n for n in registered if n.endswith("/demo-cube")]
    output = tmp_path / "demo.zarr"
    started = _prefect("deployment", "run", name, "--param", f"output={output}", "--param", "resume=false")
    run_id = next(line.split()[-1] for line in started.stdout.splitlines() if "UUID" in line)
    pool = registered[name].work_pool_name  # type: ignore[attr-defined]
    _prefect("worker", "start", "--pool", pool, "--run-once", timeout=600)
    run = asyncio.run(_flow_run(run_id))
    assert run.state is not None and run.state.is_completed(), run.state  # type: ignore[attr-defined]
    assert output.is_symlink() and (output / "zarr.json").exists()

    # the published cube's event starts load-catalog/load for it (the deployment's trigger, defined as code)
    load = registered["load-catalog/load"]
    deadline = time.monotonic() + 120
    chained: list[object] = []
    while not chained and time.monotonic() < deadline:
        chained = asyncio.run(_runs_of(load.id))  # type: ignore[attr-defined]
        time.sleep(1)
    assert [r.parameters.get("cube") for r in chained] == [str(output)], chained  # type: ignore[attr-defined]
