"""The ``train-model`` flow: a next-step forecast model trained on a cube on the ``gpu`` worker group, its
validation against persistence and climatology, and the forecast of the training cube written as a cube.

Prefect tasks are coarse: ``train`` submits the whole training as one Dask task needing ``GPU=1`` (on the
``local-gpu`` profile the autoscaler starts the ``gpu`` group from 0 for it, and stops it again when idle);
``forecast`` does the same for the forecast cube. A ``gpu`` worker lost in the middle of training makes Dask run
the task again on a new worker, which continues from the run's last epoch checkpoint.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from cubes.ml.config import ModelConfig, parse_config
from cubes.ml.metrics import ValidationMetrics
from cubes.ml.remote import ForecastOnWorker, TrainedOnWorker, forecast_on_worker, train_on_worker
from flows.gpu import GpuCluster, gpu_cluster, run_on_gpu
from flows.keys import key_part
from flows.quoting import as_is
from flows.results import record_result


class TrainModelResult(BaseModel):
    """What a ``train-model`` run produced."""

    run: str = Field(description="The training run (the model folder's name)")
    model: str = Field(description="The saved model's folder")
    worker: str | None = Field(description="The Dask worker that trained it")
    group: str | None = Field(description="That worker's group (gpu on the local-gpu profile)")
    device: str = Field(description="cpu or cuda")
    samples_per_s: float
    resumed_from_epoch: int
    metrics: ValidationMetrics
    forecast: ForecastOnWorker | None = Field(description="The forecast cube of the training cube, when written")
    scale_events: list[str] = Field(description="The autoscaler's decisions during the run")


def local_path(path: str) -> str:
    """``path`` made absolute (URLs unchanged): the GPU workers need not share the flow's working directory."""
    return path if "://" in path else str(Path(path).absolute())


def artifact_key(text: str) -> str:
    """``text`` as a Prefect artifact key (lowercase letters, digits and dashes)."""
    return key_part(text).strip("-")


@task(name="train", cache_policy=NO_CACHE)
def train_task(cube: str, config: ModelConfig, models: str, run: str, where: GpuCluster) -> TrainedOnWorker:
    """Train on a GPU worker (one Dask task); return where it ran and the saved model."""
    logger = get_run_logger()
    result = run_on_gpu(
        where, f"train-{run}", logger.info, train_on_worker, cube, config.model_dump(mode="json"), models, run
    )
    logger.info(
        "trained %s on %s (group %s, %s) in %.1f s, %.0f samples/s",
        run,
        result.worker,
        result.group,
        result.info.device,
        result.seconds,
        result.info.samples_per_s,
    )
    return result


@task(name="forecast", cache_policy=NO_CACHE)
def forecast_task(model: str, cube: str, output: str, resume: bool, where: GpuCluster) -> ForecastOnWorker:
    """Write the forecast cube of ``model`` over ``cube`` on a GPU worker (one Dask task)."""
    logger = get_run_logger()
    key = f"forecast-{artifact_key(output)}-{flow_run.id or 'local'}"
    result = run_on_gpu(where, key, logger.info, forecast_on_worker, model, cube, output, resume)
    logger.info("published the forecast %s at %s (%s)", result.variable, result.output, result.path)
    return result


def summary_markdown(result: TrainModelResult, cube: str) -> str:
    """The run's markdown summary: model, data, where it ran, scores, the autoscaler's decisions."""
    m = result.metrics
    events = "\n".join(f"- {e}" for e in result.scale_events) or "- none (an existing scheduler)"
    forecast = f"`{result.forecast.output}` → `{result.forecast.path}`" if result.forecast else "not written"
    return (
        f"# Model `{result.run}`\n\n"
        f"- **Saved at:** `{result.model}`\n"
        f"- **Trained on:** `{cube}`, held out {m.period[0]} .. {m.period[1]} ({m.samples} samples)\n"
        f"- **Ran on:** worker `{result.worker}` (group `{result.group}`), device `{result.device}`, "
        f"{result.samples_per_s:.0f} samples/s; resumed after epoch {result.resumed_from_epoch}\n"
        f"- **Held-out RMSE:** model {m.model.rmse:.4f}, persistence {m.persistence.rmse:.4f}, "
        f"climatology {m.climatology.rmse:.4f}\n"
        f"- **Forecast cube:** {forecast}\n\n"
        f"## Scale decisions\n\n{events}\n"
    )


@flow(name="train-model", log_prints=True, on_completion=[record_result])
def train_model(
    cube: str = "out/esdl-demo.zarr",
    target: str = "sst",
    inputs: list[str] | None = None,
    lags: int = 3,
    holdout_start: dt.date | None = None,
    holdout_steps: int = 12,
    epochs: int = 4,
    hidden: int = 64,
    seed: int = 0,
    models: str = "out/models",
    run: str | None = None,
    forecast: bool = True,
    profile: str = "local-gpu",
    address: str | None = None,
) -> TrainModelResult:
    """Train a next-step forecast of ``target`` on ``cube`` on a GPU worker and save it under ``models``.

    Args:
        cube: The training cube (an esdl cube on a lat/lon grid).
        target: The variable to forecast.
        inputs: Other variables whose previous steps are inputs (default ``["air_temperature"]``; ``[]``: none).
        lags: Previous steps of each variable used.
        holdout_start: Steps from this date on are held out for validation (default: the last ``holdout_steps``
            steps with target data).
        holdout_steps: Held-out steps when ``holdout_start`` is not given.
        epochs: Passes over the training samples.
        hidden: Units of each of the MLP's two hidden layers.
        seed: Seed of the weights and the shuffling (training on the CPU is deterministic).
        models: Folder of the saved models.
        run: Name of the run's model folder (default: ``<target>-<flow run id>``; a rerun of the same name
            continues from its checkpoint or returns the finished model).
        forecast: Also write the forecast of the training cube as a cube, ``<models>/<run>.forecast.zarr``.
        profile: Cluster profile (a saved ``esdl-cluster-profile`` block or a built-in one) with a ``gpu`` group.
        address: An existing scheduler with workers offering ``GPU`` instead of a profile's cluster.

    Returns:
        The model, where it was trained, its validation metrics and the forecast cube.
    """
    logger = get_run_logger()
    fields: dict[str, object] = {
        "target": target,
        "lags": lags,
        "holdout_start": holdout_start,
        "holdout_steps": holdout_steps,
        "epochs": epochs,
        "hidden": hidden,
        "seed": seed,
    }
    if inputs is not None:
        fields["inputs"] = inputs
    config = parse_config(fields)
    cube, models = local_path(cube), local_path(models)
    name = run or f"{target}-{flow_run.id or dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
    with gpu_cluster(profile, address, logger.info) as where:
        trained = train_task(cube, config, models, name, as_is(where))
        written = None
        if forecast:
            written = forecast_task(trained.model, cube, f"{models}/{name}.forecast.zarr", True, as_is(where))
        events = where.scale_events()
    result = TrainModelResult(
        run=name,
        model=trained.model,
        worker=trained.worker,
        group=trained.group,
        device=trained.info.device,
        samples_per_s=trained.info.samples_per_s,
        resumed_from_epoch=trained.resumed_from_epoch,
        metrics=trained.info.metrics,
        forecast=written,
        scale_events=events,
    )
    key = artifact_key(f"model-{name}")
    create_table_artifact(
        result.metrics.table(), key=f"{key}-metrics", description=f"held-out scores of {name} and the baselines"
    )
    create_markdown_artifact(summary_markdown(result, cube), key=key, description=f"model {name}")
    return result
