"""Coverage-weighted zonal statistics of a cube over polygons: exact coverage once, a compiled kernel per block.

The fraction of each grid cell inside each polygon comes from exactextract, computed once per region set into
a CSR structure (:class:`ZoneWeights`). Every time block is then reduced by a numba kernel over that
structure, weighting each cell by coverage x cell area, so that the cost per time step is one pass over the
covered cells instead of one polygon/raster intersection per band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import numba
import numpy as np
import pyproj
import shapely
import xarray as xr
from dask.delayed import Delayed

from cubes.errors import ZonalError
from cubes.gridgeometry import SPATIAL_DIMS, GridGeometry


@dataclass(frozen=True, eq=False)
class ZoneWeights:
    """Covered cells of each region in CSR form, computed once per region set and reused for every time step.

    Region ``i`` covers entries ``indptr[i]:indptr[i + 1]`` of ``rows``, ``cols``, ``coverage`` and ``weight``,
    sorted in row-major order of the dataset's own ``(y, x)`` indices.

    Attributes:
        indptr: ``int64 (n_regions + 1)`` offsets.
        rows: ``int64`` row index of each covered cell in the dataset's ``y`` order.
        cols: ``int64`` column index of each covered cell.
        coverage: Fraction of the cell inside the region, in ``(0, 1]`` (exactextract computes it in float32).
        weight: ``coverage x cell area`` (m²).
        shape: ``(ny, nx)`` of the grid.
        window: ``(y slice, x slice)`` bounding all covered cells (the first cell when none is covered).
        cells: Distinct covered cells as flat indices into the window (derived).
        slot: Position in ``cells`` of each entry (derived).
    """

    indptr: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    coverage: np.ndarray
    weight: np.ndarray
    shape: tuple[int, int]
    window: tuple[slice, slice] = field(init=False)
    cells: np.ndarray = field(init=False)
    slot: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        r0, c0 = (int(self.rows.min()), int(self.cols.min())) if len(self.rows) else (0, 0)
        r1, c1 = (int(self.rows.max()) + 1, int(self.cols.max()) + 1) if len(self.rows) else (1, 1)
        cells, slot = np.unique((self.rows - r0) * (c1 - c0) + (self.cols - c0), return_inverse=True)
        object.__setattr__(self, "window", (slice(r0, r1), slice(c0, c1)))
        object.__setattr__(self, "cells", cells.astype(np.int64))
        object.__setattr__(self, "slot", slot.astype(np.int64))

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self.indptr) - 1

    @property
    def window_shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of the window."""
        ys, xs = self.window
        return ys.stop - ys.start, xs.stop - xs.start


def coverage_weights(grid: GridGeometry, geometries: Sequence[Any], crs: Any = "EPSG:4326") -> ZoneWeights:
    """Exact coverage of the grid's cells by each polygon, from exactextract.

    Args:
        grid: The grid.
        geometries: Shapely ``Polygon`` / ``MultiPolygon`` objects (``None`` or empty allowed), in ``crs``.
            Their vertices are reprojected when ``crs`` differs from the grid's; on geographic grids they must
            use the grid's longitude convention (no wrapping at ±180° / 360°).
        crs: CRS of the geometries, anything ``pyproj.CRS`` accepts.

    Returns:
        The weights; regions outside the grid, empty or ``None`` get no cells.

    Raises:
        ZonalError: A geometry is not polygonal, or exactextract rejects it.
    """
    from exactextract import exact_extract
    from exactextract.feature import JSONFeatureSource
    from exactextract.raster import NumPyRasterSource

    src_crs = pyproj.CRS.from_user_input(crs)
    transformer = None if src_crs.equals(grid.crs) else pyproj.Transformer.from_crs(src_crs, grid.crs, always_xy=True)
    features = []
    for i, geom in enumerate(geometries):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ZonalError(f"region {i}: expected a Polygon or MultiPolygon, got {geom.geom_type}")
        if transformer is not None:
            geom = shapely.transform(geom, lambda xy, t=transformer: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        features.append({"type": "Feature", "properties": {"region": i}, "geometry": shapely.geometry.mapping(geom)})
    ny, nx = grid.shape
    # exactextract only slices the raster; a broadcast zero keeps a huge grid from being allocated
    raster = NumPyRasterSource(np.broadcast_to(np.float32(0), (ny, nx)), *grid.bounds)
    try:
        results = exact_extract(raster, JSONFeatureSource(features), ["cell_id", "coverage"], include_cols=["region"])
    except RuntimeError as exc:
        raise ZonalError(f"exactextract: {exc}") from exc
    props = [f["properties"] for f in results]
    region = np.concatenate([np.empty(0, np.int64)] + [np.full(len(p["cell_id"]), p["region"]) for p in props])
    ids = np.concatenate([np.empty(0, np.int64)] + [p["cell_id"] for p in props]).astype(np.int64)
    coverage = np.concatenate([np.empty(0)] + [p["coverage"] for p in props]).astype(np.float64)
    # exactextract numbers cells row-major from the top-left of its north-up raster
    rows, cols = np.divmod(ids, nx)
    if grid.y_ascending:
        rows = ny - 1 - rows
    keep = np.flatnonzero(coverage > 0)
    order = keep[np.lexsort((rows[keep] * nx + cols[keep], region[keep]))]
    rows, cols, coverage, region = rows[order], cols[order], coverage[order], region[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(region, minlength=len(geometries)))]).astype(np.int64)
    return ZoneWeights(indptr, rows, cols, coverage, coverage * grid.cell_areas()[rows, cols], (ny, nx))


@dataclass(frozen=True)
class ZonalStats:
    """Zonal statistics of a time block, each ``(n_regions, t)``; NaN (count 0) where no cell is valid.

    Attributes:
        mean: Coverage x area weighted mean.
        std: Coverage x area weighted population standard deviation.
        min: Minimum over cells with coverage > 0 and a valid value.
        max: Maximum over the same cells.
        valid_count: ``int64`` number of cells with coverage > 0 and a non-NaN value.
        covered_area: Σ coverage x cell area over the valid cells (m²).
    """

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    valid_count: np.ndarray
    covered_area: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[ZonalStats]) -> ZonalStats:
        """Join consecutive time blocks along time."""
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts], axis=1) for k in cls.__dataclass_fields__})


@numba.njit(nogil=True, cache=True)
def _gather_cells(block: np.ndarray, cells: np.ndarray, r0: int, c0: int, wnx: int) -> np.ndarray:  # pragma: no cover
    nt = block.shape[0]
    out = np.empty((len(cells), nt), dtype=block.dtype)
    # tiles of time steps: a few planes read at once, short contiguous runs written
    for t0 in range(0, nt, 16):
        t1 = min(t0 + 16, nt)
        for u in range(len(cells)):
            r = r0 + cells[u] // wnx
            c = c0 + cells[u] % wnx
            for t in range(t0, t1):
                out[u, t] = block[t, r, c]
    return out


@numba.njit(nogil=True, cache=True)
def _zonal_kernel(  # pragma: no cover
    values: np.ndarray, indptr: np.ndarray, slot: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(indptr) - 1
    nt = values.shape[1]
    out = np.full((4, n, nt), np.nan)  # mean, std, min, max
    count, area = np.zeros((n, nt), dtype=np.int64), np.zeros((n, nt))
    # per-region accumulators over time: Σw, Σwx (then the mean), Σw(x - mean)², min, max, count
    sw, swx, ssq, vmin, vmax = np.empty(nt), np.empty(nt), np.empty(nt), np.empty(nt), np.empty(nt)
    cnt = np.empty(nt, dtype=np.int64)
    for i in range(n):
        sw[:], swx[:], ssq[:], vmin[:], vmax[:], cnt[:] = 0.0, 0.0, 0.0, np.inf, -np.inf, 0
        for k in range(indptr[i], indptr[i + 1]):
            row = values[slot[k]]
            w = weight[k]
            for t in range(nt):
                v = np.float64(row[t])
                if v == v:  # not NaN
                    sw[t] += w
                    swx[t] += w * v
                    vmin[t] = min(vmin[t], v)
                    vmax[t] = max(vmax[t], v)
                    cnt[t] += 1
        for t in range(nt):
            if cnt[t] == 0:
                swx[t] = np.nan
            elif vmin[t] == vmax[t]:
                swx[t] = vmin[t]  # constant values: exactly that mean (Σwx/Σw may miss it by an ulp), std 0
            else:
                # clamped: rounding must never put a mean outside the values it averages
                swx[t] = min(max(swx[t] / sw[t], vmin[t]), vmax[t])
        # second pass around the mean: no cancellation as in Σwx² - (Σwx)²/Σw
        for k in range(indptr[i], indptr[i + 1]):
            row = values[slot[k]]
            w = weight[k]
            for t in range(nt):
                v = np.float64(row[t])
                if v == v:
                    d = v - swx[t]
                    ssq[t] += w * d * d
        for t in range(nt):
            count[i, t] = cnt[t]
            area[i, t] = sw[t]
            if cnt[t] > 0:
                out[0, i, t] = swx[t]
                out[1, i, t] = np.sqrt(ssq[t] / sw[t])
                out[2, i, t] = vmin[t]
                out[3, i, t] = vmax[t]
    return out[0], out[1], out[2], out[3], count, area


def zonal_block(block: np.ndarray, weights: ZoneWeights) -> ZonalStats:
    """Zonal statistics of one time block; NaN values are missing.

    Args:
        block: ``(t, ny, nx)`` values of the weights' window (preferred: read only that), or of the whole grid.
        weights: The regions' coverage weights.

    Returns:
        Statistics of shape ``(n_regions, t)``.

    Raises:
        ZonalError: ``block`` matches neither the window nor the grid.
    """
    block = np.asarray(block)
    if block.ndim != 3:
        raise ZonalError(f"expected a (t, y, x) block, got shape {block.shape}")
    if block.shape[1:] == weights.window_shape:
        r0 = c0 = 0
    elif block.shape[1:] == weights.shape:
        r0, c0 = weights.window[0].start, weights.window[1].start
    else:
        raise ZonalError(f"block {block.shape[1:]} is neither the window {weights.window_shape} nor the grid")
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    # one gather to (cells, time) makes each region's pass over time contiguous, whatever the block's layout
    values = _gather_cells(block, weights.cells, r0, c0, weights.window_shape[1])
    return ZonalStats(*_zonal_kernel(values, weights.indptr, weights.slot, weights.weight))


def time_blocks(da: xr.DataArray, window: tuple[slice, slice] | None = None) -> list[tuple[int, Delayed]]:
    """Delayed numpy blocks of a ``(time, y, x)`` variable, one per time chunk, each spatially in one piece.

    Args:
        da: The variable, dask-backed or not (then one time chunk).
        window: ``(y slice, x slice)`` to read; the whole grid when ``None``.

    Returns:
        ``(index of the block's first time step, delayed (t, ny, nx) array)`` per time chunk.
    """
    known = [pair for pair in SPATIAL_DIMS if set(pair) <= set(da.dims)]
    if da.ndim != 3 or (known and da.dims[1:] != known[0]):
        raise ZonalError(f"expected a (time, y, x) variable, got dims {da.dims}")
    if da.chunks is None:
        da = da.chunk()
    if window is not None:
        da = da.isel({da.dims[1]: window[0], da.dims[2]: window[1]})
    data = da.data.rechunk({1: -1, 2: -1})
    starts = np.concatenate([[0], np.cumsum(data.chunks[0])[:-1]])
    return [(int(t0), d) for t0, d in zip(starts, data.to_delayed()[:, 0, 0], strict=True)]


def zonal_delayed(da: xr.DataArray, weights: ZoneWeights) -> list[tuple[int, Delayed]]:
    """One delayed :func:`zonal_block` per time chunk of ``da``, reading only the weights' window.

    Args:
        da: ``(time, y, x)`` variable on the grid the weights were computed for (usually dask-backed).
        weights: The regions' coverage weights.

    Returns:
        ``(index of the chunk's first time step, delayed ZonalStats)`` per time chunk.

    Raises:
        ZonalError: ``da`` is not ``(time, y, x)`` on the weights' grid.
    """
    if da.ndim != 3 or da.shape[1:] != weights.shape:
        raise ZonalError(f"variable of shape {da.shape} is not (time, y, x) on the grid {weights.shape}")
    shared = dask.delayed(weights, pure=True, traverse=False)
    return [(t0, dask.delayed(zonal_block, pure=True)(blk, shared)) for t0, blk in time_blocks(da, weights.window)]
