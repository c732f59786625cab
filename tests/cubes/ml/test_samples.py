"""Samples from a cube against independent computations: gap filling, climatology, lagged anomalies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cubes.errors import ModelError
from cubes.ml.config import ModelConfig
from cubes.ml.features import build_samples, carry_forward, climatology, holdout_index, read_fields, sampling_interval


def test_carry_forward_fills_each_cell_over_at_most_limit_steps() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(30, 3, 4)).astype(np.float32)
    values[rng.random(values.shape) < 0.5] = np.nan
    filled = carry_forward(values, 2)
    for i in range(3):
        for j in range(4):
            series = pd.Series(values[:, i, j]).ffill(limit=2).to_numpy()
            np.testing.assert_array_equal(filled[:, i, j], series)
    assert carry_forward(values, 0) is values


def test_sampling_interval_of_yearly_and_monthly_data() -> None:
    yearly = np.full((48, 1, 1), np.nan)
    yearly[5::12] = 1.0
    assert sampling_interval(yearly) == 12
    assert sampling_interval(np.ones((5, 1, 1))) == 1


def test_climatology_is_the_monthly_mean_of_the_training_steps_only() -> None:
    times = pd.date_range("2001-01-01", periods=40, freq="MS")
    rng = np.random.default_rng(2)
    values = rng.normal(size=(40, 2, 2)).astype(np.float32)
    values[3, 0, 0] = np.nan
    months = (times.month.to_numpy() - 1).astype(np.int64)
    clim = climatology(values, months, until=30)
    series = xr.DataArray(values[:30], dims=("time", "y", "x"), coords={"time": times[:30]})
    np.testing.assert_allclose(clim, series.groupby("time.month").mean(skipna=True).values, rtol=1e-6)


def test_samples_hold_the_lagged_anomalies_month_and_climatology(demo_cube: Path) -> None:
    config = ModelConfig(lags=2)
    fields = read_fields(demo_cube, config)
    assert fields.fill_limits == {"sst": 0, "air_temperature": 11}  # air temperature is yearly in a monthly cube
    first = holdout_index(fields, config)
    clim = {v: climatology(fields.filled[v], fields.months, first) for v in config.variables}
    samples = build_samples(fields, config, clim, np.arange(first), need_target=True)
    assert samples.x.shape[1] == config.n_features == 2 * 2 + 1 + 3
    assert np.isfinite(samples.x).all() and np.isfinite(samples.anomaly).all()
    assert samples.step.max() < first
    # one row, recomputed from the cube itself
    ds = xr.open_zarr(demo_cube, consolidated=False)
    row = len(samples.step) // 2
    t, cell = int(samples.step[row]), int(samples.cell[row])
    i, j = divmod(cell, ds.sizes["lon"])
    sst = ds["sst"].values[:, i, j]
    month = pd.DatetimeIndex(ds["time"].values).month.to_numpy() - 1
    sst_clim = np.array([np.nanmean(sst[:first][month[:first] == m]) for m in range(12)])
    np.testing.assert_allclose(
        samples.x[row, :2], [sst[t - 1] - sst_clim[month[t - 1]], sst[t - 2] - sst_clim[month[t - 2]]], rtol=1e-5
    )
    assert samples.x[row, 4] == 0.0  # no air temperature over the sea in the demo cube: absent, flagged
    np.testing.assert_allclose(
        samples.x[row, 5:7], [np.sin(np.pi * month[t] / 6), np.cos(np.pi * month[t] / 6)], atol=1e-6
    )
    np.testing.assert_allclose(samples.x[row, 7], sst_clim[month[t]], rtol=1e-6)
    np.testing.assert_allclose(samples.observed[row], sst[t], rtol=1e-6)
    np.testing.assert_allclose(samples.persistence[row], sst[t - 1], rtol=1e-6)


def test_too_little_data_for_the_held_out_period_is_named(demo_cube: Path) -> None:
    config = ModelConfig(holdout_start=dt.date(2006, 6, 1))
    with pytest.raises(ModelError, match=r"sst: 54 time steps have data; .* 0 remain for training"):
        holdout_index(read_fields(demo_cube, config), config)
