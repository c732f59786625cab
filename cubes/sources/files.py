"""File sources: NetCDF (and HDF5), Zarr (formats 2 and 3) and GeoTIFF/COG, local or through fsspec.

Options common to all: ``crs`` (override the CRS), ``time`` (time stamp for data without one),
``chunks`` (dask chunks; default ``"auto"``: whole multiples of the file's own chunks, up to
``cubes.sources.base.SOURCE_CHUNK_BYTES``).
GeoTIFF options: ``variable`` (name of the data variable, default ``band_data``), ``band`` (1-based band to
keep; by default a single band becomes ``<variable>`` and several bands become ``<variable>_<n>``).
"""

from __future__ import annotations

from typing import Any

import fsspec
import netCDF4
import rioxarray
import xarray as xr

from cubes.errors import SourceError
from cubes.sources.base import expand_paths, register_source
from cubes.spec import SourceSpec


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _chunks(spec: SourceSpec) -> Any:
    return spec.options.get("chunks", "auto")


def open_netcdf(name: str, spec: SourceSpec, path: str) -> xr.Dataset:
    """Open one NetCDF file or a glob of them (concatenated along time)."""
    paths = expand_paths(path, spec.storage_options)
    datasets = []
    for p in paths:
        if _is_remote(p):
            datasets.append(_open_remote_netcdf(p, spec))
        else:
            datasets.append(xr.open_dataset(p.removeprefix("file://"), chunks=_chunks(spec)))
    if len(datasets) == 1:
        return datasets[0]
    return xr.concat(datasets, dim="time", data_vars="minimal", coords="minimal", compat="override")


def _open_remote_netcdf(path: str, spec: SourceSpec) -> xr.Dataset:
    """Open a remote NetCDF file through fsspec: NetCDF-4/HDF5 lazily with h5netcdf; anything h5netcdf cannot
    read (NetCDF-3 classic files) is read into memory and opened with netCDF4."""
    fobj = fsspec.open(path, mode="rb", **spec.storage_options).open()
    try:
        return xr.open_dataset(fobj, engine="h5netcdf", chunks=_chunks(spec), use_cftime=None)
    except (ImportError, OSError, ValueError):
        fobj.seek(0)
        # the name only labels the in-memory file; a URL here would make netCDF-C try OPeNDAP
        nc = netCDF4.Dataset("remote.nc", mode="r", memory=fobj.read())
        return xr.open_dataset(xr.backends.NetCDF4DataStore(nc), chunks=_chunks(spec))


def open_zarr(name: str, spec: SourceSpec, path: str) -> xr.Dataset:
    """Open a Zarr store of format 2 or 3 (consolidated metadata used when present)."""
    return xr.open_zarr(path, storage_options=spec.storage_options or None, chunks=_chunks(spec), consolidated=None)


def open_geotiff(name: str, spec: SourceSpec, path: str) -> xr.Dataset:
    """Open a GeoTIFF/COG; bands become variables, the CRS comes from the file."""
    try:
        da = rioxarray.open_rasterio(path, chunks=_chunks(spec), mask_and_scale=True)
    except Exception as err:  # rasterio raises its own hierarchy
        raise SourceError(f"source {name!r}: cannot read GeoTIFF {path!r}: {err}") from None
    assert isinstance(da, xr.DataArray)
    variable = spec.options.get("variable", "band_data")
    crs = da.rio.crs
    band = spec.options.get("band")
    if band is not None:
        da = da.sel(band=int(band))
    if "band" in da.dims and da.sizes["band"] == 1:
        da = da.isel(band=0)
    if "band" in da.dims:
        ds = xr.Dataset({f"{variable}_{int(b)}": da.sel(band=b).drop_vars("band") for b in da["band"].values})
    else:
        ds = da.drop_vars([c for c in ("band",) if c in da.coords]).to_dataset(name=variable)
    ds = ds.drop_vars([c for c in ("spatial_ref",) if c in ds.coords])
    for v in ds.data_vars:
        ds[v].attrs.pop("grid_mapping", None)
        ds[v].attrs["grid_mapping"] = "spatial_ref"
    ds = ds.assign_coords(spatial_ref=xr.DataArray(0, attrs={"crs_wkt": crs.to_wkt() if crs else ""}))
    ds = ds.reset_coords("spatial_ref")
    ds["x"].attrs.update(axis="X")
    ds["y"].attrs.update(axis="Y")
    return ds


register_source("netcdf", open_netcdf, (".nc", ".nc4", ".h5", ".hdf5", ".netcdf"))
register_source("zarr", open_zarr, (".zarr",))
register_source("geotiff", open_geotiff, (".tif", ".tiff", ".cog"))
