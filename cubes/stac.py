"""A published cube described as a STAC Collection with the datacube extension, and its offline validation.

Every published version of a cube has ``collection.json`` beside its ``cube.zarr`` (written by
:func:`cubes.finish.finish_build` before the version is published): STAC 1.1.0, the datacube extension v2.3.0
(``cube:dimensions`` with extents, steps and the CRS of the spatial ones; ``cube:variables`` with dimensions,
units and descriptions), the Zarr store as the ``data`` asset and each quicklook as a ``thumbnail``, and the
spec's fingerprint (``esdl:fingerprint``). Hrefs are relative to the collection's folder, so the version folder
can be moved or served as it is.

Validation needs no network: the core schemas come with pystac, the datacube extension's schema with this
package (``cubes/schemas/stac/``, Apache-2.0, from the ``stac-extensions/datacube`` repository).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import xarray as xr

from cubes.spec import CubeSpec

STAC_VERSION = "1.1.0"
DATACUBE_SCHEMA = "https://stac-extensions.github.io/datacube/v2.3.0/schema.json"
ZARR_MEDIA_TYPE = "application/vnd+zarr"
COLLECTION_FILE = "collection.json"
_PERIOD = re.compile(r"^(\d+)([DMY])$")


def _iso(value: Any) -> str:
    """A ``datetime64`` as RFC 3339 in UTC (``Z``)."""
    return str(np.datetime_as_string(np.datetime64(value, "s"), unit="s")) + "Z"


def _step(values: np.ndarray) -> float | None:
    """The regular spacing of a coordinate, or ``None`` when it is irregular (or has a single value)."""
    if values.size < 2:
        return None
    steps = np.diff(values.astype(np.float64))
    if not np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        return None
    return float(steps[0])


def _reference_system(crs: pyproj.CRS) -> int | str:
    """The EPSG code of ``crs`` when it has one, else its WKT2 (the extension allows either)."""
    code = crs.to_epsg()
    return int(code) if code is not None else str(crs.to_wkt())


def _time_step(period: str, restart_yearly: bool) -> str | None:
    """An ISO 8601 duration for a regular time axis (``8D`` -> ``P8D``); ``None`` when bins restart every year
    (the last bin of a year is shorter), which the extension writes as ``null``."""
    match = _PERIOD.match(period)
    if match is None or restart_yearly:
        return None
    return f"P{match.group(1)}{match.group(2)}"


_DATA_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64"}
)


def _variable(name: str, var: xr.DataArray) -> dict[str, Any]:
    """A variable of ``cube:variables`` (v2.3.0 names: ``variable_type``, ``data_type``, ``nodata``)."""
    out: dict[str, Any] = {
        "dimensions": [str(d) for d in var.dims],
        "variable_type": "data",
        "data_type": var.dtype.name if var.dtype.name in _DATA_TYPES else "other",
        "unit": str(var.attrs.get("units", "")),
        "description": str(var.attrs.get("long_name") or var.attrs.get("standard_name") or name),
    }
    if var.dtype.kind == "f":
        out["nodata"] = "nan"  # esdl's fill value for floats
    return out


def cube_collection(
    ds: xr.Dataset,
    *,
    name: str,
    crs: pyproj.CRS,
    period: str,
    restart_yearly: bool,
    fingerprint: str,
    thumbnails: dict[str, str],
    zarr_href: str = "./cube.zarr",
    derived_from: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The STAC Collection of the cube ``ds`` (opened from its store), as JSON-ready data.

    Args:
        ds: The written cube: ``time`` and two spatial dimensions, ``time_bnds``, CF and ACDD attributes.
        name: The collection's id (the cube's name).
        crs: The cube's CRS.
        period: The spec's bin length (``1D``, ``8D``, ``1M``...).
        restart_yearly: Whether bins restart every 1 January (then the time step is irregular).
        fingerprint: The spec's fingerprint.
        thumbnails: Quicklook hrefs by variable name.
        zarr_href: The Zarr store's href.
        derived_from: Hrefs of the STAC items the cube was built from (:func:`derived_from`): ``derived_from`` links.
    """
    ydim, xdim = (str(d) for d in ds[next(iter(ds.data_vars))].dims[1:])
    bounds = ds["time_bnds"].values
    start, end = _iso(bounds[0, 0]), _iso(bounds[-1, 1])
    attrs = ds.attrs
    bbox = [
        float(attrs["geospatial_lon_min"]),
        float(attrs["geospatial_lat_min"]),
        float(attrs["geospatial_lon_max"]),
        float(attrs["geospatial_lat_max"]),
    ]
    reference = _reference_system(crs)
    dimensions: dict[str, Any] = {
        "time": {"type": "temporal", "extent": [start, end], "step": _time_step(period, restart_yearly)},
    }
    for dim, axis in ((xdim, "x"), (ydim, "y")):
        values = ds[dim].values
        half = abs(_step(values) or 0.0) / 2
        dimensions[dim] = {
            "type": "spatial",
            "axis": axis,
            "extent": [float(values.min()) - half, float(values.max()) + half],
            "step": _step(values),
            "reference_system": reference,
        }
    variables = {str(k): _variable(str(k), v) for k, v in ds.data_vars.items()}
    assets: dict[str, Any] = {
        "zarr": {
            "href": zarr_href,
            "type": ZARR_MEDIA_TYPE,
            "title": f"{name} (Zarr v3)",
            "roles": ["data"],
        }
    }
    for variable, href in thumbnails.items():
        assets[f"thumbnail-{variable}"] = {
            "href": href,
            "type": "image/png",
            "title": f"{variable}: quicklook",
            "roles": ["thumbnail"],
        }
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [DATACUBE_SCHEMA],
        "id": name,
        "title": str(attrs.get("title", name)),
        "description": str(attrs.get("summary", f"Earth System Data Cube {name}")),
        "license": str(attrs.get("license", "other")),
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[start, end]]}},
        "cube:dimensions": dimensions,
        "cube:variables": variables,
        "assets": assets,
        "links": [{"rel": "derived_from", "href": href, "type": "application/geo+json"} for href in derived_from],
        "esdl:fingerprint": fingerprint,
    }


def derived_from(spec: CubeSpec) -> list[str]:
    """The STAC items that the spec's STAC sources read (each item's absolute ``self`` href), source by source."""
    from cubes.sources.base import infer_kind, resolve_path
    from cubes.sources.stac import used_items

    return [
        href
        for name, source in spec.sources.items()
        if source.path and infer_kind(source) == "stac"
        for href in used_items(name, source, resolve_path(source.path))
    ]


def write_collection(collection: dict[str, Any], folder: Path) -> Path:
    """Validate ``collection`` and write it as ``folder/collection.json``.

    Raises:
        ValueError: It is not a valid STAC Collection (see :func:`validate`).
    """
    validate(collection)
    path = folder / COLLECTION_FILE
    path.write_text(json.dumps(collection, indent=1), encoding="utf-8")
    return path


PROJJSON_SCHEMA = "https://proj.org/schemas/v0.7/projjson.schema.json"
"""The PROJJSON schema the datacube schema refers to for ``reference_system``: the copy in pyproj's data folder."""


def _bundled_schemas() -> dict[str, dict[str, Any]]:
    """The extension schemas by ``$id``: the datacube extension's (bundled here) and PROJJSON's (pyproj's)."""
    text = resources.files("cubes.schemas.stac").joinpath("datacube-v2.3.0.json").read_text(encoding="utf-8")
    projjson = Path(pyproj.datadir.get_data_dir()) / "projjson.schema.json"
    schemas = {DATACUBE_SCHEMA: json.loads(text), PROJJSON_SCHEMA: json.loads(projjson.read_text(encoding="utf-8"))}
    for uri, schema in schemas.items():
        if schema.get("$id") != uri:
            raise RuntimeError(f"the bundled schema for {uri} has $id {schema.get('$id')!r}")
    return schemas


def validate(stac: dict[str, Any]) -> None:
    """Check a STAC object against the core schema of its type and its extensions' schemas, offline.

    Raises:
        ValueError: It is invalid, or it names an extension whose schema is not bundled (the message says which).
    """
    from pystac.errors import STACValidationError
    from pystac.validation.stac_validator import JsonSchemaSTACValidator

    validator = JsonSchemaSTACValidator()
    validator.schema_cache.update(_bundled_schemas())
    unknown = [e for e in stac.get("stac_extensions", []) if e not in validator.schema_cache]
    if unknown:
        raise ValueError(f"STAC {stac.get('id')!r}: no bundled schema for extension(s) {', '.join(unknown)}")
    from pystac import STACObjectType

    kind = {"Collection": STACObjectType.COLLECTION, "Catalog": STACObjectType.CATALOG}.get(
        str(stac.get("type")), STACObjectType.ITEM
    )
    try:
        validator.validate(stac, kind, str(stac.get("stac_version")), list(stac.get("stac_extensions", [])))
    except STACValidationError as err:
        cause = f": {err.source}" if getattr(err, "source", None) is not None else ""
        raise ValueError(f"STAC {stac.get('id')!r} is invalid: {err}{cause}") from None


__all__ = ["COLLECTION_FILE", "DATACUBE_SCHEMA", "cube_collection", "derived_from", "validate", "write_collection"]
