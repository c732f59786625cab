"""``prefect_overhead``: the ``build-cube`` flow run by a deployment (a real process worker, the flow in its own
process) against the same library calls without Prefect (``bench/cube_build.py``'s ``library`` job, in a process
of its own), on ``bench/cube_build.py``'s inputs (scale 1: about 2 GB; generated once, cached in its work folder).

The deployment run's time is Prefect's own account of it, from the run's start (Running: the flow's process has
imported it and begins) to its end; the library's is the job's wall time after its imports. Both start and close
their Dask cluster (the same settings) inside their time, both write and publish a cube of their own. The two
sides alternate their order between rounds; the medians are compared.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _orchestrationbench.prefect_api import TERMINAL, PrefectApi, Worker, unix_seconds

BUILD_POOL = "esdl-bench-build"
BUILD_DEPLOYMENT = "esdl-bench-build"
CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "memory_limit": "3GiB", "processes": False}


def deployment_run(api: PrefectApi, deployment_id: str, parameters: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run the deployment once and wait for the end; its time from start to end, as the server recorded it.

    Raises:
        RuntimeError: The run did not complete (its state message in the error) or did not end in time.
    """
    run = api.call("POST", f"/deployments/{deployment_id}/create_flow_run", {"parameters": parameters})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = api.run(run["id"])
        if run["state"]["type"] in TERMINAL:
            break
        time.sleep(0.5)
    state = run["state"]
    if state["type"] != "COMPLETED":
        raise RuntimeError(f"the deployment run {run['id']} ended {state['type']}: {state.get('message')}")
    return {"wall_s": unix_seconds(run["end_time"]) - unix_seconds(run["start_time"]), "run_id": run["id"]}


def prefect_overhead(
    api: PrefectApi,
    prefect_env: dict[str, str],
    workdir: Path,
    cube_workdir: Path,
    scale: float,
    repeat: int,
    log: Callable[[str], None],
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Measure ``repeat`` rounds of both sides; the figures, ``prefect_overhead`` among them."""
    from _cubebench.inputs import generate_inputs, warm_page_cache
    from _cubebench.jobs import _flow_cluster_settings, cube_spec
    from _cubebench.runner import fresh, job_env, run_in_process
    from prefect.utilities.callables import parameter_schema

    from flows.build_cube import build_cube

    repo = Path(__file__).resolve().parents[2]
    inputs = generate_inputs(cube_workdir, scale, workers=os.cpu_count() or 2, log=log)
    outputs = {side: workdir / "overhead" / side / "cube.zarr" for side in ("library", "deployment")}
    specs = {side: cube_spec(f"overhead-{side}", asdict(inputs), str(out), "8D", True) for side, out in outputs.items()}
    library_job = {"kind": "library", "inputs": asdict(inputs), "output": str(outputs["library"])}
    library_job |= {"cluster": CLUSTER, "spec": specs["library"]}
    parameters = {"spec": specs["deployment"], "resume": False, "cluster": _flow_cluster_settings(CLUSTER)}

    schema = parameter_schema(build_cube.fn).model_dump_for_openapi()
    api.create_pool(BUILD_POOL)
    deployment_id = api.create_deployment(
        "build-cube", BUILD_DEPLOYMENT, BUILD_POOL, schema, "flows/build_cube.py:build_cube", repo
    )
    worker = Worker(BUILD_POOL, prefect_env, repo, workdir / "build-worker.log")
    walls: dict[str, list[float]] = {"library": [], "deployment": []}
    try:
        worker.start(api, log=log)
        for rnd in range(repeat):
            order = ("library", "deployment") if rnd % 2 == 0 else ("deployment", "library")
            for side in order:
                fresh(outputs[side].parent)
                warm_page_cache(inputs)
                log(f"prefect overhead: {side}, round {rnd + 1} of {repeat} ...")
                if side == "library":
                    env = job_env(prefect_env)
                    result = run_in_process("overhead-library", library_job, workdir, env, timeout_s, None)
                    if "error" in result:
                        raise RuntimeError(f"the library job failed: {result['error']}")
                else:
                    result = deployment_run(api, deployment_id, parameters, timeout_s)
                walls[side].append(result["wall_s"])
                log(f"  {side}: {result['wall_s']:.2f} s")
    finally:
        worker.stop()
    library, deployment = statistics.median(walls["library"]), statistics.median(walls["deployment"])
    return {
        "prefect_overhead": round(deployment / library, 3),
        "library_s": round(library, 2),
        "deployment_run_s": round(deployment, 2),
        "walls_s": {k: [round(v, 2) for v in vs] for k, vs in walls.items()},
        "input_mb": round(inputs.bytes_total / 1e6, 1),
        "scale": scale,
        "rounds": repeat,
        "cluster": CLUSTER,
    }
