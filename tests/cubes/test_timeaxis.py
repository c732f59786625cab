"""The time axis built from a spec: bins (8-day ESDC bins restarting every year, months, quarters, days, years),
assignment of time stamps to bins and labels. Expected values are computed independently with python datetime
arithmetic."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from cubes.spec import TimeSpec
from cubes.timeaxis import build_time_axis
from esdl_testing.arrays import dt64, to_datetime


def esdc_bins(first_year: int, last_year: int, n: int = 8) -> list[tuple[dt.datetime, dt.datetime]]:
    """Independent ESDC bins: every ``n`` days from 1 January, the last bin of a year cut at 1 January."""
    bins = []
    for year in range(first_year, last_year + 1):
        start, stop = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
        s = start
        while s < stop:
            e = min(s + dt.timedelta(days=n), stop)
            bins.append((s, e))
            s = e
    return bins


def as_pairs(axis) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(to_datetime(s), to_datetime(e)) for s, e in zip(axis.starts, axis.ends, strict=True)]


def test_8d_restart_yearly_bins() -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2019, 1, 1), end=dt.date(2021, 12, 31), period="8D", restart_yearly=True)
    )
    assert axis.starts.dtype == np.dtype("datetime64[ns]")
    assert axis.ends.dtype == np.dtype("datetime64[ns]")
    assert as_pairs(axis) == esdc_bins(2019, 2021)
    assert axis.size == 3 * 46
    years = axis.starts.astype("datetime64[Y]").astype(int) + 1970
    assert [int((years == y).sum()) for y in (2019, 2020, 2021)] == [46, 46, 46]
    lengths = (axis.ends - axis.starts) / np.timedelta64(1, "D")
    # every bin but the last of each year is 8 days long
    np.testing.assert_array_equal(np.delete(lengths, [45, 91, 137]), 8.0)
    assert as_pairs(axis)[45] == (dt.datetime(2019, 12, 27), dt.datetime(2020, 1, 1))
    assert lengths[45] == 5
    assert as_pairs(axis)[91] == (dt.datetime(2020, 12, 26), dt.datetime(2021, 1, 1))  # leap year: 6 days
    assert lengths[91] == 6
    assert lengths[137] == 5
    # contiguous, starting every 1 January, covering the three years exactly
    np.testing.assert_array_equal(axis.ends[:-1], axis.starts[1:])
    for i, year in ((0, 2019), (46, 2020), (92, 2021)):
        assert axis.starts[i] == np.datetime64(f"{year}-01-01", "ns")
    assert lengths.sum() == 365 + 366 + 365
    assert axis.bounds.shape == (axis.size, 2)
    np.testing.assert_array_equal(axis.bounds[:, 0], axis.starts)
    np.testing.assert_array_equal(axis.bounds[:, 1], axis.ends)


def test_8d_restart_yearly_partial_range_keeps_esdc_alignment() -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 2, 15), end=dt.date(2020, 3, 10), period="8D", restart_yearly=True)
    )
    expected = [
        (s, e) for s, e in esdc_bins(2020, 2020) if e > dt.datetime(2020, 2, 15) and s <= dt.datetime(2020, 3, 10)
    ]
    assert as_pairs(axis) == expected
    assert as_pairs(axis) == [
        (dt.datetime(2020, 2, 10), dt.datetime(2020, 2, 18)),
        (dt.datetime(2020, 2, 18), dt.datetime(2020, 2, 26)),
        (dt.datetime(2020, 2, 26), dt.datetime(2020, 3, 5)),
        (dt.datetime(2020, 3, 5), dt.datetime(2020, 3, 13)),
    ]


def test_8d_restart_yearly_across_new_year() -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2019, 12, 20), end=dt.date(2020, 1, 5), period="8D", restart_yearly=True)
    )
    assert as_pairs(axis) == [
        (dt.datetime(2019, 12, 19), dt.datetime(2019, 12, 27)),
        (dt.datetime(2019, 12, 27), dt.datetime(2020, 1, 1)),
        (dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 9)),
    ]


def test_8d_without_restart_runs_across_years() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 12, 20), end=dt.date(2021, 1, 10), period="8D"))
    start = dt.datetime(2020, 12, 20)
    assert as_pairs(axis) == [
        (start + dt.timedelta(days=8 * k), start + dt.timedelta(days=8 * (k + 1))) for k in range(3)
    ]


def test_monthly_bins() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2019, 11, 1), end=dt.date(2020, 12, 31), period="1M"))
    firsts = [dt.datetime(2019, 11, 1), dt.datetime(2019, 12, 1)] + [dt.datetime(2020, m, 1) for m in range(1, 13)]
    firsts.append(dt.datetime(2021, 1, 1))
    assert as_pairs(axis) == list(itertools.pairwise(firsts))
    lengths = ((axis.ends - axis.starts) / np.timedelta64(1, "D")).astype(int)
    assert list(lengths[2:]) == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def test_quarterly_bins_and_end_inside_last_bin() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 8, 15), period="3M"))
    assert as_pairs(axis) == [
        (dt.datetime(2020, 1, 1), dt.datetime(2020, 4, 1)),
        (dt.datetime(2020, 4, 1), dt.datetime(2020, 7, 1)),
        (dt.datetime(2020, 7, 1), dt.datetime(2020, 10, 1)),
    ]


def test_daily_bins_with_leap_day() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 2, 27), end=dt.date(2020, 3, 2), period="1D"))
    expected = [dt.datetime(2020, 2, 27) + dt.timedelta(days=k) for k in range(6)]
    assert as_pairs(axis) == list(itertools.pairwise(expected))
    assert axis.size == 5


def test_single_day_axis() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2020, 5, 5), end=dt.date(2020, 5, 5), period="1D"))
    assert as_pairs(axis) == [(dt.datetime(2020, 5, 5), dt.datetime(2020, 5, 6))]


def test_yearly_bins() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2000, 1, 1), end=dt.date(2003, 6, 30), period="1Y"))
    years = [dt.datetime(y, 1, 1) for y in range(2000, 2005)]
    assert as_pairs(axis) == list(itertools.pairwise(years))
    lengths = (axis.ends - axis.starts) / np.timedelta64(1, "D")
    np.testing.assert_array_equal(lengths, [366, 365, 365, 365])


def brute_force_assign(axis, times: list[dt.datetime]) -> list[int]:
    pairs = as_pairs(axis)
    out = []
    for t in times:
        hits = [i for i, (s, e) in enumerate(pairs) if s <= t < e]
        assert len(hits) <= 1
        out.append(hits[0] if hits else -1)
    return out


def test_assign_edges_go_to_the_later_bin() -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2021, 12, 31), period="8D", restart_yearly=True)
    )
    times = [
        dt.datetime(2019, 12, 31, 23, 59),  # before the axis
        dt.datetime(2020, 1, 1),  # first edge
        dt.datetime(2020, 1, 8, 23, 59, 59),  # last second of bin 0
        dt.datetime(2020, 1, 9),  # edge between bins 0 and 1
        dt.datetime(2020, 12, 25, 23),  # bin 44
        dt.datetime(2020, 12, 26),  # start of the short bin 45
        dt.datetime(2020, 12, 31, 23, 59),  # still bin 45
        dt.datetime(2021, 1, 1),  # next year's first bin
        dt.datetime(2021, 12, 31, 12),  # last bin
        dt.datetime(2022, 1, 1),  # the axis' end is excluded
        dt.datetime(2030, 1, 1),
    ]
    expected = [-1, 0, 0, 1, 44, 45, 45, 46, 91, -1, -1]
    idx = axis.assign(np.array(times, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(idx, expected)
    assert brute_force_assign(axis, times) == expected


def test_assign_random_times_matches_brute_force() -> None:
    axis = build_time_axis(TimeSpec(start=dt.date(2019, 6, 1), end=dt.date(2020, 3, 31), period="1M"))
    rng = np.random.default_rng(42)
    base = dt.datetime(2019, 5, 1)
    times = [base + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 400, size=300)]
    times += [to_datetime(s) for s in axis.starts] + [to_datetime(e) for e in axis.ends]
    idx = axis.assign(np.array(times, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(idx, brute_force_assign(axis, times))


def test_labels_are_bin_midpoints() -> None:
    axis = build_time_axis(
        TimeSpec(start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31), period="8D", restart_yearly=True)
    )
    assert np.all(axis.labels >= axis.starts) and np.all(axis.labels < axis.ends)
    assert axis.labels[0] == dt64("2020-01-05")
    assert axis.labels[-1] == dt64("2020-12-29")  # 6-day bin from 26 December
    monthly = build_time_axis(TimeSpec(start=dt.date(2021, 1, 1), end=dt.date(2021, 3, 31), period="1M"))
    np.testing.assert_array_equal(
        monthly.labels, [dt64("2021-01-16T12:00"), dt64("2021-02-15T00:00"), dt64("2021-03-16T12:00")]
    )
    short = build_time_axis(
        TimeSpec(start=dt.date(2019, 12, 27), end=dt.date(2019, 12, 31), period="8D", restart_yearly=True)
    )
    np.testing.assert_array_equal(short.labels, [dt64("2019-12-29T12:00")])
    # each label is exactly half-way between its edges
    np.testing.assert_array_equal((axis.labels - axis.starts) * 2, axis.ends - axis.starts)
