"""Cubes in the catalogue: describe a published Zarr cube and register it with its variables.

A cube is keyed by ``(name, version)`` (ACDD ``id`` and ``product_version``). Registering it again from the
same build changes nothing. Registering a rebuilt cube (another spec or another published store) updates its
row and removes the statistics and features of its variables, which described the previous data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
import sqlalchemy as sa
import xarray as xr

from semantic.errors import CatalogError


@dataclass(frozen=True)
class VariableRecord:
    """A data variable and its summary statistics over the whole cube."""

    name: str
    dtype: str
    units: str | None
    long_name: str | None
    standard_name: str | None
    spatial_aggregation: str | None
    temporal_aggregation: str | None
    valid_fraction: float | None
    min: float | None
    max: float | None
    mean: float | None
    std: float | None


@dataclass(frozen=True)
class CubeRecord:
    """What the catalogue records of a cube."""

    name: str
    version: str
    title: str | None
    location: str
    store_path: str
    crs: str
    footprint: shapely.MultiPolygon
    resolution: tuple[float, float]
    time_start: dt.datetime
    time_end: dt.datetime
    times: np.ndarray
    spec_hash: str
    created: dt.datetime
    attrs: dict[str, Any]
    variables: tuple[VariableRecord, ...]
    stac: dict[str, Any] | None = None  # the STAC Collection beside the store (``cubes.stac``), if any

    def variable(self, name: str) -> VariableRecord:
        """The variable called ``name``.

        Raises:
            CatalogError: The cube has no such variable (the message lists those it has).
        """
        for var in self.variables:
            if var.name == name:
                return var
        raise CatalogError(
            f"cube {self.name} has no variable {name!r} (variables: {', '.join(v.name for v in self.variables)})"
        )


def _utc(value: Any) -> dt.datetime:
    """A ``datetime64`` (UTC by convention) as an aware ``datetime``."""
    ts: dt.datetime = np.asarray(value).astype("datetime64[us]").item()
    return ts.replace(tzinfo=dt.UTC)


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(attrs, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def _cell_methods(attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(spatial, temporal)`` aggregation from CF ``cell_methods`` such as ``area: mean time: max``."""
    words = str(attrs.get("cell_methods", "")).replace(":", " : ").split()
    methods: dict[str, str] = {}
    for i in range(len(words) - 2):
        if words[i + 1] == ":":
            methods[words[i]] = words[i + 2]
    return methods.get("area"), methods.get("time")


def _footprint(grid: Any) -> shapely.MultiPolygon:
    rx, ry = abs(float(grid.x[1] - grid.x[0])), abs(float(grid.y[1] - grid.y[0]))
    x0, x1 = float(grid.x.min()) - rx / 2, float(grid.x.max()) + rx / 2
    y0, y1 = float(grid.y.min()) - ry / 2, float(grid.y.max()) + ry / 2
    box = shapely.box(x0, y0, x1, y1)
    if not grid.geographic:
        tr = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        ring = np.asarray(shapely.segmentize(box, max(x1 - x0, y1 - y0) / 64).exterior.coords)
        lon, lat = tr.transform(ring[:, 0], ring[:, 1])
        box = shapely.make_valid(shapely.Polygon(np.column_stack([lon, lat])))
    if isinstance(box, shapely.Polygon):
        return shapely.MultiPolygon([box])
    return shapely.MultiPolygon([g for g in getattr(box, "geoms", []) if isinstance(g, shapely.Polygon)])


def _crs_text(crs: pyproj.CRS) -> str:
    code = crs.to_authority(min_confidence=90)
    return f"{code[0]}:{code[1]}" if code else crs.to_wkt()


def _variable_stats(ds: xr.Dataset, store: Path) -> dict[str, dict[str, Any]]:
    """Summary statistics written by the build (``stats.json`` beside the store), else computed now."""
    recorded = store.parent / "stats.json"
    if recorded.exists():
        return {row["name"]: row for row in json.loads(recorded.read_text())}
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.data_vars.items():
        data = var.astype("float64")
        valid = data.notnull()
        out[str(name)] = {
            "valid_fraction": valid.mean().values,
            "min": data.min().values,
            "max": data.max().values,
            "mean": data.mean().values,
            "std": data.std().values,
        }
    import dask

    return {k: dict(zip(v, dask.compute(*v.values()), strict=True)) for k, v in out.items()}


def cube_variables(ds: xr.Dataset) -> list[str]:
    """The cube's data variables on ``(time, y, x)``, sorted by name."""
    return sorted(str(n) for n, v in ds.data_vars.items() if v.ndim == 3 and v.dims[0] == "time")


def describe_cube(location: str | Path, with_stats: bool = True) -> tuple[CubeRecord, xr.Dataset]:
    """Describe the cube published at ``location`` and open it lazily.

    Args:
        location: The published path.
        with_stats: Summary statistics of the variables: the build's, or computed now when it recorded none.

    Raises:
        CatalogError: No cube there, or one without a regular grid or a time axis.
    """
    from cubes.errors import CubeError
    from cubes.gridgeometry import GridGeometry
    from cubes.verify import open_cube

    path = Path(location).absolute()
    if not path.exists():
        raise CatalogError(f"unknown cube: {location} does not exist")
    store = path.resolve()
    try:
        ds = open_cube(store)
        grid = GridGeometry.from_dataset(ds)
    except CubeError as err:
        raise CatalogError(f"{location}: {err}") from err
    if "time" not in ds.coords or ds.sizes.get("time", 0) == 0:
        raise CatalogError(f"{location}: the cube has no time axis")
    attrs = dict(ds.attrs)
    times = ds["time"].values
    if "time_bnds" in ds.variables:
        bnds = ds["time_bnds"].values
        start, end = bnds[0, 0], bnds[-1, 1]
    else:
        start, end = times[0], times[-1]
    spec_hash = (
        attrs.get("esdl_spec_fingerprint")
        or hashlib.sha256(
            json.dumps(_json_attrs(attrs), sort_keys=True).encode() + str(dict(ds.sizes)).encode()
        ).hexdigest()[:16]
    )
    created = attrs.get("date_created")
    created_at = (
        dt.datetime.fromisoformat(str(created))
        if created
        else dt.datetime.fromtimestamp(store.stat().st_mtime, dt.UTC).replace(microsecond=0)
    )
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    stats = _variable_stats(ds, store) if with_stats else {}
    variables = []
    for name in cube_variables(ds):
        var = ds[name]
        spatial, temporal = _cell_methods(var.attrs)
        st = stats.get(name, {})
        variables.append(
            VariableRecord(
                name=name,
                dtype=str(var.dtype),
                units=var.attrs.get("units"),
                long_name=var.attrs.get("long_name"),
                standard_name=var.attrs.get("standard_name"),
                spatial_aggregation=spatial,
                temporal_aggregation=temporal,
                valid_fraction=_finite(st["valid_fraction"]) if "valid_fraction" in st else None,
                min=_finite(st["min"]) if st.get("min") is not None else None,
                max=_finite(st["max"]) if st.get("max") is not None else None,
                mean=_finite(st["mean"]) if st.get("mean") is not None else None,
                std=_finite(st["std"]) if st.get("std") is not None else None,
            )
        )
    if not variables:
        raise CatalogError(f"{location}: the cube has no data variables on (time, y, x)")
    record = CubeRecord(
        name=str(attrs.get("id") or path.name.removesuffix(".zarr")),
        version=str(attrs.get("product_version") or "1"),
        title=attrs.get("title"),
        location=str(path),
        store_path=str(store),
        crs=_crs_text(grid.crs),
        footprint=_footprint(grid),
        resolution=(abs(float(grid.x[1] - grid.x[0])), abs(float(grid.y[1] - grid.y[0]))),
        time_start=_utc(start),
        time_end=_utc(end),
        times=times,
        spec_hash=str(spec_hash),
        created=created_at,
        attrs=_json_attrs(attrs),
        variables=tuple(variables),
        stac=_collection(store),
    )
    return record, ds


def _collection(store: Path) -> dict[str, Any] | None:
    """The STAC Collection a build wrote beside ``store`` (``collection.json``), checked; ``None`` when there is
    none (a cube that esdl did not build, or one built before builds wrote them).

    Raises:
        CatalogError: It is there but unreadable or invalid.
    """
    from cubes.stac import COLLECTION_FILE, validate

    path = store.parent / COLLECTION_FILE
    if not path.is_file():
        return None
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(collection, dict):
            raise ValueError("not a JSON object")
        validate(collection)
    except ValueError as err:  # (json's errors are ValueErrors)
        raise CatalogError(f"{path}: {err}") from None
    return collection


def register_cube(conn: sa.Connection, cube: CubeRecord) -> tuple[int, dict[str, int]]:
    """Insert or update ``cube`` and its variables (in the caller's transaction).

    Returns:
        The cube's id and its variables' ids by name.
    """
    params = {
        "name": cube.name,
        "version": cube.version,
        "title": cube.title,
        "location": cube.location,
        "store_path": cube.store_path,
        "crs": cube.crs,
        "wkb": shapely.to_wkb(cube.footprint),
        "rx": cube.resolution[0],
        "ry": cube.resolution[1],
        "t0": cube.time_start,
        "t1": cube.time_end,
        "nt": len(cube.times),
        "spec_hash": cube.spec_hash,
        "created": cube.created,
        "attrs": json.dumps(cube.attrs, sort_keys=True),
        "stac": json.dumps(cube.stac) if cube.stac is not None else None,
    }
    old = conn.execute(
        sa.text("SELECT id, spec_hash, store_path FROM cube WHERE name = :name AND version = :version FOR UPDATE"),
        params,
    ).one_or_none()
    values = (
        "title = :title, location = :location, store_path = :store_path, crs = :crs, "
        "footprint = ST_GeomFromWKB(:wkb, 4326), resolution_x = :rx, resolution_y = :ry, time_start = :t0, "
        "time_end = :t1, time_steps = :nt, spec_hash = :spec_hash, created = :created, "
        "attrs = CAST(:attrs AS jsonb), stac = CAST(:stac AS jsonb)"
    )
    if old is None:
        cube_id = conn.execute(
            sa.text(
                "INSERT INTO cube (name, version, title, location, store_path, crs, footprint, resolution_x, "
                "resolution_y, time_start, time_end, time_steps, spec_hash, created, attrs, stac) VALUES (:name, "
                ":version, :title, :location, :store_path, :crs, ST_GeomFromWKB(:wkb, 4326), :rx, :ry, :t0, :t1, "
                ":nt, :spec_hash, :created, CAST(:attrs AS jsonb), CAST(:stac AS jsonb)) RETURNING id"
            ),
            params,
        ).scalar_one()
    else:
        cube_id = old.id
        conn.execute(sa.text(f"UPDATE cube SET {values} WHERE id = :id"), {**params, "id": cube_id})
        if old.spec_hash != cube.spec_hash or old.store_path != cube.store_path:
            # the data changed: statistics and features of the previous build no longer hold
            for table in ("zonal_stat", "feature"):
                conn.execute(
                    sa.text(f"DELETE FROM {table} WHERE variable_id IN (SELECT id FROM variable WHERE cube_id = :c)"),
                    {"c": cube_id},
                )
    names = [v.name for v in cube.variables]
    conn.execute(
        sa.text("DELETE FROM variable WHERE cube_id = :c AND NOT (name = ANY(:names))"), {"c": cube_id, "names": names}
    )
    ids: dict[str, int] = {}
    for var in cube.variables:
        ids[var.name] = conn.execute(
            sa.text(
                "INSERT INTO variable (cube_id, name, units, long_name, standard_name, spatial_aggregation, "
                "temporal_aggregation, dtype, valid_fraction, min, max, mean, std) VALUES (:c, :name, :units, "
                ":long_name, :standard_name, :spatial_aggregation, :temporal_aggregation, :dtype, :valid_fraction, "
                ":min, :max, :mean, :std) ON CONFLICT (cube_id, name) DO UPDATE SET units = EXCLUDED.units, "
                "long_name = EXCLUDED.long_name, standard_name = EXCLUDED.standard_name, "
                "spatial_aggregation = EXCLUDED.spatial_aggregation, "
                "temporal_aggregation = EXCLUDED.temporal_aggregation, dtype = EXCLUDED.dtype, "
                "valid_fraction = EXCLUDED.valid_fraction, min = EXCLUDED.min, max = EXCLUDED.max, "
                "mean = EXCLUDED.mean, std = EXCLUDED.std RETURNING id"
            ),
            {"c": cube_id, **var.__dict__},
        ).scalar_one()
    return int(cube_id), ids


def list_cubes(conn: sa.Connection) -> list[sa.Row[Any]]:
    """Every registered cube with its variable, statistic and feature counts."""
    return list(
        conn.execute(
            sa.text(
                "SELECT c.name, c.version, c.location, c.time_start, c.time_end, c.time_steps, "
                "string_agg(DISTINCT v.name, ',') AS variables, "
                "(SELECT count(*) FROM zonal_stat z JOIN variable w ON w.id = z.variable_id "
                "WHERE w.cube_id = c.id) AS zonal_stats, "
                "(SELECT count(*) FROM feature f JOIN variable w ON w.id = f.variable_id "
                "WHERE w.cube_id = c.id) AS features "
                "FROM cube c LEFT JOIN variable v ON v.cube_id = c.id GROUP BY c.id ORDER BY c.name, c.version"
            )
        ).all()
    )
