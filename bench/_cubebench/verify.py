"""Compare the cube written by one side with another's: same grid, same time labels, values within float noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def _open_var(path: str | Path, name: str) -> xr.DataArray:
    ds = xr.open_zarr(str(path), consolidated=False)
    da = ds[name]
    rename = {d: n for d, n in (("y", "lat"), ("x", "lon"), ("latitude", "lat"), ("longitude", "lon")) if d in da.dims}
    da = da.rename(rename)
    for dim in ("lat", "lon"):
        if dim in da.indexes and not da.indexes[dim].is_monotonic_increasing:
            da = da.sortby(dim)
    return da.transpose("time", "lat", "lon")


def compare(path: str | Path, name: str, ref_path: str | Path, ref_name: str) -> dict[str, Any]:
    """Differences of variable ``name`` at ``path`` against ``ref_name`` at ``ref_path``.

    Values are compared by position once the shapes agree.

    Returns:
        ``shape`` / ``ref_shape``; ``grid_match`` (lat and lon within 1e-6); ``time_match`` (identical time
        labels) and, where they differ by a constant, ``time_offset_h`` (for example 12 when one side labels a
        daily bin by its centre and the other by its start); ``max_abs_diff`` over cells valid in both
        (``None`` if the shapes differ); ``nan_mismatch`` (cells missing in exactly one) and ``valid_cells``.
    """
    da, ref = _open_var(path, name), _open_var(ref_path, ref_name)
    out: dict[str, Any] = {"shape": list(da.shape), "ref_shape": list(ref.shape)}
    if da.shape != ref.shape:
        out.update(grid_match=False, time_match=False, max_abs_diff=None, nan_mismatch=None, valid_cells=None)
        return out
    t, t_ref = (x["time"].values.astype("datetime64[ns]") for x in (da, ref))
    offsets = np.unique(t - t_ref)
    out.update(
        grid_match=bool(
            np.allclose(da["lat"].values, ref["lat"].values, atol=1e-6)
            and np.allclose(da["lon"].values, ref["lon"].values, atol=1e-6)
        ),
        time_match=bool(np.array_equal(t, t_ref)),
    )
    if not out["time_match"] and offsets.size == 1:
        out["time_offset_h"] = float(offsets[0] / np.timedelta64(1, "h"))
    a = da.values.astype("float64")
    b = ref.values.astype("float64")
    both = np.isfinite(a) & np.isfinite(b)
    out.update(
        max_abs_diff=float(np.abs(a[both] - b[both]).max()) if both.any() else None,
        nan_mismatch=int((np.isfinite(a) != np.isfinite(b)).sum()),
        valid_cells=int(both.sum()),
    )
    return out
