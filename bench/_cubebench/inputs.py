"""Synthetic benchmark inputs, generated block by block and cached in the work folder.

Source A: a daily 0.05° float32 field (``t2m``, K) on a 40° × 25° European box, a Zarr format 3 store chunked
``(8, 500, 800)``; about 2 GB (1,250 days) at scale 1. Source B: a daily 0.3° field (``lst``, K) on a grid
offset from the target grid, a chunked NetCDF-4 file. Both carry a smooth field, a seasonal cycle, noise and
about 2 % randomly missing values.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import dask.array as da
import netCDF4
import numpy as np
import pandas as pd
import xarray as xr
import zarr

GENERATOR_VERSION = 2
"""Bumped whenever the generated data change, so that cached inputs are regenerated."""

START = "2001-01-01"
DAYS_AT_SCALE_1 = 1250
MISSING_FRACTION = 0.02

# Source A: cell edges [-10, 30] x [35, 60] at 0.05 degrees, which is also the target bbox.
A_BBOX = (-10.0, 35.0, 30.0, 60.0)
A_RES = 0.05
A_TIME_CHUNK = 8
A_VAR = "t2m"

# Source B: 0.3 degrees, its edges offset from the target grid's, covering the target with a margin so that
# linear interpolation onto it needs no extrapolation.
B_ORIGIN = (-11.12, 33.93)
B_SHAPE = (91, 141)  # (lat, lon)
B_RES = 0.3
B_TIME_CHUNK = 32
B_VAR = "lst"


@dataclass(frozen=True)
class InputSet:
    """The generated inputs of one scale.

    Attributes:
        scale: Scale factor; 1 is about 2 GB of source A.
        days: Number of daily time steps.
        start: First day (ISO date).
        end: Last day, inclusive (ISO date).
        path_a: Source A, a Zarr format 3 store.
        path_b: Source B, a NetCDF-4 file.
        bytes_a: Uncompressed size of source A's data variable.
        bytes_b: Uncompressed size of source B's data variable.
        disk_bytes: Size of both on disk.
    """

    scale: float
    days: int
    start: str
    end: str
    path_a: str
    path_b: str
    bytes_a: int
    bytes_b: int
    disk_bytes: int

    @property
    def bytes_total(self) -> int:
        """Uncompressed size of both sources' data variables."""
        return self.bytes_a + self.bytes_b


def days_for_scale(scale: float) -> int:
    """Number of days of input at ``scale`` (at least 16, so that a few 8-day bins exist)."""
    return max(16, round(DAYS_AT_SCALE_1 * scale))


def cell_centres(origin: float, res: float, n: int) -> np.ndarray:
    """``n`` cell centres of cells of size ``res`` whose first edge is ``origin``."""
    return (origin + (np.arange(n) + 0.5) * res).astype("float64")


def a_coords() -> tuple[np.ndarray, np.ndarray]:
    """Source A's ``(lat, lon)`` cell centres, ascending."""
    xmin, ymin, xmax, ymax = A_BBOX
    nlat, nlon = round((ymax - ymin) / A_RES), round((xmax - xmin) / A_RES)
    return cell_centres(ymin, A_RES, nlat), cell_centres(xmin, A_RES, nlon)


def b_coords() -> tuple[np.ndarray, np.ndarray]:
    """Source B's ``(lat, lon)`` cell centres, ascending."""
    return cell_centres(B_ORIGIN[1], B_RES, B_SHAPE[0]), cell_centres(B_ORIGIN[0], B_RES, B_SHAPE[1])


def _field(
    lat: np.ndarray, lon: np.ndarray, times: pd.DatetimeIndex, seed: int, mean: float, noise: float
) -> np.ndarray:
    """A ``(time, lat, lon)`` float32 block: smooth field + seasonal cycle + noise, with missing values."""
    rng = np.random.default_rng(seed)
    la, lo = np.meshgrid(lat.astype("float32"), lon.astype("float32"), indexing="ij")
    base = mean - 0.6 * (la - 47.5) + 3.0 * np.sin(np.radians(lo) * 9.0) * np.cos(np.radians(la) * 6.0)
    doy = times.dayofyear.to_numpy().astype("float32")
    season = (10.0 * np.cos(2 * np.pi * (doy - 200.0) / 365.25)).astype("float32")
    block = rng.standard_normal((len(times), *base.shape), dtype=np.float32)
    block *= np.float32(noise)
    block += base[None]
    block += season[:, None, None]
    block[rng.random(block.shape, dtype=np.float32) < MISSING_FRACTION] = np.nan
    return block


def _write_a(path: Path, times: pd.DatetimeIndex, workers: int) -> None:
    lat, lon = a_coords()
    template = xr.Dataset(
        {
            A_VAR: (
                ("time", "lat", "lon"),
                da.empty((len(times), lat.size, lon.size), dtype="float32", chunks=(A_TIME_CHUNK, lat.size, lon.size)),
                {"units": "K", "long_name": "synthetic 2 m air temperature"},
            )
        },
        coords={
            "time": ("time", times.to_numpy(), {"standard_name": "time"}),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}),
        },
        attrs={"title": "esdl benchmark source A (synthetic, daily, 0.05 degrees)"},
    )
    template.to_zarr(
        path,
        mode="w",
        zarr_format=3,
        compute=False,
        consolidated=False,
        encoding={A_VAR: {"chunks": (A_TIME_CHUNK, lat.size, lon.size)}},
    )
    array = zarr.open_array(str(path), path=A_VAR, mode="r+")

    def write_block(i0: int) -> None:
        i1 = min(i0 + A_TIME_CHUNK, len(times))
        array[i0:i1] = _field(lat, lon, times[i0:i1], seed=i0, mean=285.0, noise=1.5)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(write_block, range(0, len(times), A_TIME_CHUNK)))
    with warnings.catch_warnings():  # consolidated metadata is a zarr-python extension in format 3
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path))


def _write_b(path: Path, times: pd.DatetimeIndex) -> None:
    lat, lon = b_coords()
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.title = "esdl benchmark source B (synthetic, daily, 0.3 degrees, offset grid)"
        nc.Conventions = "CF-1.8"
        nc.createDimension("time", len(times))
        nc.createDimension("lat", lat.size)
        nc.createDimension("lon", lon.size)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar, t.standard_name = f"days since {START}", "standard", "time"
        t[:] = (times - pd.Timestamp(START)).days.to_numpy()
        for name, values, std, units, axis in (
            ("lat", lat, "latitude", "degrees_north", "Y"),
            ("lon", lon, "longitude", "degrees_east", "X"),
        ):
            v = nc.createVariable(name, "f8", (name,))
            v.standard_name, v.units, v.axis = std, units, axis
            v[:] = values
        var = nc.createVariable(
            B_VAR,
            "f4",
            ("time", "lat", "lon"),
            zlib=True,
            complevel=1,
            chunksizes=(B_TIME_CHUNK, lat.size, lon.size),
            fill_value=np.float32(np.nan),
        )
        var.units, var.long_name = "K", "synthetic land surface temperature"
        for i0 in range(0, len(times), B_TIME_CHUNK):
            i1 = min(i0 + B_TIME_CHUNK, len(times))
            var[i0:i1] = _field(lat, lon, times[i0:i1], seed=10_000_000 + i0, mean=290.0, noise=2.0)


def _disk_usage(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate_inputs(workdir: Path, scale: float, workers: int = 2, log: Callable[[str], object] = print) -> InputSet:
    """Generate (or reuse) the inputs of ``scale`` under ``workdir/inputs/scale-<scale>/``.

    A marker file written last records the parameters; inputs whose marker is missing or differs are rebuilt.
    """
    days = days_for_scale(scale)
    times = pd.date_range(START, periods=days, freq="D")
    folder = workdir / "inputs" / f"scale-{scale:g}"
    marker = folder / "inputs.json"
    wanted = {"version": GENERATOR_VERSION, "days": days, "start": START}
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted:
            return InputSet(**recorded["inputs"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path_a, path_b = folder / "a_daily_005deg.zarr", folder / "b_daily_03deg.nc"
    log(f"generating inputs at scale {scale:g} ({days} days) in {folder} ...")
    _write_a(path_a, times, workers)
    _write_b(path_b, times)
    lat_a, lon_a = a_coords()
    inputs = InputSet(
        scale=scale,
        days=days,
        start=START,
        end=str(times[-1].date()),
        path_a=str(path_a),
        path_b=str(path_b),
        bytes_a=days * lat_a.size * lon_a.size * 4,
        bytes_b=days * B_SHAPE[0] * B_SHAPE[1] * 4,
        disk_bytes=_disk_usage(path_a) + _disk_usage(path_b),
    )
    marker.write_text(json.dumps({**wanted, "inputs": asdict(inputs)}, indent=2))
    return inputs


def warm_page_cache(inputs: InputSet) -> None:
    """Flush pending writes, then read every input file once, so each timed job starts from the same state.

    Without the flush, the write-back of freshly generated inputs (gigabytes at the growth scale) or of the
    previous job's output competes with the next job for the disk and skews its time.
    """
    os.sync()
    for root in (Path(inputs.path_a), Path(inputs.path_b)):
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            with f.open("rb") as fh:
                while fh.read(1 << 24):
                    pass
