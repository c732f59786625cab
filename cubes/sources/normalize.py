"""Bring an opened dataset into the form every regridder expects.

The normalised form: CF-decoded values (scale, offset and fill values applied), a ``time`` dimension of
``datetime64[ns]`` sorted ascending, and either

* a regular grid with 1-D coordinates on dimensions ``y``/``x`` (ascending; longitudes in [-180, 180)), or
* a curvilinear grid with 2-D ``lat``/``lon`` coordinates (``attrs["esdl_curvilinear"] = True``).

``attrs["esdl_crs"]`` holds the source CRS as WKT.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from cubes.errors import SourceError

_LAT_NAMES = ("lat", "latitude", "nav_lat")
_LON_NAMES = ("lon", "longitude", "long", "nav_lon")
CRS_ATTR = "esdl_crs"
CURVILINEAR_ATTR = "esdl_curvilinear"


def _find_coord(ds: xr.Dataset, names: tuple[str, ...], standard_name: str, units: tuple[str, ...]) -> str | None:
    for name, var in ds.variables.items():
        attrs = var.attrs
        if attrs.get("standard_name") == standard_name or attrs.get("units") in units:
            return str(name)
    for name in names:
        if name in ds.variables:
            return name
    return None


def _find_axis(ds: xr.Dataset, axis: str, standard_name: str) -> str | None:
    for name in ds.dims:
        if name in ds.variables:
            attrs = ds[name].attrs
            if attrs.get("axis") == axis or attrs.get("standard_name") == standard_name:
                return str(name)
    return None


def _source_crs(ds: xr.Dataset, crs: str | None) -> pyproj.CRS | None:
    if crs:
        return pyproj.CRS.from_user_input(crs)
    for var in ds.data_vars.values():
        gm = var.attrs.get("grid_mapping")
        if gm and gm in ds.variables:
            attrs = ds[gm].attrs
            text = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            try:
                return pyproj.CRS.from_wkt(text) if text else pyproj.CRS.from_cf(attrs)
            except pyproj.exceptions.CRSError:
                continue
    if "spatial_ref" in ds.variables:
        text = ds["spatial_ref"].attrs.get("crs_wkt") or ds["spatial_ref"].attrs.get("spatial_ref")
        if text:
            return pyproj.CRS.from_wkt(text)
    return None


def _normalise_time(ds: xr.Dataset, name: str, time: Any) -> xr.Dataset:
    time_name = "time" if "time" in ds.variables else None
    if time_name is None:
        if time is None:
            raise SourceError(f"source {name!r} has no time coordinate; give one with options.time")
        ds = ds.assign_coords(time=pd.Timestamp(time).to_datetime64())
    if "time" not in ds.dims:
        ds = ds.expand_dims("time") if ds["time"].ndim == 0 else ds.swap_dims({ds["time"].dims[0]: "time"})
    values = ds["time"].values
    if values.dtype == object:  # cftime dates of a non-standard calendar
        calendar = getattr(values[0], "calendar", "standard")
        try:
            ds = ds.convert_calendar(
                "proleptic_gregorian", dim="time", align_on="date" if calendar != "360_day" else "year"
            )
        except (ValueError, TypeError) as err:
            raise SourceError(f"source {name!r}: cannot convert calendar {calendar!r}: {err}") from None
    elif not np.issubdtype(values.dtype, np.datetime64):
        raise SourceError(f"source {name!r}: time coordinate is not decodable as dates (dtype {values.dtype})")
    ds = ds.assign_coords(time=ds["time"].values.astype("datetime64[ns]"))
    if not ds.indexes["time"].is_monotonic_increasing:
        ds = ds.sortby("time")
    return ds


def normalise(ds: xr.Dataset, name: str, *, crs: str | None = None, time: Any = None) -> xr.Dataset:
    """Normalise ``ds`` (opened from source ``name``); see the module documentation.

    Args:
        ds: The dataset as opened, CF-decoded.
        name: Source key, for error messages.
        crs: CRS overriding what the dataset declares (EPSG code or WKT).
        time: Time stamp for a dataset without a time coordinate.

    Raises:
        SourceError: No spatial coordinates can be identified, or the time axis cannot be decoded.
    """
    ds = _normalise_time(ds, name, time)
    src_crs = _source_crs(ds, crs)
    lat = _find_coord(ds, _LAT_NAMES, "latitude", ("degrees_north", "degree_north"))
    lon = _find_coord(ds, _LON_NAMES, "longitude", ("degrees_east", "degree_east"))
    xdim = _find_axis(ds, "X", "projection_x_coordinate") or ("x" if "x" in ds.dims else None)
    ydim = _find_axis(ds, "Y", "projection_y_coordinate") or ("y" if "y" in ds.dims else None)

    if lat and lon and ds[lat].ndim == 1 and ds[lon].ndim == 1 and (src_crs is None or src_crs.is_geographic):
        ds = ds.rename({lat: "y", lon: "x"}) if (lat, lon) != ("y", "x") else ds
        ds = _wrap_longitudes(ds)
        ds.attrs[CRS_ATTR] = (src_crs or pyproj.CRS.from_epsg(4326)).to_wkt()
    elif xdim and ydim and src_crs is not None:
        extra = [c for c in (lat, lon) if c and c in ds.coords]
        ds = ds.drop_vars(extra).rename({ydim: "y", xdim: "x"} if (ydim, xdim) != ("y", "x") else {})
        ds.attrs[CRS_ATTR] = src_crs.to_wkt()
    elif lat and lon and ds[lat].ndim == 2:
        ds = ds.set_coords([lat, lon]).rename({lat: "lat", lon: "lon"} if (lat, lon) != ("lat", "lon") else {})
        for dim in list(ds["lat"].dims):
            if dim in ds.variables:
                ds = ds.drop_vars([dim])
        lon_values = ds["lon"]
        ds = ds.assign_coords(lon=xr.where(lon_values >= 180, lon_values - 360, lon_values))
        ds.attrs[CRS_ATTR] = pyproj.CRS.from_epsg(4326).to_wkt()
        ds.attrs[CURVILINEAR_ATTR] = True
        return _keep_gridded(ds, {str(d) for d in ds["lat"].dims})
    else:
        raise SourceError(
            f"source {name!r}: cannot identify spatial coordinates (looked for lat/lon or projected x/y "
            f"with a CRS; set options.crs for projected data)"
        )
    for dim in ("y", "x"):
        ds = ds.sortby(dim) if not ds.indexes[dim].is_monotonic_increasing else ds
    ds.attrs[CURVILINEAR_ATTR] = False
    return _keep_gridded(ds, {"y", "x"})


def _keep_gridded(ds: xr.Dataset, spatial: set[str]) -> xr.Dataset:
    """Drop bounds, grid-mapping and other variables that are not (time, <spatial>) fields."""
    drop = [v for v in ds.data_vars if not ({"time"} | spatial) <= set(ds[v].dims)]
    return ds.drop_vars(drop)


def _wrap_longitudes(ds: xr.Dataset) -> xr.Dataset:
    """Map 0..360 longitudes to [-180, 180) and sort."""
    x = ds["x"].values
    if np.nanmax(x) > 180:
        ds = ds.assign_coords(x=((x + 180) % 360) - 180)
        ds = ds.sortby("x")
    return ds


def strip_encoding(ds: xr.Dataset) -> xr.Dataset:
    """Clear encodings carried over from inputs; zarr format 3 rejects many format-2 ones."""
    for var in ds.variables.values():
        var.encoding = {}
    return ds
