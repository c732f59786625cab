"""Aggregation of fine curvilinear or projected sources by binning: each source pixel goes to the target cell
that contains its centre, and the cell aggregates all of its pixels (mean, sum, min, max or count).

This is the downsampling counterpart of rectification, which interpolates the source at each target cell
centre and so would sample, not aggregate, a source much finer than the target.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np

from cubes.grid import TargetGrid

#: use binning when source pixels are at most this fraction of a target cell (>= 2 pixels a cell per axis)
BINNING_MAX_SPACING = 0.5
_BLOCK_BYTES = 64 * 2**20


def pixel_spacing(xs: np.ndarray, ys: np.ndarray) -> float:
    """Median distance between neighbouring pixel centres (2-D coordinates in target CRS units)."""
    steps = [np.hypot(np.diff(xs, axis=a), np.diff(ys, axis=a)).ravel() for a in (0, 1) if xs.shape[a] > 1]
    values = np.concatenate(steps) if steps else np.array([np.inf])
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("inf")


def cell_index(xs: np.ndarray, ys: np.ndarray, grid: TargetGrid) -> np.ndarray:
    """Flat target-cell index of each pixel centre (row-major over ``(y, x)``), -1 outside the grid."""
    xmin, ymin = grid.spec.bbox[0], grid.spec.bbox[1]
    rx, ry = grid.spec.res
    ny, nx = grid.shape
    with np.errstate(invalid="ignore"):
        col = np.floor((xs - xmin) / rx)
        row = np.floor((ys - ymin) / ry)
    inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    return np.where(inside, row * nx + col, -1).astype(np.int64).ravel()


def _bin_block(block: np.ndarray, index: np.ndarray, ncells: int, method: str) -> np.ndarray:
    out = np.empty((block.shape[0], ncells), dtype=np.float32)
    for t in range(block.shape[0]):
        values = block[t].ravel()
        ok = (index >= 0) & np.isfinite(values)
        idx, v = index[ok], values[ok].astype(np.float64)
        count = np.bincount(idx, minlength=ncells)
        if method == "count":
            out[t] = count
            continue
        if method in ("mean", "sum"):
            total = np.bincount(idx, weights=v, minlength=ncells)
            with np.errstate(invalid="ignore", divide="ignore"):
                res = total / count if method == "mean" else total
        else:
            res = np.full(ncells, np.inf if method == "min" else -np.inf)
            (np.minimum if method == "min" else np.maximum).at(res, idx, v)
        out[t] = np.where(count > 0, res, np.nan)
    return out


def bin_aggregate(data: dsa.Array | np.ndarray, index: np.ndarray, grid: TargetGrid, method: str) -> dsa.Array:
    """Aggregate ``data`` (``time, j, i``) into the cells of ``grid`` given each pixel's ``index``."""
    ny, nx = grid.shape
    lazy = dsa.asarray(data)
    per_step = max(1, int(np.prod(lazy.shape[1:])) * lazy.dtype.itemsize)
    steps = max(1, min(lazy.shape[0], _BLOCK_BYTES // per_step))
    whole = lazy.rechunk({0: steps, 1: -1, 2: -1})

    def block(b: np.ndarray) -> np.ndarray:
        return _bin_block(b, index, ny * nx, method).reshape(b.shape[0], ny, nx)

    return dsa.map_blocks(block, whole, dtype=np.float32, chunks=(whole.chunks[0], (ny,), (nx,)))
