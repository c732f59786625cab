"""Temporal aggregation of regridded fields into the target time bins.

Inputs are assigned to half-open bins (see :class:`~cubes.timeaxis.TimeAxis`), so an input on a bin edge
belongs to the later bin only. The time axis of a dask array is re-chunked so that each chunk is exactly
one bin's inputs, and each chunk is reduced on its own: no input crosses a bin, and memory per task is
one bin of one spatial chunk.
"""

from __future__ import annotations

import itertools

import dask.array as dsa
import numpy as np
import xarray as xr

from cubes.regrid.reduce import reducer
from cubes.timeaxis import TimeAxis


def _reduce_bins(data: np.ndarray | dsa.Array, counts: np.ndarray, method: str) -> np.ndarray | dsa.Array:
    reduce = reducer(method)
    if isinstance(data, dsa.Array):
        lazy = data.rechunk({0: tuple(int(c) for c in counts)})
        out_dtype = np.float32 if method == "count" else lazy.dtype
        return dsa.map_blocks(
            lambda b: reduce(b, axis=0)[None], lazy, dtype=out_dtype, chunks=((1,) * len(counts), *lazy.chunks[1:])
        )
    edges = np.concatenate([[0], np.cumsum(counts)])
    return np.stack([reduce(data[a:b], axis=0) for a, b in itertools.pairwise(edges)])


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
    reduced = _reduce_bins(da.data, counts_all[nonempty], method)
    out = xr.DataArray(reduced, dims=da.dims, coords={"time": axis.labels[nonempty], **_spatial_coords(da)})
    if nonempty.size != axis.size:
        out = out.reindex(time=axis.labels, fill_value=fill)
    return out


def _spatial_coords(da: xr.DataArray) -> dict[str, xr.DataArray]:
    return {str(k): v for k, v in da.coords.items() if k != "time" and "time" not in v.dims}
