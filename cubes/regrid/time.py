"""Temporal aggregation of regridded fields into the target time bins.

Inputs are assigned to half-open bins (see :class:`~cubes.timeaxis.TimeAxis`), so an input on a bin edge
belongs to the later bin only. The time axis of a dask array is re-chunked so that every chunk holds whole
bins (about as many inputs as the source's own chunks), and each chunk reduces its bins on its own: no input
crosses a bin, the task count stays that of the source, and memory per task is one chunk.
"""

from __future__ import annotations

import itertools
from typing import Any

import dask.array as dsa
import numpy as np
import xarray as xr

from cubes.regrid.reduce import Reducer, reducer
from cubes.timeaxis import TimeAxis


def _segments(x: np.ndarray, counts: np.ndarray, reduce: Reducer) -> np.ndarray:
    """Reduce consecutive segments of ``counts[i]`` steps of ``x`` along axis 0."""
    return np.stack([reduce(x[a:b], axis=0) for a, b in itertools.pairwise(np.concatenate([[0], np.cumsum(counts)]))])


def _group_bins(counts: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Group consecutive bins into chunks of about ``target`` inputs: ``(first bin, number of bins)`` each."""
    groups: list[tuple[int, int]] = []
    first, inputs = 0, 0
    for i, c in enumerate(counts):
        if i > first and inputs + c > target:
            groups.append((first, i - first))
            first, inputs = i, 0
        inputs += int(c)
    groups.append((first, len(counts) - first))
    return groups


def _reduce_bins(data: np.ndarray | dsa.Array, counts: np.ndarray, method: str) -> np.ndarray | dsa.Array:
    reduce = reducer(method)
    if not isinstance(data, dsa.Array):
        return _segments(data, counts, reduce)
    # chunks of whole bins, about as long as the input's chunks: few tasks, none crossing a bin
    groups = _group_bins(counts, max(int(counts.max()), int(max(data.chunks[0]))))
    lazy = data.rechunk({0: tuple(int(counts[f : f + n].sum()) for f, n in groups)})
    out_dtype = np.float32 if method == "count" else lazy.dtype

    def block(b: np.ndarray, block_info: Any = None) -> np.ndarray:
        first, n = groups[block_info[0]["chunk-location"][0]]
        return _segments(b, counts[first : first + n], reduce).astype(out_dtype, copy=False)

    return dsa.map_blocks(block, lazy, dtype=out_dtype, chunks=(tuple(n for _, n in groups), *lazy.chunks[1:]))


def aggregate_time(da: xr.DataArray, axis: TimeAxis, method: str) -> xr.DataArray:
    """Aggregate ``da`` (dims ``time, y, x``) into the bins of ``axis`` with ``method``.

    Bins without any input are missing (NaN) for every method but ``count``, where they are 0.
    """
    idx = axis.assign(da["time"].values)
    keep = np.nonzero(idx >= 0)[0]
    keep = keep[np.argsort(idx[keep], kind="stable")]  # each bin's inputs contiguous, even if times are unsorted
    fill = 0.0 if method == "count" else np.nan
    if keep.size == 0:
        shape = (axis.size, *da.shape[1:])
        empty = dsa.full(shape, fill, dtype=np.float32, chunks=(1, *shape[1:]))
        return xr.DataArray(empty, dims=da.dims, coords={"time": axis.labels, **_spatial_coords(da)})
    da = da.isel(time=keep)
    counts_all = np.bincount(idx[keep], minlength=axis.size)
    nonempty = np.nonzero(counts_all)[0]
    counts = counts_all[nonempty]
    # one input per bin (a daily source on a daily axis): every reduction but count is that input, as it is
    reduced = da.data if method != "count" and bool((counts == 1).all()) else _reduce_bins(da.data, counts, method)
    out = xr.DataArray(reduced, dims=da.dims, coords={"time": axis.labels[nonempty], **_spatial_coords(da)})
    if nonempty.size != axis.size:
        out = out.reindex(time=axis.labels, fill_value=fill)
    return out


def _spatial_coords(da: xr.DataArray) -> dict[str, xr.DataArray]:
    return {str(k): v for k, v in da.coords.items() if k != "time" and "time" not in v.dims}
