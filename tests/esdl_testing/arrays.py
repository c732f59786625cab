"""Small shared helpers for the spec, source and regrid tests: dataset builders and numpy reference reductions.

The reference reductions are written with plain numpy (loops and masked sums), independently of
:mod:`cubes.regrid.reduce`, so that the library is checked against a separate computation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

METHODS = ("mean", "sum", "min", "max", "count")

LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north"}
LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east"}


def centres(start: float, step: float, n: int) -> np.ndarray:
    """``n`` cell centres of cells of size ``step`` whose first edge is ``start``."""
    return start + (np.arange(n) + 0.5) * step


def latlon_dataset(
    values: np.ndarray,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    times: Sequence | pd.DatetimeIndex,
    name: str = "v",
    units: str = "K",
) -> xr.Dataset:
    """A CF-style regular lat/lon dataset with dims ``(time, lat, lon)``."""
    return xr.Dataset(
        {name: (("time", "lat", "lon"), values, {"units": units})},
        coords={
            "time": ("time", pd.DatetimeIndex(times).to_numpy()),
            "lat": ("lat", np.asarray(lat, dtype=np.float64), LAT_ATTRS),
            "lon": ("lon", np.asarray(lon, dtype=np.float64), LON_ATTRS),
        },
    )


def reduce_values(values: np.ndarray, method: str) -> float:
    """Reduce a 1-D array of values, ignoring NaN; NaN (or 0 for ``count``) when nothing is valid.

    Deliberately a plain, element-wise implementation (no nan* helpers), as an independent reference.
    """
    valid = [float(v) for v in np.ravel(values) if not np.isnan(v)]
    if method == "count":
        return float(len(valid))
    if not valid:
        return float("nan")
    if method == "mean":
        return float(sum(valid) / len(valid))
    if method == "sum":
        return float(sum(valid))
    if method == "min":
        return float(min(valid))
    if method == "max":
        return float(max(valid))
    raise ValueError(method)


def block_reduce(values: np.ndarray, fy: int, fx: int, method: str) -> np.ndarray:
    """Reduce ``(t, ny*fy, nx*fx)`` into ``(t, ny, nx)`` by whole ``fy`` x ``fx`` blocks (reshape, then reduce)."""
    t, ny, nx = values.shape
    assert ny % fy == 0 and nx % fx == 0
    blocks = values.astype(np.float64).reshape(t, ny // fy, fy, nx // fx, fx).transpose(0, 1, 3, 2, 4)
    blocks = blocks.reshape(t, ny // fy, nx // fx, fy * fx)
    valid = ~np.isnan(blocks)
    n = valid.sum(axis=-1)
    if method == "count":
        return n.astype(np.float64)
    zeroed = np.where(valid, blocks, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            out = zeroed.sum(axis=-1) / n
        elif method == "sum":
            out = zeroed.sum(axis=-1)
        elif method == "min":
            out = np.where(valid, blocks, np.inf).min(axis=-1)
        elif method == "max":
            out = np.where(valid, blocks, -np.inf).max(axis=-1)
        else:
            raise ValueError(method)
    return np.where(n > 0, out, np.nan)


def pad_window(values: np.ndarray, y0: int, ny: int, x0: int, nx: int) -> np.ndarray:
    """Rows ``y0 .. y0+ny`` and columns ``x0 .. x0+nx`` of ``(t, y, x)`` values, NaN where outside the array."""
    t, sy, sx = values.shape
    out = np.full((t, ny, nx), np.nan, dtype=np.float64)
    for j in range(ny):
        for i in range(nx):
            if 0 <= y0 + j < sy and 0 <= x0 + i < sx:
                out[:, j, i] = values[:, y0 + j, x0 + i]
    return out


def to_datetime(value: np.datetime64) -> dt.datetime:
    """A ``datetime64`` as a naive :class:`datetime.datetime` (microsecond precision)."""
    return pd.Timestamp(value).to_pydatetime()


def dt64(text: str) -> np.datetime64:
    """``text`` as a nanosecond ``datetime64``."""
    return np.datetime64(text, "ns")
