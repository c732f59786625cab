"""The train-model and predict flows against the real Prefect test server, on real local clusters of the
``local-gpu`` profile (worker processes; the ``gpu`` group started from 0 by the autoscaler, without devices
here, so on the CPU): the training task runs on a gpu worker, the model beats the baselines, the metrics table
and summary are artifacts, the forecast is a valid cube; a gpu worker killed mid-training is replaced and the
run completes from its checkpoint."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import xarray as xr

from cubes.errors import ModelError, ModelMismatchError
from cubes.scaleout.cluster import open_cluster
from cubes.scaleout.profiles import BUILTIN_PROFILES
from cubes.verify import find_issues
from esdl_testing.builds import wait_for

pytestmark = pytest.mark.slow  # each test starts its own cluster of worker processes


def _artifacts(prefect_api: str, like: str) -> dict[str, dict[str, Any]]:
    # the REST API directly, as tests/flows/test_build.py does
    response = httpx.post(f"{prefect_api}/artifacts/filter", json={"artifacts": {"key": {"like_": like}}, "limit": 50})
    response.raise_for_status()
    return {a["key"]: a for a in response.json()}


def test_train_model_runs_on_the_gpu_group_and_beats_the_baselines(
    prefect_api: str, demo_cube: Path, tmp_path: Path
) -> None:
    from flows.predict import predict
    from flows.train_model import train_model

    models = tmp_path / "models"
    state = train_model(cube=str(demo_cube), epochs=2, hidden=32, models=str(models), run="flow-a", return_state=True)
    result = state.result()
    assert result.group == "gpu" and result.worker is not None and result.worker.startswith("gpu-")
    assert result.device == "cpu"  # no CUDA device on this machine: the profile's CPU fallback
    assert any(e.startswith("gpu: 0 -> 1") for e in result.scale_events), result.scale_events
    m = result.metrics
    assert m.model.rmse < min(m.persistence.rmse, m.climatology.rmse)
    assert (models / "flow-a" / "model.json").exists()
    # the forecast of the training cube: a valid cube, published
    assert result.forecast is not None and result.forecast.group == "gpu"
    forecast = Path(result.forecast.output)
    assert forecast.is_symlink() and find_issues(forecast) == []
    # artifacts: the metrics table (model, persistence, climatology) and the summary
    found = _artifacts(prefect_api, "model-flow-a%")
    table = found["model-flow-a-metrics"]
    assert table["type"] == "table"
    assert [row["forecast"] for row in httpx.Response(200, content=table["data"]).json()] == [
        "model",
        "persistence",
        "climatology",
    ]
    assert "Held-out RMSE" in found["model-flow-a"]["data"] and "gpu: 0 -> 1" in found["model-flow-a"]["data"]
    # the worker's epoch lines reached the flow run's log while it trained
    logs = httpx.post(
        f"{prefect_api}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [str(state.state_details.flow_run_id)]}}, "limit": 200},
    ).json()
    assert any(log["message"].startswith(f"[{result.worker}] epoch 2/2: training loss") for log in logs), logs

    # predict: the saved model applied to the cube again, through the flow
    out = tmp_path / "again.zarr"
    again = predict(model=result.model, cube=str(demo_cube), output=str(out))
    assert again.group == "gpu" and find_issues(out) == []
    xr.testing.assert_equal(
        xr.open_zarr(out, consolidated=False)["sst_forecast"],
        xr.open_zarr(forecast, consolidated=False)["sst_forecast"],
    )


def test_bad_parameters_and_cubes_fail_the_run_with_the_reason(
    prefect_api: str, demo_cube: Path, tmp_path: Path
) -> None:
    from flows.train_model import train_model

    with pytest.raises(ModelError, match="lags: Input should be greater than or equal to 1"):
        train_model(cube=str(demo_cube), lags=0, models=str(tmp_path))
    with pytest.raises(ModelError, match="profile 'local-cpu' has no worker group offering GPU"):
        train_model(cube=str(demo_cube), profile="local-cpu", models=str(tmp_path))
    with pytest.raises(ModelMismatchError, match=r"needs variable\(s\) \['no_such'\]"):
        train_model(cube=str(demo_cube), inputs=["no_such"], models=str(tmp_path), forecast=False)


def test_a_gpu_worker_killed_mid_training_is_replaced_and_the_run_completes(
    prefect_api: str, demo_cube: Path, tmp_path: Path
) -> None:
    """The test runs the profile's cluster itself (to find the gpu worker's process) and hands the flow its
    scheduler; the autoscaler starts a new gpu worker, Dask reruns the task there, it resumes from the checkpoint."""
    from flows.train_model import train_model

    profile = BUILTIN_PROFILES["local-gpu"]
    models = tmp_path / "models"
    checkpoint = models / ".killed.partial" / "checkpoint.pt"
    outcome: dict[str, Any] = {}
    with open_cluster(profile) as cluster:
        run = threading.Thread(
            target=lambda: outcome.update(
                result=train_model(
                    cube=str(demo_cube),
                    epochs=5,
                    models=str(models),
                    run="killed",
                    forecast=False,
                    address=cluster.scheduler_address,
                )
            )
        )
        run.start()
        wait_for(checkpoint.exists, timeout=180)  # the first epoch is done
        gpu_workers = {n: pid for n, pid in cluster.backend.processes().items() if n.startswith("gpu-")}  # type: ignore[attr-defined]
        assert list(gpu_workers) == ["gpu-0"]
        os.kill(gpu_workers["gpu-0"], signal.SIGKILL)
        run.join(timeout=300)
        events = [(e.group, e.before, e.after) for e in cluster.events]
    result = outcome["result"]
    assert result.worker != "gpu-0" and result.group == "gpu"  # a new gpu worker finished it
    assert result.resumed_from_epoch >= 1  # from the checkpoint, not from scratch
    assert events.count(("gpu", 0, 1)) >= 2  # started for the task, and again after the kill
    assert result.metrics.model.rmse < result.metrics.persistence.rmse
