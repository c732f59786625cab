"""Tests of temporal bin aggregation (:func:`cubes.regrid.aggregate_time`) onto the spec's time axis.

Expected values come from independent computations: bin assignment by python datetime arithmetic and element-wise
reductions of each bin's members.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cubes.regrid import aggregate_time
from cubes.spec import TimeSpec
from cubes.timeaxis import build_time_axis
from esdl_testing.arrays import METHODS, reduce_values, to_datetime


def esdc_bin(t: dt.datetime, first_year: int, last_year: int) -> int:
    """Independent 8-day ESDC bin index of ``t`` (bins restart every 1 January), or -1 outside the years."""
    if not first_year <= t.year <= last_year:
        return -1
    day_of_year = (t - dt.datetime(t.year, 1, 1)).days  # whole days since 1 January, 0-based
    return (t.year - first_year) * 46 + day_of_year // 8


def reference_aggregation(values: np.ndarray, bins: list[int], nbins: int, method: str) -> np.ndarray:
    out = np.full((nbins, *values.shape[1:]), np.nan)
    for b in range(nbins):
        members = [k for k, idx in enumerate(bins) if idx == b]
        for j in range(values.shape[1]):
            for i in range(values.shape[2]):
                out[b, j, i] = reduce_values(values[members, j, i], method) if members else np.nan
    if method == "count":
        out = np.nan_to_num(out, nan=0.0)
    return out


@pytest.fixture(scope="module")
def daily() -> dict:
    """Daily values from 2019-12-20 to 2021-01-10 with a gap of 18 days in March 2020 and NaNs."""
    days = pd.date_range("2019-12-20", "2021-01-10", freq="D")
    days = days[(days < "2020-03-04") | (days > "2020-03-21")]  # no input at all in [5 Mar, 21 Mar)
    rng = np.random.default_rng(13)
    values = rng.normal(10.0, 3.0, size=(days.size, 3, 4)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    times = [t.to_pydatetime() for t in days]
    inside = [k for k, t in enumerate(times) if dt.datetime(2020, 1, 17) <= t < dt.datetime(2020, 1, 25)]
    values[inside, 0, 0] = np.nan  # pixel (0, 0) has no valid input in bin 2
    da = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": days.to_numpy(), "lat": [0.5, 1.5, 2.5], "lon": [10.5, 11.5, 12.5, 13.5]},
    )
    return {"da": da, "times": times, "values": values}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_aggregate_time_8d_restart_yearly(daily: dict, method: str, lazy: bool) -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31), period="8D", restart_yearly=True)
    )
    assert axis.size == 46
    da = daily["da"].chunk({"time": 5, "lat": 2, "lon": 4}) if lazy else daily["da"]
    out = aggregate_time(da, axis, method)
    assert out.dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(out["time"].values, axis.labels)
    xr.testing.assert_equal(out["lat"], daily["da"]["lat"])
    xr.testing.assert_equal(out["lon"], daily["da"]["lon"])
    bins = [esdc_bin(t, 2020, 2020) for t in daily["times"]]
    expected = reference_aggregation(daily["values"], bins, 46, method)
    got = out.values
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    gap = [8, 9]  # [5 Mar, 13 Mar) and [13 Mar, 21 Mar): no inputs
    if method == "count":
        np.testing.assert_array_equal(got[gap], 0)
        assert got[2, 0, 0] == 0
        # no input counted twice or lost: the counts add up to the valid inputs inside the axis
        inside = [k for k, b in enumerate(bins) if b >= 0]
        assert got.sum() == np.count_nonzero(~np.isnan(daily["values"][inside]))
    else:
        assert np.isnan(got[gap]).all()
        assert np.isnan(got[2, 0, 0])
        assert not np.isnan(got[[0, 1, 10, 44, 45]]).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_aggregate_time_daily_axis_from_daily_inputs(daily: dict, method: str, lazy: bool) -> None:
    """One input per bin (the inputs are taken as they are, without a reduction pass): each bin is its input's
    reduction all the same, NaN stays NaN (0 for count), and the days without input are missing."""
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 2, 1), end=dt.date(2020, 3, 31), period="1D"))
    da = daily["da"].chunk({"time": 7}) if lazy else daily["da"]
    got = aggregate_time(da, axis, method).values
    days = [dt.datetime(2020, 2, 1) + dt.timedelta(days=k) for k in range(axis.size)]
    bins = [days.index(t) if t in days else -1 for t in daily["times"]]
    np.testing.assert_allclose(got, reference_aggregation(daily["values"], bins, axis.size, method), equal_nan=True)
    missing = [k for k, d in enumerate(days) if dt.datetime(2020, 3, 4) <= d <= dt.datetime(2020, 3, 21)]
    assert (got[missing] == 0).all() if method == "count" else np.isnan(got[missing]).all()


def test_aggregate_time_last_short_bin_and_edges(daily: dict) -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31), period="8D", restart_yearly=True)
    )
    out = aggregate_time(daily["da"], axis, "count")
    days = pd.DatetimeIndex(daily["da"]["time"].values)
    valid = ~np.isnan(daily["values"])
    # bin 45 is [26 Dec 2020, 1 Jan 2021): six daily inputs; 1 Jan 2021 (on its end edge) is not one of them
    members = (days >= "2020-12-26") & (days < "2021-01-01")
    assert members.sum() == 6
    np.testing.assert_array_equal(out.values[45], valid[members].sum(axis=0))
    # bin 44 is [18 Dec, 26 Dec): the input at 26 Dec 00:00 sits on the edge and belongs to bin 45 only
    members = (days >= "2020-12-18") & (days < "2020-12-26")
    np.testing.assert_array_equal(out.values[44], valid[members].sum(axis=0))


def test_aggregate_time_edge_stamps_go_to_the_later_bin() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 3, 31), period="1M"))
    stamps = ["2019-12-31T23:00", "2020-01-01T00:00", "2020-01-31T23:59", "2020-02-01T00:00", "2020-03-01T00:00"]
    stamps += ["2020-03-31T23:59:59", "2020-04-01T00:00"]
    values = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], dtype=np.float32)[:, None, None]
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": pd.DatetimeIndex(stamps).to_numpy()})
    np.testing.assert_array_equal(aggregate_time(da, axis, "sum").values[:, 0, 0], [6.0, 8.0, 48.0])
    np.testing.assert_array_equal(aggregate_time(da, axis, "count").values[:, 0, 0], [2.0, 1.0, 2.0])
    np.testing.assert_array_equal(aggregate_time(da.chunk({"time": 2}), axis, "max").values[:, 0, 0], [4, 8, 32])


@pytest.mark.parametrize("method", METHODS)
def test_aggregate_time_without_inputs_inside_the_axis(method: str) -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2021, 1, 1), end=dt.date(2021, 1, 31), period="8D", restart_yearly=True)
    )
    da = xr.DataArray(
        np.ones((3, 2, 2), np.float32),
        dims=("time", "y", "x"),
        coords={"time": pd.date_range("2020-06-01", periods=3).to_numpy(), "y": [0.5, 1.5], "x": [0.5, 1.5]},
    )
    out = aggregate_time(da, axis, method)
    assert out.shape == (4, 2, 2)
    np.testing.assert_array_equal(out["time"].values, axis.labels)
    np.testing.assert_array_equal(out["y"].values, [0.5, 1.5])
    if method == "count":
        np.testing.assert_array_equal(out.values, 0)
    else:
        assert np.isnan(out.values).all()


def test_aggregate_time_monthly_from_daily_matches_pandas_free_reference() -> None:
    days = pd.date_range("2020-01-15", "2020-05-10", freq="12h")
    rng = np.random.default_rng(14)
    values = rng.normal(size=(days.size, 1, 2)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": days.to_numpy()})
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 2, 1), end=dt.date(2020, 4, 30), period="1M"))
    bins = [(t.month - 2) if (t.year == 2020 and 2 <= t.month <= 4) else -1 for t in map(to_datetime, days.values)]
    for method in METHODS:
        got = aggregate_time(da, axis, method).values
        np.testing.assert_allclose(got, reference_aggregation(values, bins, 3, method), rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_aggregate_time_unsorted_input_times(daily: dict, lazy: bool) -> None:
    """Inputs out of time order still land in their own bins (regression: they used to be binned by position)."""
    rng = np.random.default_rng(15)
    perm = rng.permutation(len(daily["times"]))
    da = daily["da"].isel(time=perm)
    da = da.chunk({"time": 7}) if lazy else da
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31), period="8D", restart_yearly=True)
    )
    bins = [esdc_bin(daily["times"][k], 2020, 2020) for k in perm]
    values = daily["values"][perm]
    for method in ("mean", "count", "min"):
        got = aggregate_time(da, axis, method).values
        np.testing.assert_allclose(got, reference_aggregation(values, bins, 46, method), rtol=1e-5, equal_nan=True)
