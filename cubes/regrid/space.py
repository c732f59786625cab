"""Spatial regridding onto the target grid.

Two paths:

* **aligned** — the source is a regular grid in the same CRS (any two geographic CRSs count as the same),
  the target resolution is a whole multiple of the source's and the cell edges line up: the source window is
  cut out (padded with missing values where the target reaches beyond it) and reduced block by block by a
  compiled kernel (:mod:`cubes.regrid.kernels`). Exact, and much faster than general resampling.
* **general** — everything else. Regular grids in the target CRS at least as coarse as the target are
  interpolated bilinearly at the target cell centres; other regular grids in the target CRS go through
  xcube's affine resampling (the aggregation when downsampling). Curvilinear and projected grids (whose cell
  centres are transformed to the target CRS with pyproj) are *binned* when their pixels are at most half a
  target cell (every pixel goes to the cell containing its centre, any aggregation; see
  :mod:`cubes.regrid.binning`) and otherwise rectified by xcube (interpolated at the target cell centres).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import xarray as xr

from cubes.errors import RegridError
from cubes.grid import TargetGrid
from cubes.regrid.binning import BINNING_MAX_SPACING, bin_aggregate, cell_index, pixel_spacing
from cubes.regrid.kernels import block_reduce
from cubes.regrid.reduce import reducer
from cubes.sources.normalize import CRS_ATTR, CURVILINEAR_ATTR

_TOL = 1e-6
# our NaN reductions: numpy's warn on every all-missing block, and dask calls them on an empty array for metadata
_XCUBE_AGGREGATORS = {m: reducer(m) for m in ("mean", "min", "max")}


@dataclass(frozen=True)
class Alignment:
    """How a regular source lines up with the target: integer factors and the window's start offsets."""

    factor_x: int
    factor_y: int
    offset_x: int
    offset_y: int


def _regular_step(coord: np.ndarray) -> float | None:
    if coord.size < 2:
        return None
    diffs = np.diff(coord.astype(np.float64))
    step = float(np.mean(diffs))
    return step if np.allclose(diffs, step, rtol=1e-4, atol=0) else None


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    return bool((a.is_geographic and b.is_geographic) or a.equals(b, ignore_axis_order=True))


def _whole(value: float) -> int | None:
    n = round(value)
    return n if abs(value - n) <= _TOL * max(1.0, abs(value)) * 100 else None


def alignment(ds: xr.Dataset, grid: TargetGrid) -> Alignment | None:
    """The :class:`Alignment` of a normalised source with ``grid``, or ``None`` if the aligned path can't apply."""
    if ds.attrs.get(CURVILINEAR_ATTR) or not _same_crs(pyproj.CRS.from_wkt(ds.attrs[CRS_ATTR]), grid.crs):
        return None
    steps = _regular_step(ds["x"].values), _regular_step(ds["y"].values)
    if steps[0] is None or steps[1] is None:
        return None
    rx, ry = grid.spec.res
    fx, fy = _whole(rx / steps[0]), _whole(ry / steps[1])
    if not fx or not fy:
        return None
    xmin, ymin = grid.spec.bbox[0], grid.spec.bbox[1]
    ox = _whole((xmin - (float(ds["x"][0]) - steps[0] / 2)) / steps[0])
    oy = _whole((ymin - (float(ds["y"][0]) - steps[1] / 2)) / steps[1])
    if ox is None or oy is None:
        return None
    return Alignment(fx, fy, ox, oy)


def _window(da: xr.DataArray, dim: str, offset: int, size: int) -> xr.DataArray:
    """Cells ``offset .. offset + size`` along ``dim``, padded with NaN outside the source."""
    n = da.sizes[dim]
    start, stop = max(offset, 0), min(offset + size, n)
    if stop <= start:
        part = da.isel({dim: slice(0, 0)})
        return part.pad({dim: (0, size)}, constant_values=np.nan)
    part = da.isel({dim: slice(start, stop)})
    before, after = start - offset, offset + size - stop
    if before or after:
        part = part.pad({dim: (before, after)}, constant_values=np.nan)
    return part


def regrid_aligned(da: xr.DataArray, grid: TargetGrid, align: Alignment, method: str) -> xr.DataArray:
    """Aggregate ``da`` (dims ``time, y, x``) onto ``grid`` by whole blocks of source cells."""
    ny, nx = grid.shape
    if not np.issubdtype(da.dtype, np.floating):
        da = da.astype(np.float32)
    win = _window(_window(da, "x", align.offset_x, nx * align.factor_x), "y", align.offset_y, ny * align.factor_y)
    if align.factor_x > 1 or align.factor_y > 1 or method == "count":
        win = _coarsen(win.transpose("time", "y", "x"), align, method)
    return _on_target(win, grid)


def _coarsen(win: xr.DataArray, align: Alignment, method: str) -> xr.DataArray:
    """Block-reduce ``win`` (``time, y, x``) by the alignment's factors with the compiled kernel."""
    fy, fx = align.factor_y, align.factor_x
    coords = {"time": win["time"].values}
    if win.chunks is None:
        return xr.DataArray(block_reduce(win.values, fy, fx, method), dims=win.dims, coords=coords)
    data = win.chunk(_block_multiple_chunks(win, align)).data
    out_dtype = np.float32 if method == "count" or data.dtype == np.float32 else np.float64
    chunks = (data.chunks[0], tuple(c // fy for c in data.chunks[1]), tuple(c // fx for c in data.chunks[2]))
    reduced = data.map_blocks(block_reduce, fy, fx, method, dtype=out_dtype, chunks=chunks)
    return xr.DataArray(reduced, dims=win.dims, coords=coords)


def _block_multiple_chunks(win: xr.DataArray, align: Alignment) -> dict[str, int | tuple[int, ...]]:
    """Spatial chunks that are whole multiples of the coarsening factors, keeping the source's where they are."""
    assert win.chunks is not None
    result: dict[str, int | tuple[int, ...]] = {}
    for dim, factor in (("y", align.factor_y), ("x", align.factor_x)):
        chunks = win.chunks[win.get_axis_num(dim)]
        if all(c % factor == 0 for c in chunks[:-1]) and chunks[-1] % factor == 0:
            result[dim] = chunks
        else:
            result[dim] = max(factor, (max(chunks) // factor) * factor)
    return result


def _on_target(da: xr.DataArray, grid: TargetGrid) -> xr.DataArray:
    ydim, xdim = grid.dims
    da = da.drop_vars([c for c in da.coords if c not in ("time",)])
    da = da.rename({"y": ydim, "x": xdim})
    return da.assign_coords({ydim: grid.y, xdim: grid.x})


def _check_xcube_methods(methods: dict[str, str], why: str) -> None:
    for name, method in methods.items():
        if method not in _XCUBE_AGGREGATORS:
            raise RegridError(
                f"variable {name!r}: spatial aggregation {method!r} is not available {why}; "
                f"use one of {', '.join(_XCUBE_AGGREGATORS)}"
            )


def _centre_source(ds: xr.Dataset) -> tuple[tuple[str, str], pyproj.CRS]:
    """Spatial dims of a curvilinear or projected source and the CRS its centre coordinates are in."""
    if ds.attrs.get(CURVILINEAR_ATTR):
        return (str(ds["lat"].dims[0]), str(ds["lat"].dims[1])), pyproj.CRS.from_epsg(4326)
    return ("y", "x"), pyproj.CRS.from_wkt(ds.attrs[CRS_ATTR])  # a projected (or irregular) grid with 1-D x/y


def _pixel_centres(ds: xr.Dataset, grid: TargetGrid) -> tuple[tuple[str, str], np.ndarray, np.ndarray]:
    """Spatial dims and 2-D pixel centres in the target CRS of a curvilinear or projected source."""
    dims, crs = _centre_source(ds)
    if ds.attrs.get(CURVILINEAR_ATTR):
        lon, lat = ds["lon"].values, ds["lat"].values
    else:
        lon, lat = np.meshgrid(ds["x"].values.astype(np.float64), ds["y"].values.astype(np.float64))
    xs, ys = _to_target_crs(lon, lat, crs, grid.crs)
    return dims, xs, ys


def _lazy_pixel_centres(ds: xr.Dataset, grid: TargetGrid, chunks: tuple[Any, Any]) -> tuple[Any, Any]:
    """:func:`_pixel_centres` as dask arrays in ``chunks`` (y, x), computed by the workers from the source's own
    coordinates: numpy coordinates would be embedded in every graph built on them (10 MB for SEVIRI's grid)."""
    import dask.array as da

    dims, crs = _centre_source(ds)
    if ds.attrs.get(CURVILINEAR_ATTR):  # read from the source by the workers
        lon, lat = (ds[c].variable.chunk(dict(zip(dims, chunks, strict=True))).data for c in ("lon", "lat"))
    else:  # from the 1-D coordinates (small)
        x = da.from_array(ds["x"].values.astype(np.float64), chunks=(chunks[1],))
        y = da.from_array(ds["y"].values.astype(np.float64), chunks=(chunks[0],))
        lon, lat = da.meshgrid(x, y)
    return tuple(  # type: ignore[return-value]
        da.map_blocks(_transformed, lon, lat, crs.to_wkt(), grid.crs.to_wkt(), axis, dtype=np.float64)
        for axis in (0, 1)
    )


def _transformed(x: np.ndarray, y: np.ndarray, src: str, dst: str, axis: int) -> np.ndarray:
    return _to_target_crs(x, y, pyproj.CRS.from_wkt(src), pyproj.CRS.from_wkt(dst))[axis]


def regrid_general(ds: xr.Dataset, grid: TargetGrid, methods: dict[str, str]) -> xr.Dataset:
    """Resample all variables of ``ds`` onto ``grid`` (see the module documentation)."""
    from xcube.core.gridmapping import GridMapping
    from xcube.core.resampling import resample_in_space

    ny, nx = grid.shape
    tile = (min(nx, 512), min(ny, 512))
    if tile == (nx, ny) and ny > 1:
        # xcube rectifies an untiled target with numpy, eagerly, at graph construction: at least two tiles keep
        # the work lazy (and the computed result out of every graph built on it)
        tile = (nx, -(-ny // 2))
    target_gm = GridMapping.regular(
        size=(nx, ny),
        xy_min=(grid.spec.bbox[0], grid.spec.bbox[1]),
        xy_res=grid.spec.res,
        crs=grid.crs,
        tile_size=tile,
        is_j_axis_up=True,
    )
    data = ds[list(methods)]
    for var in data.data_vars.values():
        var.attrs.pop("grid_mapping", None)
    steps = (_regular_step(ds["x"].values), _regular_step(ds["y"].values)) if "x" in ds.dims else (None, None)
    src_crs = pyproj.CRS.from_wkt(ds.attrs[CRS_ATTR])
    if not ds.attrs.get(CURVILINEAR_ATTR) and _same_crs(src_crs, grid.crs) and None not in steps:
        _check_xcube_methods(methods, "for a source grid that is not aligned with the target")
        sx, sy = float(steps[0]), float(steps[1])  # type: ignore[arg-type]
        if sx >= grid.spec.res[0] and sy >= grid.spec.res[1]:
            return _interpolate(data, grid)
        source_gm = GridMapping.regular(
            size=(ds.sizes["x"], ds.sizes["y"]),
            xy_min=(float(ds["x"][0]) - sx / 2, float(ds["y"][0]) - sy / 2),
            xy_res=(sx, sy),
            crs=grid.crs,
            tile_size=tile,
            is_j_axis_up=True,
        )
        xname, yname = source_gm.xy_var_names
        data = data.rename({"x": xname, "y": yname})
        data = data.drop_vars([c for c in data.coords if c not in ("time", xname, yname)])
    else:
        dims, xs, ys = _pixel_centres(ds, grid)
        if pixel_spacing(xs, ys) <= BINNING_MAX_SPACING * min(grid.spec.res):
            index = cell_index(xs, ys, grid)
            binned = {
                name: xr.DataArray(
                    bin_aggregate(ds[name].transpose("time", *dims).data, index, grid, m),
                    dims=("time", "y", "x"),
                    coords={"time": ds["time"].values},
                )
                for name, m in methods.items()
            }
            return xr.Dataset({name: _on_target(da, grid) for name, da in binned.items()})
        _check_xcube_methods(
            methods, "when a curvilinear or projected source is interpolated (not finer than half a target cell)"
        )
        first = data[next(iter(methods))]
        chunks = first.chunks[-2:] if first.chunks else (-1, -1)
        lazy_xs, lazy_ys = _lazy_pixel_centres(ds, grid, (chunks[0], chunks[1]))
        data = _with_2d_coords(
            data.drop_vars([c for c in ("lat", "lon", "x", "y") if c in data.coords]), dims, lazy_xs, lazy_ys, target_gm
        )
        xname, yname = target_gm.xy_var_names
        source_gm = GridMapping.from_coords(data[xname], data[yname], crs=grid.crs)
        # xcube's rectifier (numba) needs data and coordinates of one float type
        data = data.astype(np.float64)
    var_configs: dict[Hashable, dict[str, object]] = {
        name: {"aggregator": _XCUBE_AGGREGATORS[m], "spline_order": 1} for name, m in methods.items()
    }
    # xcube's tiled path squeezes a time dimension of length one away (and then fails): resample the one step
    single = data["time"].values if "time" in data.dims and data.sizes["time"] == 1 else None
    if single is not None:
        data = data.isel(time=0, drop=True)
    try:
        out = resample_in_space(
            data, source_gm=source_gm, target_gm=target_gm, var_configs=var_configs, encode_cf=False
        )
    except (ValueError, IndexError) as err:
        raise RegridError(f"cannot resample onto the target grid: {err}") from None
    if single is not None:
        out = out.expand_dims(time=single)
    # xcube names the result's dimensions after the target CRS; put them on our exact coordinates
    ren = {d: t for d, t in zip(_spatial_dims(out), ("y", "x"), strict=True)}
    out = out.rename(ren).drop_vars([c for c in out.coords if c not in ("time",) and c not in ren], errors="ignore")
    return xr.Dataset(
        {name: _on_target(out[name].transpose("time", "y", "x").astype(ds[name].dtype), grid) for name in methods}
    )


def _interpolate(data: xr.Dataset, grid: TargetGrid) -> xr.Dataset:
    """Bilinear interpolation at the target cell centres, for a regular source at least as coarse as the target.

    (xcube's affine resampler shifts upsampled fields by half a source cell minus half a target cell.) Target
    centres outside the hull of the source's cell centres, or next to a missing value, are missing.
    """
    # the interpolated dimensions must be whole chunks for dask; time chunks stay as they are
    data = data.chunk({"y": -1, "x": -1}) if any(v.chunks for v in data.data_vars.values()) else data
    out = data.interp(y=grid.y, x=grid.x, method="linear")
    return xr.Dataset(
        {
            name: _on_target(out[name].transpose("time", "y", "x").astype(data[name].dtype), grid)
            for name in data.data_vars
        }
    )


def _with_2d_coords(data: xr.Dataset, dims: tuple, xs: Any, ys: Any, target_gm: object) -> xr.Dataset:
    """Put 2-D target-CRS coordinates on ``data``, named as xcube expects for the target CRS."""
    xname, yname = target_gm.xy_var_names  # type: ignore[attr-defined]
    data = data.rename({dims[0]: "j", dims[1]: "i"})
    return data.assign_coords({xname: (("j", "i"), xs), yname: (("j", "i"), ys)})


def _spatial_dims(ds: xr.Dataset) -> tuple[str, str]:
    for pair in (("lat", "lon"), ("y", "x")):
        if all(d in ds.dims for d in pair):
            return pair
    raise RegridError(f"unexpected dimensions after resampling: {tuple(ds.dims)}")


def _to_target_crs(x: np.ndarray, y: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    if _same_crs(src, dst):
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    tx, ty = tr.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(tx), np.asarray(ty)


def regrid_space(ds: xr.Dataset, grid: TargetGrid, methods: dict[str, str]) -> xr.Dataset:
    """Regrid the variables named in ``methods`` (name → spatial aggregation) of a normalised source.

    Returns:
        A dataset with dimensions ``(time, <grid y dim>, <grid x dim>)`` on the target coordinates.
    """
    align = alignment(ds, grid)
    if align is not None:
        return xr.Dataset({name: regrid_aligned(ds[name], grid, align, m) for name, m in methods.items()})
    return regrid_general(ds, grid, methods)
