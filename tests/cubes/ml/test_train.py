"""Training on the demo cube: the model beats persistence and climatology on the held-out year, a killed run
resumes from its checkpoint to the very weights of an uninterrupted one, the saved model loads to the same
predictions, and the baselines' scores agree with an independent computation from the cube."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from cubes.errors import MissingExtraError, ModelError
from cubes.ml.config import ModelConfig
from cubes.ml.features import build_samples, read_fields
from cubes.ml.network import import_torch
from cubes.ml.saved import load_model
from cubes.ml.train import CHECKPOINT, TrainResult, train

SMALL = ModelConfig(epochs=2, hidden=32)


@pytest.fixture(scope="module")
def trained(demo_cube: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train(demo_cube, SMALL, tmp_path_factory.mktemp("models"), "run-1")


def test_the_model_beats_persistence_and_climatology_on_the_held_out_period(trained: TrainResult) -> None:
    m = trained.info.metrics
    assert m.period == ("2009-10-16", "2010-09-16")  # the last 12 months with sea-surface temperature
    assert m.samples == 12 * 1250
    assert m.model.rmse < 0.9 * m.persistence.rmse
    assert m.model.rmse < 0.9 * m.climatology.rmse
    assert m.model.mae < min(m.persistence.mae, m.climatology.mae)
    assert m.model.skill_vs_persistence > 0.1 and m.model.skill_vs_climatology > 0.1
    assert trained.info.device == "cpu" and trained.info.cube_fingerprint
    assert not (trained.model / CHECKPOINT).exists() and not list(trained.model.parent.glob(".*partial"))


def test_baseline_scores_agree_with_the_cube(trained: TrainResult, demo_cube: Path) -> None:
    """Persistence and climatology recomputed with xarray from the cube: the same samples, the same RMSE."""
    ds = xr.open_zarr(demo_cube, consolidated=False)
    sst = ds["sst"].load()
    first = int(np.searchsorted(ds["time"].values, np.datetime64("2009-10-01")))
    clim = sst.isel(time=slice(0, first)).groupby("time.month").mean()
    expected_clim = clim.sel(month=sst["time.month"]).drop_vars("month")
    # a held-out sample: the target, its three lags and its climatology all present
    complete = sst.notnull() & expected_clim.notnull()
    for lag in (1, 2, 3):
        complete &= sst.shift(time=lag).notnull()
    held = complete.isel(time=slice(first, None))
    obs = sst.isel(time=slice(first, None)).values[held.values]
    persistence = sst.shift(time=1).isel(time=slice(first, None)).values[held.values]
    climatology = expected_clim.isel(time=slice(first, None)).values[held.values]
    m = trained.info.metrics
    assert obs.size == m.samples
    np.testing.assert_allclose(np.sqrt(np.mean((persistence - obs) ** 2.0)), m.persistence.rmse, rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.mean((climatology - obs) ** 2.0)), m.climatology.rmse, rtol=1e-4)


def test_the_saved_model_loads_to_identical_predictions(trained: TrainResult, demo_cube: Path) -> None:
    model = load_model(trained.model, device="cpu")
    again = load_model(trained.model, device="cpu")
    config = model.info.config
    fields = read_fields(demo_cube, config, fill_limits=model.info.fill_limits)
    first = int(np.searchsorted(fields.times, np.datetime64(model.info.holdout_start)))
    valid = build_samples(fields, config, model.climatology, np.arange(first, fields.times.size), need_target=True)
    predicted = valid.climatology + model.predict_anomaly(valid.x)
    np.testing.assert_array_equal(predicted, valid.climatology + again.predict_anomaly(valid.x))
    # the loaded model scores what the trained one scored before it was saved
    rmse = float(np.sqrt(np.mean((predicted - valid.observed.astype(np.float64)) ** 2)))
    assert rmse == pytest.approx(model.info.metrics.model.rmse, abs=2e-6)


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_weights(demo_cube: Path, tmp_path: Path) -> None:
    config = SMALL.model_copy(update={"epochs": 3})
    straight = train(demo_cube, config, tmp_path, "straight")

    class Killed(Exception):
        pass

    def die_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise Killed(line)

    with pytest.raises(Killed):
        train(demo_cube, config, tmp_path, "killed", log=die_after_first_epoch)
    assert (tmp_path / ".killed.partial" / CHECKPOINT).exists() and not (tmp_path / "killed").exists()
    lines: list[str] = []
    resumed = train(demo_cube, config, tmp_path, "killed", log=lines.append)
    assert resumed.resumed_from_epoch == 1
    assert lines[0] == "resuming run killed after epoch 1 of 3" and len(lines) == 3
    a = torch.load(straight.model / "model.pt", weights_only=True)
    b = torch.load(resumed.model / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.info.metrics == straight.info.metrics
    # a finished run is returned as it is, without training again, if asked for the same config
    assert train(demo_cube, config, tmp_path, "killed").info == resumed.info
    with pytest.raises(ModelError, match="run killed was trained with another model config"):
        train(demo_cube, config.model_copy(update={"epochs": 4}), tmp_path, "killed")


def test_a_checkpoint_of_another_config_is_refused(demo_cube: Path, tmp_path: Path) -> None:
    def stop(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(demo_cube, SMALL, tmp_path, "run", log=stop)
    with pytest.raises(ModelError, match="a checkpoint of another model config"):
        train(demo_cube, SMALL.model_copy(update={"hidden": 8}), tmp_path, "run")


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'esdl\[ml\]'"):
        import_torch()


def test_months_follow_the_calendar(demo_cube: Path) -> None:
    fields = read_fields(demo_cube, SMALL)
    np.testing.assert_array_equal(fields.months, pd.DatetimeIndex(fields.times).month.to_numpy() - 1)
