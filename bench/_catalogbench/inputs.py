"""The benchmark's own cube and region set, generated deterministically from a seed.

The cube: 0.25° over Europe (cell edges [-25, 45] × [35, 72], 148 × 280 cells, latitude ascending as esdl
writes cubes), 8-day bins restarting every 1 January (46 a year, the last one 5 or 6 days long; ``time`` is
the bin's centre, ``time_bnds`` its edges), two float32 variables chunked ``(46, 148, 280)`` in a Zarr
format 3 store with CF attributes and a ``crs`` grid-mapping variable (EPSG:4326 WKT):

* ``t2m`` (K): a latitude gradient, a seasonal cycle, smooth waves and noise; 1 % of the values missing;
* ``ndvi`` (1): a seasonal vegetation index over land only (a smooth land/sea mask leaves about a third of
  the cells NaN at every step) with 3 % more missing values (clouds).

The regions: irregular star-shaped polygons of radius 0.05° to 5° (log-uniform, so some cover less than one
cell, the largest about 1,700 cells) across the box, some crossing its edge; one in five has a hole and about
one in six is a MultiPolygon of two or three disjoint parts. All are valid (checked with esdl's own region
checks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyproj
import shapely
import xarray as xr

if TYPE_CHECKING:
    from semantic.store.regions import RegionSet

GENERATOR_VERSION = 1
"""Bumped whenever the generated cube changes, so that a cube cached in ``--workdir`` is rewritten."""

BBOX = (-25.0, 35.0, 45.0, 72.0)
RES = 0.25
START_YEAR = 2010
BINS_PER_YEAR = 46
BIN_DAYS = 8
VARIABLES = ("ndvi", "t2m")
CUBE_ID = "bench-catalog-load"
REGION_SOURCE = "bench-catalog-load-regions"


def time_axis(years: int) -> tuple[np.ndarray, np.ndarray]:
    """``(centres, bounds)`` of the 8-day bins of ``years`` years from 1 January 2010 (``datetime64[ns]``)."""
    starts, ends = [], []
    for year in range(START_YEAR, START_YEAR + years):
        first, next_year = pd.Timestamp(f"{year}-01-01"), pd.Timestamp(f"{year + 1}-01-01")
        for k in range(BINS_PER_YEAR):
            start = first + pd.Timedelta(days=BIN_DAYS * k)
            starts.append(start)
            ends.append(min(start + pd.Timedelta(days=BIN_DAYS), next_year))
    lo, hi = pd.DatetimeIndex(starts).to_numpy(), pd.DatetimeIndex(ends).to_numpy()
    return lo + (hi - lo) / 2, np.stack([lo, hi], axis=1)


def _fields(times: np.ndarray, lat: np.ndarray, lon: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    doy = pd.DatetimeIndex(times).dayofyear.to_numpy().astype(np.float64)[:, None, None]
    la, lo = lat[None, :, None], lon[None, None, :]
    shape = (len(times), len(lat), len(lon))
    season = np.sin(2 * np.pi * (doy - 110) / 365.25)
    t2m = (
        283.0
        - 0.6 * (la - 50)
        + 10 * season * (0.6 + (la - 35) / 60)
        + 2.5 * np.sin(lo / 7) * np.cos(la / 5)
        + rng.normal(0.0, 1.0, shape)
    )
    t2m[rng.random(shape) < 0.01] = np.nan
    land = (np.sin(np.radians(lo) * 12) + np.cos(np.radians(la) * 19) + 0.6 * np.sin(np.radians(lo + la) * 7)) > -0.45
    green = np.sin(2 * np.pi * (doy - 80) / 365.25)
    ndvi = 0.45 + 0.25 * green * np.cos(np.radians(la)) - 0.003 * (la - 50) + rng.normal(0.0, 0.05, shape)
    ndvi = np.where(land & (rng.random(shape) >= 0.03), ndvi, np.nan)
    return {"t2m": t2m.astype(np.float32), "ndvi": ndvi.astype(np.float32)}


def make_cube(path: Path, years: int, seed: int = 0) -> tuple[Path, bool]:
    """Write the cube to ``path`` (a Zarr format 3 store) unless an identical one is there already.

    Returns:
        The path and whether it was (re)written.
    """
    marker = {"generator": GENERATOR_VERSION, "years": years, "seed": seed}
    stamp = path.with_suffix(".json")
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == marker:
        return path, False
    ny, nx = round((BBOX[3] - BBOX[1]) / RES), round((BBOX[2] - BBOX[0]) / RES)
    lat = BBOX[1] + (np.arange(ny) + 0.5) * RES
    lon = BBOX[0] + (np.arange(nx) + 0.5) * RES
    times, bounds = time_axis(years)
    fields = _fields(times, lat, lon, seed)
    attrs = {
        "t2m": {"units": "K", "long_name": "air temperature at 2 m", "standard_name": "air_temperature"},
        "ndvi": {"units": "1", "long_name": "normalised difference vegetation index"},
    }
    data_vars = {
        name: (
            ("time", "lat", "lon"),
            fields[name],
            {**attrs[name], "grid_mapping": "crs", "cell_methods": "area: mean time: mean"},
        )
        for name in VARIABLES
    }
    ds = xr.Dataset(
        {
            **data_vars,
            "time_bnds": (("time", "bnds"), bounds),
            "crs": (
                (),
                np.int32(0),
                {"crs_wkt": pyproj.CRS.from_epsg(4326).to_wkt(), "grid_mapping_name": "latitude_longitude"},
            ),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "bounds": "time_bnds"}),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={
            "Conventions": "CF-1.9, ACDD-1.3",
            "id": CUBE_ID,
            "product_version": "1",
            "title": "catalogue-load benchmark cube (synthetic)",
            "summary": "Synthetic 8-daily 0.25 degree cube over Europe written by bench/catalog_load.py",
        },
    )
    chunks = (BINS_PER_YEAR, ny, nx)
    encoding: dict[str, dict[str, Any]] = {name: {"chunks": chunks} for name in VARIABLES}
    encoding["time"] = {"units": "hours since 2000-01-01", "dtype": "int64"}
    encoding["time_bnds"] = {"units": "hours since 2000-01-01", "dtype": "int64"}
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
    stamp.write_text(json.dumps(marker))
    return path, True


def _star(rng: np.random.Generator, cx: float, cy: float, radius: float, k: int | None = None) -> np.ndarray:
    """A closed ring of an irregular star-shaped polygon around ``(cx, cy)``.

    Angles ascend with gaps below π, so the ring is simple, and its edges stay farther than 0.3 ``radius`` from
    the centre (room for a hole).
    """
    k = k or int(rng.integers(7, 40))
    angles = (np.arange(k) + rng.uniform(0.0, 0.8, k)) * (2 * np.pi / k)
    radii = radius * rng.uniform(0.55, 1.0, k)
    squeeze = 1 / max(np.cos(np.radians(cy)), 0.3)  # roughly round on the ground
    ring = np.column_stack([cx + squeeze * radii * np.cos(angles), cy + radii * np.sin(angles)])
    return np.vstack([ring, ring[:1]])


@dataclass(frozen=True)
class Region:
    """A generated region: its name, shape kind and geometry (a valid MultiPolygon, EPSG:4326)."""

    name: str
    shape: str
    radius_deg: float
    geom: shapely.MultiPolygon


def make_regions(n: int, seed: int = 0) -> list[Region]:
    """``n`` deterministic, valid regions (see the module documentation)."""
    from semantic.store.regions import check_geometry

    rng = np.random.default_rng(seed + 1)
    xmin, ymin, xmax, ymax = BBOX
    out: list[Region] = []
    for i in range(n):
        radius = float(np.exp(rng.uniform(np.log(0.05), np.log(5.0))))
        cx, cy = float(rng.uniform(xmin + 1, xmax - 1)), float(rng.uniform(ymin + 1, ymax - 1))
        draw = rng.random()
        if draw < 0.2:
            shape = "holed"
            hole = _star(rng, cx, cy, 0.25 * radius)[::-1]  # radii below 0.25 r: inside the outer ring
            geom = shapely.Polygon(_star(rng, cx, cy, radius), [hole])
        elif draw < 0.2 + 1 / 6:
            shape = "multi"
            parts = [shapely.Polygon(_star(rng, cx, cy, radius))]
            for _ in range(int(rng.integers(1, 3))):
                angle = rng.uniform(0, 2 * np.pi)
                r = radius * rng.uniform(0.3, 0.8)
                dist = (radius + r) * rng.uniform(1.3, 2.0) / max(np.cos(np.radians(cy)), 0.3)
                part = shapely.Polygon(_star(rng, cx + dist * np.cos(angle), cy + dist * np.sin(angle), r))
                if not any(part.intersects(p) for p in parts):
                    parts.append(part)
            geom = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
        else:
            shape = "star"
            geom = shapely.Polygon(_star(rng, cx, cy, radius))
        multi, repaired = check_geometry(f"region {i}", geom, repair=False)
        assert not repaired
        out.append(Region(f"r{i + 1:03d}", shape, radius, multi))
    return out


def region_set(regions: list[Region]) -> RegionSet:
    """The regions as the catalogue's :class:`~semantic.store.regions.RegionSet`."""
    from semantic.store.regions import RegionRecord, RegionSet

    records = [
        RegionRecord(r.name, r.geom, {"shape": r.shape, "radius_deg": round(r.radius_deg, 4)}, kind="bench")
        for r in regions
    ]
    return RegionSet(REGION_SOURCE, records)
