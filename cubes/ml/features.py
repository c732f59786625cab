"""Samples from a cube: lagged anomalies of the target and inputs, the month, the target's climatology.

A variable sampled less often than the cube's step (HadCM3's yearly air temperature in the monthly demo cube)
is carried forward over its own sampling interval, no further, so that a lag of it is its latest value rather
than mostly missing. Anomalies are taken from a per-cell monthly climatology of the training period only, and
samples with any missing input or target are left out. All of it is numpy; no torch here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np

from cubes.errors import ModelError, ModelMismatchError
from cubes.ml.config import ModelConfig
from cubes.verify import open_cube


@dataclass(frozen=True)
class CubeFields:
    """The variables a model reads from one cube, as ``(time, lat, lon)`` float32 arrays, gap-filled."""

    raw: dict[str, np.ndarray]
    filled: dict[str, np.ndarray]
    fill_limits: dict[str, int]
    months: np.ndarray
    times: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    units: dict[str, str]
    fingerprint: str | None
    period: str | None


def read_fields(path: str | Path, config: ModelConfig, fill_limits: dict[str, int] | None = None) -> CubeFields:
    """Read ``config``'s variables from the cube at ``path`` (whole, into memory).

    Args:
        path: An esdl cube (Zarr).
        config: The model, which names the variables.
        fill_limits: Steps each variable is carried forward (a saved model's); default: measured on this cube.

    Raises:
        ModelMismatchError: The cube lacks a variable or is not on a lat/lon grid.
    """
    ds = open_cube(path)
    missing = [v for v in config.variables if v not in ds.data_vars]
    if missing:
        have = sorted(map(str, ds.data_vars))
        raise ModelMismatchError(f"{path}: the model needs variable(s) {missing} that the cube lacks (it has: {have})")
    if "lat" not in ds.dims or "lon" not in ds.dims:
        raise ModelMismatchError(f"{path}: the model needs a lat/lon grid; the cube's dimensions are {dict(ds.sizes)}")
    with dask.config.set(scheduler="threads"):  # a small read: no round trips to a distributed scheduler
        raw = {v: ds[v].transpose("time", "lat", "lon").values.astype(np.float32) for v in config.variables}
    limits = fill_limits if fill_limits is not None else {v: sampling_interval(a) - 1 for v, a in raw.items()}
    times = ds["time"].values
    return CubeFields(
        raw=raw,
        filled={v: carry_forward(a, limits[v]) for v, a in raw.items()},
        fill_limits=limits,
        months=(times.astype("datetime64[M]").astype(int) % 12).astype(np.int64),
        times=times,
        lat=ds["lat"].values,
        lon=ds["lon"].values,
        units={v: str(ds[v].attrs.get("units", "")) for v in config.variables},
        fingerprint=ds.attrs.get("esdl_spec_fingerprint"),
        period=ds.attrs.get("time_coverage_resolution"),
    )


def sampling_interval(values: np.ndarray) -> int:
    """The usual number of steps between two time steps with data (1 for a variable sampled every step)."""
    steps = np.flatnonzero(np.isfinite(values).any(axis=(1, 2)))
    return int(np.median(np.diff(steps))) if steps.size > 1 else 1


def carry_forward(values: np.ndarray, limit: int) -> np.ndarray:
    """``values`` with each missing value replaced by the cell's last value at most ``limit`` steps earlier."""
    if limit <= 0:
        return values
    nt = values.shape[0]
    steps = np.arange(nt).reshape(nt, 1, 1)
    last = np.maximum.accumulate(np.where(np.isfinite(values), steps, -1), axis=0)
    usable = (last >= 0) & (steps - last <= limit)
    taken = np.take_along_axis(values, np.maximum(last, 0), axis=0)
    return np.where(usable, taken, np.nan).astype(values.dtype)


def climatology(values: np.ndarray, months: np.ndarray, until: int) -> np.ndarray:
    """Per-cell mean of each month of year over the steps before ``until``: ``(12, lat, lon)``, NaN without data."""
    out = np.full((12, *values.shape[1:]), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # months or cells without any data stay NaN
        for m in range(12):
            rows = np.flatnonzero(months[:until] == m)
            if rows.size:
                out[m] = np.nanmean(values[rows], axis=0)
    return out


@dataclass(frozen=True)
class Samples:
    """Rows of the network's inputs with the target and the baselines of the same cells and steps."""

    x: np.ndarray
    """``(n, n_features)`` inputs."""
    anomaly: np.ndarray
    """``(n,)`` the target's anomaly at ``t`` (NaN where the target has no data: prediction only)."""
    climatology: np.ndarray
    """``(n,)`` the target's training climatology at ``t`` (the climatology baseline)."""
    persistence: np.ndarray
    """``(n,)`` the target at ``t-1`` (the persistence baseline)."""
    step: np.ndarray
    """``(n,)`` time index of each row."""
    cell: np.ndarray
    """``(n,)`` flat ``lat * lon`` index of each row."""

    @property
    def observed(self) -> np.ndarray:
        """``(n,)`` the target at ``t``."""
        return self.climatology + self.anomaly

    def subset(self, rows: np.ndarray) -> Samples:
        """The rows selected by ``rows`` (a mask or indices)."""
        return Samples(
            *(getattr(self, f)[rows] for f in ("x", "anomaly", "climatology", "persistence", "step", "cell"))
        )


def build_samples(
    fields: CubeFields, config: ModelConfig, clim: dict[str, np.ndarray], steps: np.ndarray, need_target: bool
) -> Samples:
    """The samples of the time indices ``steps`` (those with ``lags`` earlier steps), every input present.

    Args:
        fields: The cube's variables.
        config: The model.
        clim: Each variable's climatology (:func:`climatology`, of the training period).
        steps: Time indices of the samples.
        need_target: Keep only rows where the target has data (training and validation).
    """
    parts: list[tuple[np.ndarray, ...]] = []
    target = config.target
    for t in (int(s) for s in steps if s >= config.lags):
        m = int(fields.months[t])
        columns = [_anomaly(fields, clim, target, t - lag) for lag in range(1, config.lags + 1)]
        for v in config.inputs:
            # another variable may cover other cells than the target (the demo's air temperature lies over land,
            # its sea-surface temperature over the sea): where it is missing its anomaly counts as 0 (the
            # climatology) and a column says whether it was there
            lagged = [_anomaly(fields, clim, v, t - lag) for lag in range(1, config.lags + 1)]
            columns += [np.nan_to_num(a, nan=0.0) for a in lagged]
            columns.append(np.isfinite(lagged[0]).astype(np.float32))
        cell_clim = clim[target][m].ravel()
        n = cell_clim.size
        angle = 2 * np.pi * m / 12
        columns += [np.full(n, np.sin(angle), np.float32), np.full(n, np.cos(angle), np.float32), cell_clim]
        x = np.stack(columns, axis=1).astype(np.float32)
        anomaly = (fields.raw[target][t].ravel() - cell_clim).astype(np.float32)
        keep = np.isfinite(x).all(axis=1) & (np.isfinite(anomaly) if need_target else True)
        rows = np.flatnonzero(keep)
        persistence = fields.filled[target][t - 1].ravel()[rows]
        parts.append((x[rows], anomaly[rows], cell_clim[rows], persistence, np.full(rows.size, t), rows))
    if not parts:
        n_features = config.n_features
        empty = np.empty(0, np.float32)
        return Samples(np.empty((0, n_features), np.float32), empty, empty, empty, empty.astype(int), empty.astype(int))
    return Samples(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def _anomaly(fields: CubeFields, clim: dict[str, np.ndarray], variable: str, t: int) -> np.ndarray:
    """The flat anomaly of ``variable`` at step ``t`` from its climatology."""
    return (fields.filled[variable][t] - clim[variable][fields.months[t]]).ravel()


def holdout_index(fields: CubeFields, config: ModelConfig) -> int:
    """The first held-out time index: ``holdout_start``'s, or that of the last ``holdout_steps`` steps with data.

    Raises:
        ModelError: Too few steps with target data remain for training.
    """
    with_data = np.flatnonzero(np.isfinite(fields.raw[config.target]).any(axis=(1, 2)))
    if config.holdout_start is not None:
        first = int(np.searchsorted(fields.times, np.datetime64(config.holdout_start, "ns")))
    elif with_data.size > config.holdout_steps:
        first = int(with_data[-config.holdout_steps])
    else:
        first = 0
    # a training step needs its lags after the first step with data
    earliest = int(with_data.min()) + config.lags if with_data.size else 0
    training_steps = with_data[(with_data < first) & (with_data >= earliest)]
    if training_steps.size < 2 or not (with_data >= first).any():
        raise ModelError(
            f"{config.target}: {with_data.size} time steps have data; with lags {config.lags} and the held-out period "
            f"from step {first}, {training_steps.size} remain for training and "
            f"{int((with_data >= first).sum())} for validation (need 2 and 1)"
        )
    return first
