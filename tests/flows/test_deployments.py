"""deployments/prefect.yaml registers every deployment on a real Prefect server, and a process worker runs one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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
    names = {name.split("/")[1] for name in registered}
    assert names == set(entry), f"registered {sorted(registered)}, declared {sorted(entry)}"
    for full, deployment in registered.items():
        assert deployment.work_pool_name in pools  # type: ignore[attr-defined]
        assert deployment.entrypoint == entry[full.split("/")[1]]  # type: ignore[attr-defined]

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
