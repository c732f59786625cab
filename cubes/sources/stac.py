"""Static STAC catalogs: every item with the chosen asset becomes one time step.

Options: ``asset`` (asset key; default: the first asset whose media type is GeoTIFF, NetCDF or Zarr),
``variable`` (name for single-band rasters, default the asset key), plus the options of the asset's kind.
Items are ordered by their ``datetime``; items without the asset are skipped.
"""

from __future__ import annotations

import pandas as pd
import pystac
import xarray as xr

from cubes.errors import SourceError
from cubes.sources.base import register_source
from cubes.sources.files import open_geotiff, open_netcdf, open_zarr
from cubes.spec import SourceSpec

_MEDIA = {
    "image/tiff": "geotiff",
    "application/x-netcdf": "netcdf",
    "application/netcdf": "netcdf",
    "application/vnd+zarr": "zarr",
    "application/vnd.zarr": "zarr",
}


def _asset_kind(asset: pystac.Asset) -> str | None:
    media = (asset.media_type or "").split(";")[0].strip()
    if media in _MEDIA:
        return _MEDIA[media]
    href = asset.href.lower().rstrip("/")
    for suffix, kind in ((".tif", "geotiff"), (".tiff", "geotiff"), (".nc", "netcdf"), (".zarr", "zarr")):
        if href.endswith(suffix):
            return kind
    return None


def _selected(name: str, spec: SourceSpec, path: str) -> list[tuple[pystac.Item, str, pystac.Asset, str]]:
    """The items the source uses, by ``datetime``, each with its chosen asset's key, the asset and its kind."""
    try:
        catalog = pystac.read_file(path)
    except Exception as err:  # pystac raises many kinds of errors for bad files
        raise SourceError(f"source {name!r}: cannot read STAC catalog {path!r}: {err}") from None
    if isinstance(catalog, pystac.Item):
        items = [catalog]
    elif isinstance(catalog, pystac.Catalog):
        items = list(catalog.get_items(recursive=True))
    else:
        raise SourceError(f"source {name!r}: {path!r} is not a STAC catalog, collection or item")
    key = spec.options.get("asset")
    selected = []
    for item in sorted(items, key=lambda it: it.datetime or pd.Timestamp.min):
        assets = item.get_assets()
        chosen = key if key else next((k for k, a in assets.items() if _asset_kind(a)), None)
        if chosen is None or chosen not in assets:
            continue
        asset = assets[chosen]
        kind = _asset_kind(asset)
        if kind is None:
            raise SourceError(f"source {name!r}: asset {chosen!r} of item {item.id!r} has no supported type")
        if item.datetime is None:
            raise SourceError(f"source {name!r}: item {item.id!r} has no datetime")
        selected.append((item, chosen, asset, kind))
    if not selected:
        raise SourceError(f"source {name!r}: no item of {path!r} has asset {key or '(any raster)'!r}")
    return selected


def used_items(name: str, spec: SourceSpec, path: str) -> list[str]:
    """The hrefs of the STAC items the source reads (their own ``self`` hrefs, absolute), in time order: what a cube
    built from it links to as ``derived_from``."""
    return [item.get_self_href() or item.id for item, _, _, _ in _selected(name, spec, path)]


def open_stac(name: str, spec: SourceSpec, path: str) -> xr.Dataset:
    """Open the items of a static STAC catalog (or a single collection) as a time series."""
    steps = []
    for item, chosen, asset, kind in _selected(name, spec, path):
        href = asset.get_absolute_href() or asset.href
        options = {"variable": spec.options.get("variable", chosen), **spec.options}
        sub = spec.model_copy(update={"options": options})
        opener = {"geotiff": open_geotiff, "netcdf": open_netcdf, "zarr": open_zarr}[kind]
        ds = opener(name, sub, href)
        assert item.datetime is not None  # (checked when selected)
        stamp = pd.Timestamp(item.datetime).tz_localize(None) if item.datetime.tzinfo else item.datetime
        if "time" in ds.dims:
            ds = ds.isel(time=0, drop=True)
        ds = ds.drop_vars([c for c in ("time",) if c in ds.variables])
        steps.append(ds.expand_dims(time=[pd.Timestamp(stamp).to_datetime64()]))
    return xr.concat(steps, dim="time", data_vars="minimal", coords="minimal", compat="override", join="override")


register_source("stac", open_stac, ("catalog.json", "collection.json"))
