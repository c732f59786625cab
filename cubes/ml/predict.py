"""A saved model applied to a cube: the next-step forecast of the target at every step with enough history,
written as an esdl cube through the project's writer (staged, resumable, verified, published atomically).

The forecast cube has the input cube's grid, time axis and chunks and one variable, ``<target>_forecast``: the
value at step ``t`` is the forecast made from the steps before ``t``. Its spec names the input cube as its source
and records the model's run and fingerprints in its metadata, so the build's fingerprint changes with either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from cubes.assemble import global_attrs
from cubes.errors import ModelError
from cubes.finish import finish_build
from cubes.grid import TargetGrid
from cubes.ml.features import build_samples, read_fields
from cubes.ml.saved import SavedModel, load_model
from cubes.plan import plan_cube
from cubes.spec import CubeSpec, parse_spec
from cubes.store import build_location
from cubes.timeaxis import build_time_axis
from cubes.verify import open_cube
from cubes.writer import missing_regions, start_build, write_regions, write_template


@dataclass(frozen=True)
class PredictResult:
    """A published forecast cube."""

    path: Path
    """The published store's real path."""
    output: str
    variable: str
    forecast_steps: int
    """Time steps with at least one forecast cell."""
    written_regions: int


def forecast(model: SavedModel, cube: str | Path) -> tuple[np.ndarray, xr.Dataset]:
    """The forecast of ``model``'s target over ``cube`` as a ``(time, lat, lon)`` array (NaN where the inputs
    are incomplete), and the cube (lazily opened).

    Raises:
        ModelMismatchError: The cube lacks a variable of the model, or its grid or time step differ.
    """
    config = model.info.config
    fields = read_fields(cube, config, fill_limits=model.info.fill_limits)
    model.check_fits(fields, str(cube))
    steps = np.arange(fields.times.size)
    samples = build_samples(fields, config, model.climatology, steps, need_target=False)
    out = np.full((fields.times.size, fields.lat.size * fields.lon.size), np.nan, np.float32)
    out[samples.step, samples.cell] = samples.climatology + model.predict_anomaly(samples.x)
    return out.reshape(fields.times.size, fields.lat.size, fields.lon.size), open_cube(cube)


def forecast_spec(model: SavedModel, cube: str | Path, ds: xr.Dataset, output: str) -> CubeSpec:
    """The spec of the forecast cube of ``model`` over ``cube`` (opened as ``ds``): the input's grid, time axis
    and chunks.

    Raises:
        ModelError: The cube's grid or time axis cannot be described by a spec (not a cube esdl built).
    """
    target = model.info.config.target
    lon_b, lat_b = ds["lon_bnds"].values, ds["lat_bnds"].values
    bounds = ds["time_bnds"].values
    enc_chunks = ds[target].encoding.get("preferred_chunks") or {}
    name = f"{ds.attrs.get('id', Path(str(cube)).stem)}-{target}-forecast"
    spec = parse_spec(
        {
            "name": "".join(c if c.isalnum() or c in "._-" else "-" for c in name),
            "grid": {
                "crs": ds["crs"].attrs.get("crs_wkt", "EPSG:4326"),
                "bbox": [float(lon_b.min()), float(lat_b.min()), float(lon_b.max()), float(lat_b.max())],
                "resolution": [float(lon_b[0, 1] - lon_b[0, 0]), float(lat_b[0, 1] - lat_b[0, 0])],
            },
            "time": {
                "start": pd.Timestamp(bounds[0, 0]).date().isoformat(),
                "end": (pd.Timestamp(bounds[-1, 1]).date() - dt.timedelta(days=1)).isoformat(),
                "period": ds.attrs.get("time_coverage_resolution") or "1D",
            },
            "sources": {"input": {"kind": "zarr", "path": str(Path(cube).resolve())}},
            "variables": [
                {
                    "name": f"{target}_forecast",
                    "source": "input",
                    "source_variable": target,
                    "units": model.info.units.get(target) or "1",
                    "attrs": {
                        "long_name": f"next-step forecast of {target} by model run {model.info.run}",
                        "comment": f"made at each step from the {model.info.config.lags} steps before it",
                    },
                }
            ],
            "chunks": {
                "time": int(enc_chunks.get("time", 12)),
                "y": int(enc_chunks.get("lat", 256)),
                "x": int(enc_chunks.get("lon", 256)),
            },
            "output": output,
            "metadata": {
                "title": f"{target} forecast by esdl model {model.info.run}",
                "summary": f"Next-step forecast of {target} over {ds.attrs.get('title', cube)}",
                "esdl_model_run": model.info.run,
                "esdl_model_training_cube": model.info.cube_fingerprint or "",
                "esdl_input_fingerprint": ds.attrs.get("esdl_spec_fingerprint", ""),
            },
        },
        origin="forecast spec",
    )
    axis = build_time_axis(spec.time)
    if axis.size != bounds.shape[0] or not (axis.bounds == bounds).all():
        raise ModelError(f"{cube}: its time axis is not one esdl's {spec.time.period} bins describe")
    return spec


def predict_cube(
    model_dir: str | Path,
    cube: str | Path,
    output: str,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> PredictResult:
    """Apply the model saved in ``model_dir`` to ``cube`` and publish the forecast cube at ``output``.

    Args:
        model_dir: A saved model's folder (:mod:`cubes.ml.saved`).
        cube: The cube to forecast (the training cube's grid, variables and time step).
        output: Where to publish the forecast cube (a local path).
        resume: Reuse an unfinished build of the same forecast and write only its missing regions.
        log: Called with progress lines.

    Raises:
        ModelMismatchError: The cube does not fit the model.
        ModelError: ``model_dir`` is not a saved model.
        cubes.errors.WriteError: The output cannot be written or published.
    """
    say = log or (lambda _line: None)
    model = load_model(model_dir)
    values, ds = forecast(model, cube)
    spec = forecast_spec(model, cube, ds, output)
    plan = plan_cube(spec)
    publication, build = build_location(spec)
    publication.check_publishable()
    done = start_build(plan, build, resume)
    target = plan.variables[0]
    chunks = (spec.chunks.time, spec.chunks.y, spec.chunks.x)
    with dask.config.set(scheduler="threads"):  # the coordinates and bounds, in memory as the writer needs them
        data = ds.drop_vars(list(ds.data_vars)).compute()
    data[target] = (("time", "lat", "lon"), dsa.from_array(values, chunks=chunks), _variable_attrs(spec))
    data.attrs = global_attrs(spec, TargetGrid(spec.grid), build_time_axis(spec.time))
    todo = missing_regions(plan, build)
    with dask.config.set(scheduler="threads"):  # the forecast is in memory: no cluster round trips to write it
        write_template(data, plan, build)
        written = write_regions(data, plan, build, todo)
    say(f"{target}: {written} regions written, {len(done)} reused")
    path, _ = finish_build(spec, plan)
    steps = int(np.isfinite(values).any(axis=(1, 2)).sum())
    return PredictResult(path, output, target, steps, written)


def _variable_attrs(spec: CubeSpec) -> dict[str, Any]:
    var = spec.variables[0]
    return {**var.attrs, "units": var.units, "grid_mapping": "crs"}
