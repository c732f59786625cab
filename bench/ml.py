"""The ML flow's training (cubes.ml) on CPU workers against the ``gpu`` worker group: same data, same epochs.

    .venv/bin/python bench/ml.py [--cube out/esdl-demo.zarr] [--epochs 6] [--rounds 3] [--batch-size 512]

Each round trains the same model twice on the demo cube (next-month sst from the previous three months of sst
and air temperature; held out: the last 12 months with sst), each time as the one Dask task the ``train-model``
flow submits:

- ``cpu``: on a worker of the ``local-cpu`` profile's default group (no resources asked);
- ``gpu_group``: with ``resources={"GPU": 1}`` on the ``local-gpu`` profile, whose ``gpu`` group the autoscaler
  starts from 0 for it. Its workers get a CUDA device each where the machine has one; elsewhere (this
  development machine) they fall back to the CPU, so both sides are CPU and ``cuda_available`` says so.

The two sides alternate (``cpu`` first in odd rounds); figures are medians over the rounds. ``samples_per_s`` is
training samples times epochs over the epochs' wall time on the worker (data preparation and validation
excluded); ``task_s`` is the whole task on the worker; ``submit_to_result_s`` includes starting the gpu worker.
The validation RMSE of both sides and of the two baselines (persistence, climatology) come with them. The demo
cube is built once into ``.esdl/bench/ml/`` when ``--cube`` does not exist. The machine may be loaded by other
work: the load average before and after is printed. The last line is one JSON object.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # esdl_testing.mlcubes builds the demo cube without Prefect

DEMO = ROOT / "out" / "esdl-demo.zarr"
CACHE = ROOT / ".esdl" / "bench" / "ml" / "esdl-demo.zarr"


def demo_cube(path: Path) -> Path:
    """``path`` if it is a cube, else the demo cube built (once) into :data:`CACHE`."""
    if path.exists():
        return path
    if not CACHE.exists():
        from esdl_testing.mlcubes import build_demo

        print(f"building the demo cube into {CACHE} ...", flush=True)
        build_demo(CACHE)
    return CACHE


def train_once(side: str, cube: Path, config: dict[str, Any], models: Path, run: str) -> dict[str, Any]:
    """One training task on ``side``'s cluster (a fresh cluster of its profile); what it reported."""
    from distributed import Client

    from cubes.ml.remote import GPU_TASK, train_on_worker
    from cubes.scaleout.cluster import open_cluster
    from cubes.scaleout.profiles import BUILTIN_PROFILES

    profile = BUILTIN_PROFILES["local-cpu" if side == "cpu" else "local-gpu"]
    resources = None if side == "cpu" else GPU_TASK
    with open_cluster(profile) as cluster, Client(cluster.scheduler_address, set_as_default=False) as client:
        t0 = time.perf_counter()
        future = client.submit(train_on_worker, str(cube), config, str(models), run, resources=resources, pure=False)
        result = future.result()
        submit_to_result = time.perf_counter() - t0
    m = result.info.metrics
    return {
        "worker": result.worker,
        "group": result.group,
        "device": result.info.device,
        "samples_per_s": result.info.samples_per_s,
        "task_s": result.seconds,
        "submit_to_result_s": round(submit_to_result, 3),
        "rmse": m.model.rmse,
        "mae": m.model.mae,
        "persistence_rmse": m.persistence.rmse,
        "climatology_rmse": m.climatology.rmse,
        "samples": m.samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cube", type=Path, default=DEMO, help="training cube (default: the demo cube)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()

    import torch

    from cubes.ml.config import ModelConfig

    cube = demo_cube(args.cube)
    config = ModelConfig(epochs=args.epochs, batch_size=args.batch_size).model_dump(mode="json")
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"cpu": [], "gpu_group": []}
    with tempfile.TemporaryDirectory(prefix="esdl-bench-ml-") as tmp:
        for r in range(args.rounds):
            order = ["cpu", "gpu_group"] if r % 2 == 0 else ["gpu_group", "cpu"]
            for side in order:
                one = train_once(side, cube, config, Path(tmp), f"{side}-{r}")
                runs[side].append(one)
                print(
                    f"round {r + 1} {side:9s}: {one['samples_per_s']:9.0f} samples/s on {one['device']} "
                    f"({one['worker']}, group {one['group']}), task {one['task_s']:.1f} s, submit->result "
                    f"{one['submit_to_result_s']:.1f} s, RMSE {one['rmse']:.4f}",
                    flush=True,
                )
    load_after = os.getloadavg()

    def median(side: str, key: str) -> float:
        return round(statistics.median(float(x[key]) for x in runs[side]), 4)

    first = runs["cpu"][0]
    summary = {
        "cuda_available": bool(torch.cuda.is_available()),
        "gpu_group_device": runs["gpu_group"][0]["device"],
        "gpu_group_worker_group": runs["gpu_group"][0]["group"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "cpu_samples_per_s": median("cpu", "samples_per_s"),
        "gpu_group_samples_per_s": median("gpu_group", "samples_per_s"),
        "gpu_group_speedup": round(median("gpu_group", "samples_per_s") / median("cpu", "samples_per_s"), 3),
        "cpu_task_s": median("cpu", "task_s"),
        "gpu_group_task_s": median("gpu_group", "task_s"),
        "gpu_group_submit_to_result_s": median("gpu_group", "submit_to_result_s"),
        "cpu_rmse": median("cpu", "rmse"),
        "gpu_group_rmse": median("gpu_group", "rmse"),
        "persistence_rmse": first["persistence_rmse"],
        "climatology_rmse": first["climatology_rmse"],
        "validation_samples": first["samples"],
        "rounds": args.rounds,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
    }
    print(
        f"cuda available: {summary['cuda_available']}; gpu group x{summary['gpu_group_speedup']} the CPU workers' "
        f"samples/s; RMSE model {summary['gpu_group_rmse']} (cpu {summary['cpu_rmse']}), persistence "
        f"{summary['persistence_rmse']}, climatology {summary['climatology_rmse']}; load {load_before[0]:.2f} -> "
        f"{load_after[0]:.2f}"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
