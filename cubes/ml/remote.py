"""Training and forecasting as Dask tasks that need the ``GPU`` worker resource, and what they report back.

Each is one task (the work is one PyTorch loop, not an array graph): ``client.submit(train_on_worker, ...,
resources={"GPU": 1})`` sends it to a worker of a GPU group, which uses its CUDA device when it has one (the
``local-gpu`` profile's fallback workers have none and train on their CPU, the same code). Progress lines go to
the worker's log and, as Dask events on the topic :data:`EVENT_TOPIC`, to any client that subscribed to them.
A task whose worker dies is rerun by the scheduler on another worker and continues from the run's last
checkpoint (:mod:`cubes.ml.train`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cubes.errors import ResourceUnavailableError
from cubes.ml.config import ModelConfig
from cubes.ml.network import import_torch
from cubes.ml.predict import predict_cube
from cubes.ml.saved import SavedModelInfo
from cubes.ml.train import train
from cubes.scaleout.local import GROUP_ENV
from cubes.scaleout.profiles import GPU_RESOURCE

EVENT_TOPIC = "esdl-ml"
"""The Dask event topic of training and forecasting progress (``client.subscribe_topic``)."""

GPU_TASK = {GPU_RESOURCE: 1}
"""The resources of a training or forecasting task: one GPU."""

logger = logging.getLogger("cubes.ml")


class WorkerPlace(BaseModel):
    """Where a task ran."""

    worker: str | None = Field(description="The Dask worker's name (None outside a worker)")
    group: str | None = Field(description="Its worker group (ESDL_WORKER_GROUP), when a profile started it")
    seconds: float = Field(description="Wall time of the task on the worker")


class TrainedOnWorker(WorkerPlace):
    """A training task's result."""

    model: str = Field(description="The saved model's folder")
    info: SavedModelInfo
    resumed_from_epoch: int = Field(description="Epochs already done by an earlier attempt of the run")


class ForecastOnWorker(WorkerPlace):
    """A forecasting task's result."""

    path: str = Field(description="The published forecast store")
    output: str
    variable: str
    forecast_steps: int
    written_regions: int


def _worker() -> Any:
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not in a worker: called directly
        return None


def _say(worker: Any, line: str) -> None:
    logger.info(line)
    if worker is not None:
        worker.log_event(EVENT_TOPIC, {"name": str(worker.name), "line": line})  # (Dask sets "worker" itself)


def _place(worker: Any, started: float) -> dict[str, Any]:
    """:class:`WorkerPlace`'s fields for a task on ``worker`` (None: not on a worker) that began at ``started``."""
    return {
        "worker": None if worker is None else str(worker.name),
        "group": os.environ.get(GROUP_ENV),
        "seconds": round(time.perf_counter() - started, 3),
    }


def train_on_worker(cube: str, config: dict[str, Any], models: str, run: str) -> TrainedOnWorker:
    """Train ``config`` (a :class:`ModelConfig` as JSON) on ``cube`` into ``<models>/<run>`` on this worker."""
    worker, started = _worker(), time.perf_counter()
    if worker is not None:
        # PyTorch's CPU threads as many as the worker's (all cores by default: workers sharing a machine would
        # oversubscribe it, and on a loaded machine its spinning threads made training 10x slower)
        import_torch().set_num_threads(max(1, int(worker.state.nthreads)))
    result = train(cube, ModelConfig.model_validate(config), models, run, log=lambda line: _say(worker, line))
    return TrainedOnWorker(
        **_place(worker, started),
        model=str(result.model),
        info=result.info,
        resumed_from_epoch=result.resumed_from_epoch,
    )


def forecast_on_worker(model: str, cube: str, output: str, resume: bool) -> ForecastOnWorker:
    """Apply the saved ``model`` to ``cube`` and publish the forecast cube at ``output``, on this worker."""
    worker, started = _worker(), time.perf_counter()
    result = predict_cube(Path(model), cube, output, resume=resume, log=lambda line: _say(worker, line))
    return ForecastOnWorker(
        **_place(worker, started),
        path=str(result.path),
        output=result.output,
        variable=result.variable,
        forecast_steps=result.forecast_steps,
        written_regions=result.written_regions,
    )


def result_when_offered(client: Any, future: Any, resource: str, timeout_s: float) -> Any:
    """The result of ``future``, a task that needs ``resource``; fail if no worker offers it for ``timeout_s``.

    The clock runs only while no worker of the cluster offers the resource, so a group that an autoscaler
    starts on demand (or restarts after a worker died) has ``timeout_s`` to do so, and a long task is never cut.

    Raises:
        ResourceUnavailableError: No worker offered ``resource`` for ``timeout_s`` (the message names it); the
            task is cancelled.
    """
    unoffered_since = time.monotonic()
    while True:
        try:
            return future.result(timeout=0.5)
        except TimeoutError:
            pass
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        if any(w.get("resources", {}).get(resource, 0) > 0 for w in workers):
            unoffered_since = time.monotonic()
        elif time.monotonic() - unoffered_since > timeout_s:
            future.cancel()
            raise ResourceUnavailableError(
                f"no worker of the cluster at {client.scheduler.address} offered the resource {resource} for "
                f"{timeout_s:g} s ({len(workers)} workers); start workers with --resources {resource}=1 or use a "
                "cluster profile with a GPU group"
            )
