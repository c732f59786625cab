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

    Returns:
        ``shape`` / ``ref_shape``, ``coords_match`` (lat, lon within 1e-6 and identical time labels),
        ``max_abs_diff`` over cells valid in both (``None`` if the shapes differ), ``nan_mismatch`` (cells
        missing in exactly one of them) and ``valid_cells``.
    """
    da, ref = _open_var(path, name), _open_var(ref_path, ref_name)
    out: dict[str, Any] = {"shape": list(da.shape), "ref_shape": list(ref.shape)}
    if da.shape != ref.shape:
        out.update(coords_match=False, max_abs_diff=None, nan_mismatch=None, valid_cells=None)
        return out
    coords_match = bool(
        np.allclose(da["lat"].values, ref["lat"].values, atol=1e-6)
        and np.allclose(da["lon"].values, ref["lon"].values, atol=1e-6)
        and np.array_equal(da["time"].values.astype("datetime64[ns]"), ref["time"].values.astype("datetime64[ns]"))
    )
    a = da.values.astype("float64")
    b = ref.values.astype("float64")
    both = np.isfinite(a) & np.isfinite(b)
    out.update(
        coords_match=coords_match,
        max_abs_diff=float(np.abs(a[both] - b[both]).max()) if both.any() else None,
        nan_mismatch=int((np.isfinite(a) != np.isfinite(b)).sum()),
        valid_cells=int(both.sum()),
    )
    return out
