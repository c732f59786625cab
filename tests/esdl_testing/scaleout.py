"""Profiles and tasks for the scale-out tests and ``bench/autoscale.py``.

The tasks live in this importable module (not in a test module) because the local backend's workers are separate
processes: they import a task's module by name, and they find ``esdl_testing`` on the import path they inherit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cubes.scaleout.profiles import AutoscalerConfig, ClusterProfile, WorkerGroup


def two_groups(
    *,
    default_max: int = 2,
    gpu_max: int = 1,
    idle_timeout_s: float = 1.5,
    cooldown_s: float = 1.0,
    scale_up_after_s: float = 0.0,
    resource_wait_timeout_s: float = 60.0,
    default_min: int = 1,
) -> ClusterProfile:
    """A ``default`` group (1 thread a worker) and a ``gpu`` group from 0, quick to scale, CPU fallback."""
    return ClusterProfile(
        name="test-groups",
        groups=[
            WorkerGroup(
                name="default",
                min_workers=default_min,
                max_workers=default_max,
                memory="1GiB",
                idle_timeout_s=idle_timeout_s,
            ),
            WorkerGroup(name="gpu", max_workers=gpu_max, memory="1GiB", gpus=1, idle_timeout_s=idle_timeout_s),
        ],
        autoscaler=AutoscalerConfig(
            interval_s=0.2,
            scale_up_after_s=scale_up_after_s,
            scale_down_cooldown_s=cooldown_s,
            resource_wait_timeout_s=resource_wait_timeout_s,
        ),
        on_missing_gpu="cpu",
    )


def where(seconds: float, _i: int = 0) -> str:
    """Sleep ``seconds`` and say which worker ran the task."""
    from distributed import get_worker

    time.sleep(seconds)
    return str(get_worker().name)


def device_env(dask_worker: Any) -> tuple[str, str, str]:
    """For ``Client.run``: the worker's name, its group (from the environment) and its ``CUDA_VISIBLE_DEVICES``."""
    return str(dask_worker.name), os.environ.get("ESDL_WORKER_GROUP", ""), os.environ.get("CUDA_VISIBLE_DEVICES", "?")


def marked(marker: str, seconds: float) -> str:
    """Append this worker's name to the file ``marker`` (the task started), then behave like :func:`where`."""
    from distributed import get_worker

    with Path(marker).open("a") as f:
        f.write(f"{get_worker().name}\n")
    return where(seconds)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.1) -> float:
    """Poll ``check`` until true; return the seconds it took; fail with ``what`` after ``timeout_s``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(step_s)
    return time.monotonic() - t0
