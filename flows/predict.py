"""The ``predict`` flow: a saved model applied to a cube on a GPU worker, the forecast published as a cube."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from cubes.ml.remote import ForecastOnWorker
from flows.gpu import gpu_cluster
from flows.quoting import as_is
from flows.results import record_result
from flows.train_model import artifact_key, forecast_task, local_path


@flow(name="predict", log_prints=True, on_completion=[record_result])
def predict(
    model: str,
    cube: str,
    output: str,
    resume: bool = True,
    profile: str = "local-gpu",
    address: str | None = None,
) -> ForecastOnWorker:
    """Forecast ``cube`` with the model saved in ``model`` and publish the forecast cube at ``output``.

    Args:
        model: A saved model's folder (``<models>/<run>`` of a train-model run).
        cube: The cube to forecast: the training cube's grid, variables and time step.
        output: Where to publish the forecast cube (a local path; replaced atomically).
        resume: Continue an unfinished forecast of the same model and cube, writing only its missing regions.
        profile: Cluster profile with a ``gpu`` group.
        address: An existing scheduler with workers offering ``GPU`` instead of a profile's cluster.

    Returns:
        The published forecast cube and where it was computed.
    """
    model, cube, output = local_path(model), local_path(cube), local_path(output)
    with gpu_cluster(profile, address, get_run_logger().info) as where:
        result: ForecastOnWorker = forecast_task(model, cube, output, resume, as_is(where))
    create_markdown_artifact(
        f"# Forecast `{result.variable}`\n\n- **Model:** `{model}`\n- **Cube:** `{cube}`\n"
        f"- **Published:** `{result.output}` → `{result.path}`\n- **Steps forecast:** {result.forecast_steps}\n"
        f"- **Ran on:** worker `{result.worker}` (group `{result.group}`) in {result.seconds:.1f} s\n",
        key=artifact_key(f"forecast-{output}"),
        description=f"forecast of {cube}",
    )
    return result
