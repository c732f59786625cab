"""A deterministic synthetic source for tests and benchmarks, generated lazily chunk by chunk.

Options (all optional): ``bbox`` ([xmin, ymin, xmax, ymax], default the globe), ``resolution`` (degrees,
default 0.25), ``start``/``end`` (dates, default 2020-01-01..2020-12-31), ``freq`` (pandas frequency, default
``1D``), ``variables`` (names, default ``["a"]``), ``nan_fraction`` (share of missing values, default 0),
``chunks`` ({time, y, x}, default {time: 8, y: 512, x: 512}), ``seed`` (default 0), ``dtype`` (default float32).

The value of variable ``k`` at (t, lat, lon) is a smooth field plus a hash-based perturbation, so a value
can be recomputed independently from its coordinates (see :func:`synthetic_values`).
"""

from __future__ import annotations

from typing import Any

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from cubes.sources.base import register_source
from cubes.spec import SourceSpec


def synthetic_values(
    k: int,
    t: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    seed: int = 0,
    nan_fraction: float = 0.0,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Values on the outer product of day numbers ``t`` and cell centres ``lat``, ``lon``."""
    tt = t[:, None, None].astype(np.float64)
    la = lat[None, :, None]
    lo = lon[None, None, :]
    base = 280.0 + 20 * np.cos(np.deg2rad(la)) + 5 * np.sin(2 * np.pi * tt / 365.25 + np.deg2rad(lo)) + k
    # integer hash of (t, lat index, lon index) for a reproducible perturbation
    ti = np.round(tt).astype(np.int64)
    yi = np.round(la * 1000).astype(np.int64)
    xi = np.round(lo * 1000).astype(np.int64)
    h = (ti * 73856093) ^ (yi * 19349663) ^ (xi * 83492791) ^ (seed * 2654435761 + k)
    h = (h ^ (h >> 13)) * 1274126177
    u = ((h >> 8) & 0xFFFF).astype(np.float64) / 65535.0
    values = base + (u - 0.5)
    if nan_fraction > 0:
        values = np.where(u < nan_fraction, np.nan, values)
    return values.astype(dtype)


def synthetic_dataset(options: dict[str, Any]) -> xr.Dataset:
    """Build the lazy synthetic dataset for ``options`` (see the module documentation)."""
    xmin, ymin, xmax, ymax = options.get("bbox", (-180.0, -90.0, 180.0, 90.0))
    res = float(options.get("resolution", 0.25))
    times = pd.date_range(
        options.get("start", "2020-01-01"), options.get("end", "2020-12-31"), freq=options.get("freq", "1D")
    )
    lat = ymin + (np.arange(round((ymax - ymin) / res)) + 0.5) * res
    lon = xmin + (np.arange(round((xmax - xmin) / res)) + 0.5) * res
    chunks = {"time": 8, "y": 512, "x": 512, **options.get("chunks", {})}
    seed = int(options.get("seed", 0))
    nan_fraction = float(options.get("nan_fraction", 0.0))
    dtype = np.dtype(options.get("dtype", "float32"))
    days = ((times - pd.Timestamp("2000-01-01")) / pd.Timedelta(days=1)).to_numpy()
    data_vars = {}
    for k, var in enumerate(options.get("variables", ["a"])):
        template = dsa.zeros(
            (len(times), len(lat), len(lon)), dtype=dtype, chunks=(chunks["time"], chunks["y"], chunks["x"])
        )

        def block(x: np.ndarray, block_info: Any = None, k: int = k) -> np.ndarray:
            (t0, t1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
            return synthetic_values(k, days[t0:t1], lat[y0:y1], lon[x0:x1], seed, nan_fraction, dtype)

        data = template.map_blocks(block, dtype=dtype)
        data_vars[var] = xr.DataArray(
            data, dims=("time", "lat", "lon"), attrs={"units": "K", "long_name": f"synthetic {var}"}
        )
    coords = {
        "time": times.to_numpy(),
        "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
    }
    return xr.Dataset(data_vars, coords=coords)


def open_synthetic(name: str, spec: SourceSpec, path: str) -> xr.Dataset:
    """Opener for ``kind: synthetic``."""
    return synthetic_dataset(spec.options)


register_source("synthetic", open_synthetic)
