"""NaN-aware reductions shared by spatial and temporal aggregation.

All reductions ignore missing values. ``mean``, ``sum``, ``min`` and ``max`` of only missing values are
missing (NaN), without the RuntimeWarning numpy's ``nanmean`` and friends give for them (dask calls a reduction
on an empty array for its metadata, and all-missing blocks are common); ``count`` is the number of valid values
(0 when none). Each takes ``axis`` as numpy's reductions do (``None``: all axes).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

Reducer = Callable[..., np.ndarray]


def _nan_mean(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    valid = ~np.isnan(x)
    n = valid.sum(axis=axis)
    total = np.where(valid, x, 0).sum(axis=axis, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan).astype(x.dtype)


def _nan_sum(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    valid = ~np.isnan(x)
    total = np.where(valid, x, 0).sum(axis=axis, dtype=np.float64)
    return np.where(valid.any(axis=axis), total, np.nan).astype(x.dtype)


def _nan_extreme(func: Callable[..., np.ndarray]) -> Reducer:
    def reduce(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as documented
            return func(x, axis=axis)

    return reduce


def _count(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    return (~np.isnan(x)).sum(axis=axis).astype(np.float32)


REDUCERS: dict[str, Reducer] = {
    "mean": _nan_mean,
    "sum": _nan_sum,
    "min": _nan_extreme(np.nanmin),
    "max": _nan_extreme(np.nanmax),
    "count": _count,
}


def reducer(method: str) -> Reducer:
    """The reduction for ``method`` (``mean``, ``sum``, ``min``, ``max`` or ``count``)."""
    return REDUCERS[method]
