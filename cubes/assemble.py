"""Assemble the lazy target cube from a spec: open, regrid in space, aggregate in time, attach metadata."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import xarray as xr

from cubes import __version__
from cubes.errors import SourceError
from cubes.grid import TargetGrid
from cubes.regrid import aggregate_time, regrid_space
from cubes.sources import open_source
from cubes.spec import CubeSpec, VariableSpec
from cubes.timeaxis import TimeAxis, build_time_axis

TIME_ENCODING = {"units": "seconds since 1970-01-01T00:00:00", "calendar": "proleptic_gregorian", "dtype": "int64"}
_UNIT_ALIASES = {"K": "K", "kelvin": "K", "degC": "degC", "Celsius": "degC", "degree_Celsius": "degC", "°C": "degC"}


def _convert_units(da: xr.DataArray, var: VariableSpec, source_units: str | None) -> tuple[xr.DataArray, str]:
    target = var.units or source_units
    if not target:
        raise SourceError(f"variable {var.name!r}: the source gives no units; set units in the spec")
    if not source_units or source_units == target:
        return da, target
    pair = (_UNIT_ALIASES.get(source_units), _UNIT_ALIASES.get(target))
    if pair == ("K", "degC"):
        return da - 273.15, target
    if pair == ("degC", "K"):
        return da + 273.15, target
    if pair[0] is not None and pair[0] == pair[1]:
        return da, target
    raise SourceError(f"variable {var.name!r}: cannot convert units from {source_units!r} to {target!r}")


def _variable_attrs(var: VariableSpec, source_attrs: dict[str, Any], units: str) -> dict[str, Any]:
    attrs = {
        k: v for k, v in source_attrs.items() if k in ("standard_name", "long_name", "comment", "references", "source")
    }
    attrs.update(var.attrs)
    attrs["units"] = units
    attrs["grid_mapping"] = "crs"
    attrs["cell_methods"] = f"area: {var.spatial_aggregation} time: {var.temporal_aggregation}"
    attrs.setdefault("long_name", var.name)
    return attrs


def _by_source(spec: CubeSpec) -> dict[str, list[VariableSpec]]:
    by_source: dict[str, list[VariableSpec]] = defaultdict(list)
    for var in spec.variables:
        by_source[var.source].append(var)
    return by_source


def _check_variables(ds: xr.Dataset, source_name: str, variables: list[VariableSpec]) -> None:
    for var in variables:
        if var.source_name not in ds.data_vars:
            known = ", ".join(sorted(str(v) for v in ds.data_vars))
            raise SourceError(
                f"variable {var.name!r}: source {source_name!r} has no variable {var.source_name!r} (it has: {known})"
            )


def check_sources(spec: CubeSpec) -> None:
    """Open every source of ``spec`` and check it has the variables the spec takes from it (nothing is read).

    Raises:
        SourceError: A source cannot be opened, or lacks a variable; the message names both.
    """
    for source_name, variables in _by_source(spec).items():
        _check_variables(open_source(source_name, spec.sources[source_name]), source_name, variables)


def build_variables(spec: CubeSpec, grid: TargetGrid, axis: TimeAxis) -> dict[str, xr.DataArray]:
    """The cube's data variables, lazily computed, keyed by name (``<name>_count`` included where asked)."""
    result: dict[str, xr.DataArray] = {}
    for source_name, variables in _by_source(spec).items():
        ds = open_source(source_name, spec.sources[source_name])
        _check_variables(ds, source_name, variables)
        # regrid each (source variable, spatial method) once, even if several cube variables use it
        keys = sorted({(v.source_name, v.spatial_aggregation) for v in variables})
        spatial: dict[tuple[str, str], xr.DataArray] = {}
        for method in sorted({m for _, m in keys}):
            names = [n for n, m in keys if m == method]
            sub = ds[names].rename({n: f"{n}__{method}" for n in names})
            regridded = regrid_space(sub, grid, {f"{n}__{method}": method for n in names})
            for n in names:
                spatial[(n, method)] = regridded[f"{n}__{method}"]
        for var in variables:
            field = spatial[(var.source_name, var.spatial_aggregation)]
            source_attrs = dict(ds[var.source_name].attrs)
            data, units = _convert_units(field, var, source_attrs.get("units"))
            out = aggregate_time(data, axis, var.temporal_aggregation).astype(np.float32)
            out.attrs = _variable_attrs(var, source_attrs, units)
            result[var.name] = out
            if var.count_valid:
                count = aggregate_time(field, axis, "count").astype(np.int32)
                count.attrs = {
                    "units": "1",
                    "long_name": f"number of valid inputs of {var.name}",
                    "grid_mapping": "crs",
                }
                result[f"{var.name}_count"] = count
    return result


def global_attrs(spec: CubeSpec, grid: TargetGrid, axis: TimeAxis) -> dict[str, Any]:
    """CF-1.9 and ACDD-1.3 global attributes (spec metadata wins over computed defaults)."""
    lon0, lat0, lon1, lat1 = grid.geographic_bounds()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    attrs: dict[str, Any] = {
        "Conventions": "CF-1.9, ACDD-1.3",
        "title": spec.name,
        "summary": f"Earth System Data Cube {spec.name} built by esdl",
        "id": spec.name,
        "product_version": spec.version,
        "date_created": now,
        "history": f"{now}: built by esdl {__version__}",
        "geospatial_lon_min": lon0,
        "geospatial_lon_max": lon1,
        "geospatial_lat_min": lat0,
        "geospatial_lat_max": lat1,
        "geospatial_lon_units": "degrees_east",
        "geospatial_lat_units": "degrees_north",
        "time_coverage_start": str(np.datetime_as_string(axis.starts[0], unit="s")),
        "time_coverage_end": str(np.datetime_as_string(axis.ends[-1], unit="s")),
        "time_coverage_resolution": spec.time.period,
        "esdl_spec_fingerprint": spec.fingerprint(),
    }
    attrs.update(spec.metadata)
    return attrs


def build_cube(spec: CubeSpec) -> xr.Dataset:
    """The complete cube as a lazy dataset, chunked as it will be written."""
    grid = TargetGrid(spec.grid)
    axis = build_time_axis(spec.time)
    ydim, xdim = grid.dims
    yattrs, xattrs = grid.coord_attrs()
    coords = {
        "time": (
            "time",
            axis.labels,
            {"standard_name": "time", "long_name": "time", "axis": "T", "bounds": "time_bnds"},
        ),
        ydim: (ydim, grid.y, yattrs),
        xdim: (xdim, grid.x, xattrs),
        "time_bnds": (("time", "bnds"), axis.bounds),
        f"{ydim}_bnds": ((ydim, "bnds"), grid.bounds("y")),
        f"{xdim}_bnds": ((xdim, "bnds"), grid.bounds("x")),
        "crs": ((), np.int32(0), grid.grid_mapping_attrs()),
    }
    block = spec.shards or spec.chunks
    chunks = {"time": block.time, ydim: block.y, xdim: block.x}
    variables = build_variables(spec, grid, axis)
    # dask chunks of a data variable must not straddle a shard (or chunk) of the store: one block each
    ds = xr.Dataset(
        {
            k: v.drop_vars([c for c in v.coords if c != "time"]).transpose("time", ydim, xdim).chunk(chunks)
            for k, v in variables.items()
        }
    )
    ds = ds.drop_vars("time").assign_coords(coords)
    ds.attrs = global_attrs(spec, grid, axis)
    return ds


def encoding(spec: CubeSpec, ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Zarr v3 encodings: chunks (and shards) from the spec, time as int64 seconds, NaN fill for floats."""
    enc: dict[str, dict[str, Any]] = {"time": dict(TIME_ENCODING), "time_bnds": dict(TIME_ENCODING)}
    c = spec.chunks
    for name, var in ds.data_vars.items():
        e: dict[str, Any] = {"chunks": (c.time, c.y, c.x)}
        if spec.shards is not None:
            e["shards"] = (spec.shards.time, spec.shards.y, spec.shards.x)
        e["fill_value"] = np.float32(np.nan) if var.dtype.kind == "f" else 0
        enc[str(name)] = e
    return enc
