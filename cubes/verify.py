"""Verification of a written cube: xcube's own checks plus the conventions esdl promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from cubes.errors import VerifyError


def open_cube(path: str | Path) -> xr.Dataset:
    """Open a cube written by esdl (lazily, with dask)."""
    try:
        return xr.open_zarr(str(path), consolidated=False)
    except (FileNotFoundError, ValueError, KeyError, OSError) as err:
        raise VerifyError(f"{path}: not a readable Zarr cube: {err}") from None


def find_issues(path: str | Path) -> list[str]:
    """All problems found in the cube at ``path`` (empty when it is valid)."""
    from xcube.core.verify import verify_cube

    ds = open_cube(path)
    issues = [f"xcube: {msg}" for msg in verify_cube(ds)]
    group = zarr.open_group(str(path), mode="r")
    if group.metadata.zarr_format != 3:
        issues.append(f"zarr format is {group.metadata.zarr_format}, expected 3")
    for name, var in ds.data_vars.items():
        if not var.attrs.get("units"):
            issues.append(f"variable {name!r} has no units")
    if "time_bnds" not in ds.variables:
        issues.append("missing time_bnds")
    elif "time" in ds.variables:
        bnds = ds["time_bnds"].values
        if not (bnds[:, 0] < bnds[:, 1]).all() or not (bnds[1:, 0] == bnds[:-1, 1]).all():
            issues.append("time_bnds are not contiguous half-open bins")
        mids = ds["time"].values
        if not ((bnds[:, 0] <= mids) & (mids < bnds[:, 1])).all():
            issues.append("time values lie outside their bounds")
    for attr in ("Conventions", "title", "summary", "time_coverage_start", "geospatial_lat_min"):
        if attr not in ds.attrs:
            issues.append(f"missing global attribute {attr!r}")
    if "time" in ds.variables and not np.all(np.diff(ds["time"].values.astype("int64")) > 0):
        issues.append("time is not strictly increasing")
    return issues


def verify(path: str | Path) -> None:
    """Raise :class:`VerifyError` listing every problem of the cube at ``path``."""
    issues = find_issues(path)
    if issues:
        raise VerifyError(f"{path}: cube is invalid: " + "; ".join(issues))
