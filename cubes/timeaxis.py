"""Target time axis: half-open bins, their edges, labels and the assignment of input times to bins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cubes.spec import PERIOD_RE, TimeSpec


@dataclass(frozen=True)
class TimeAxis:
    """Bins ``[starts[i], ends[i])``; a time ``t`` belongs to bin ``i`` iff ``starts[i] <= t < ends[i]``.

    Bins are contiguous: ``ends[i] == starts[i + 1]``, so no input is counted twice.
    """

    starts: np.ndarray  # datetime64[ns]
    ends: np.ndarray  # datetime64[ns]

    @property
    def size(self) -> int:
        """Number of bins."""
        return int(self.starts.size)

    @property
    def labels(self) -> np.ndarray:
        """Bin centres, the CF time coordinate (with ``time_bnds`` giving the edges)."""
        return self.starts + (self.ends - self.starts) // 2

    @property
    def bounds(self) -> np.ndarray:
        """``(size, 2)`` array of bin edges."""
        return np.stack([self.starts, self.ends], axis=1)

    def assign(self, times: np.ndarray) -> np.ndarray:
        """Bin index of each time; ``-1`` for times outside the axis."""
        t = np.asarray(times, dtype="datetime64[ns]")
        idx = np.searchsorted(self.starts, t, side="right") - 1
        inside = (idx >= 0) & (t < self.ends[np.clip(idx, 0, self.size - 1)])
        return np.where(inside, idx, -1)


def build_time_axis(spec: TimeSpec) -> TimeAxis:
    """Compute the bins of a :class:`~cubes.spec.TimeSpec`."""
    match = PERIOD_RE.match(spec.period)
    assert match is not None  # validated by the spec
    n, unit = int(match["n"]), match["unit"]
    start = pd.Timestamp(spec.start)
    last = pd.Timestamp(spec.end)
    starts: list[pd.Timestamp] = []
    ends: list[pd.Timestamp] = []
    if unit == "D" and spec.restart_yearly:
        year = start.year
        while True:
            year_start, year_end = pd.Timestamp(dt.date(year, 1, 1)), pd.Timestamp(dt.date(year + 1, 1, 1))
            edges = pd.date_range(year_start, year_end, freq=f"{n}D", inclusive="left")
            for s in edges:
                e = min(s + pd.Timedelta(days=n), year_end)
                if e > start and s <= last:
                    starts.append(s)
                    ends.append(e)
            if year_end > last:
                break
            year += 1
    else:
        offset = {"D": pd.DateOffset(days=n), "M": pd.DateOffset(months=n), "Y": pd.DateOffset(years=n)}[unit]
        s = start
        while s <= last:
            e = s + offset
            starts.append(s)
            ends.append(e)
            s = e
    return TimeAxis(
        starts=np.array(starts, dtype="datetime64[ns]"),
        ends=np.array(ends, dtype="datetime64[ns]"),
    )
