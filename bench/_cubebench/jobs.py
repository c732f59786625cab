"""The timed jobs, each run in its own process: the esdl flow, the hand-written baseline and xcube gen2.

Every job starts its own Dask ``LocalCluster`` inside its timing (the esdl flow starts its own). Imports happen
before the clock starts. A job is described by a JSON-able mapping (see :func:`run_job`) and returns a mapping
with ``wall_s`` and, from ``getrusage``, the peak RSS of the job process and of its largest waited-for child.
"""

from __future__ import annotations

import resource
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _cubebench.inputs import A_VAR, B_VAR, cell_centres

# Target grid: 0.25 degrees over source A's extent.
TARGET_BBOX = (-10.0, 35.0, 30.0, 60.0)
TARGET_RES = 0.25
COARSEN = 5  # 0.25 / 0.05
OUT_CHUNKS = {"time": 8, "y": 100, "x": 160}
B_READ_CHUNKS = {"time": 64}
BIN_DAYS = 8


def target_coords() -> tuple[np.ndarray, np.ndarray]:
    """The target grid's ``(lat, lon)`` cell centres, ascending."""
    xmin, ymin, xmax, ymax = TARGET_BBOX
    return (
        cell_centres(ymin, TARGET_RES, round((ymax - ymin) / TARGET_RES)),
        cell_centres(xmin, TARGET_RES, round((xmax - xmin) / TARGET_RES)),
    )


def cube_spec(name: str, inputs: dict[str, Any], output: str, period: str, with_b: bool) -> dict[str, Any]:
    """The esdl cube spec: source A (and optionally B) on the 0.25° grid, binned by ``period``."""
    sources: dict[str, Any] = {"a": {"kind": "zarr", "path": inputs["path_a"]}}
    variables: list[dict[str, Any]] = [
        {
            "name": "t_a",
            "source": "a",
            "source_variable": A_VAR,
            "units": "K",
            "spatial_aggregation": "mean",
            "temporal_aggregation": "mean",
        },
    ]
    if with_b:
        sources["b"] = {"kind": "netcdf", "path": inputs["path_b"], "options": {"chunks": B_READ_CHUNKS}}
        variables.append(
            {
                "name": "t_b",
                "source": "b",
                "source_variable": B_VAR,
                "units": "K",
                "spatial_aggregation": "mean",
                "temporal_aggregation": "mean",
            }
        )
    return {
        "name": name,
        "grid": {"crs": "EPSG:4326", "bbox": list(TARGET_BBOX), "resolution": TARGET_RES},
        "time": {"start": inputs["start"], "end": inputs["end"], "period": period, "restart_yearly": period != "1D"},
        "sources": sources,
        "variables": variables,
        "chunks": dict(OUT_CHUNKS),
        "output": output,
    }


def bin_labels(times: np.ndarray, days: int, restart_yearly: bool, origin: str) -> np.ndarray:
    """The label (centre) of the ``days``-day bin each time falls in; bins restart every 1 January if asked.

    Written independently of ``cubes.timeaxis`` so that the baseline checks it: a bin is ``[start, end)``
    with ``end = min(start + days, next 1 January)`` and its label is ``start + (end - start) // 2``.
    """
    t = pd.DatetimeIndex(times)
    step = pd.Timedelta(days=days)
    if restart_yearly:
        year_start = t.to_period("Y").to_timestamp()
        start = year_start + ((t - year_start) // step) * step
        next_year = (t.to_period("Y") + 1).to_timestamp()
        end = pd.DatetimeIndex(np.minimum((start + step).to_numpy(), next_year.to_numpy()))
    else:
        first = pd.Timestamp(origin)
        start = first + ((t - first) // step) * step
        end = start + step
    return (start.to_numpy() + (end.to_numpy() - start.to_numpy()) // 2).astype("datetime64[ns]")


def _local_cluster(cluster: dict[str, Any]) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=cluster["n_workers"],
        threads_per_worker=cluster["threads_per_worker"],
        memory_limit=cluster["memory_limit"],
        processes=cluster.get("processes", False),
        dashboard_address=None,
    )


def _flow_cluster_settings(cluster: dict[str, Any]) -> dict[str, Any]:
    """``cluster`` in the fields the flow's ``ClusterSettings`` has (a fixed-size cluster of ``n_workers``)."""
    try:
        from cubes.cluster import ClusterSettings
    except ImportError:
        return dict(cluster)
    fields = set(ClusterSettings.model_fields)
    out = {k: v for k, v in cluster.items() if k in fields}
    if "n_workers" not in fields and {"min_workers", "max_workers"} <= fields:
        out.update(min_workers=cluster["n_workers"], max_workers=cluster["n_workers"])
    return out


def run_esdl(job: dict[str, Any]) -> dict[str, Any]:
    """Run the ``build_cube`` flow on ``job["spec"]`` against the Prefect server in ``PREFECT_API_URL``."""
    from flows.build_cube import build_cube

    cluster = _flow_cluster_settings(job["cluster"])
    t0 = time.perf_counter()
    result = build_cube(spec=job["spec"], output=job["output"], resume=False, cluster=cluster)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "flow_result": result.model_dump(mode="json"), "flow_cluster": cluster}


def run_library(job: dict[str, Any]) -> dict[str, Any]:
    """The library calls of the ``build_cube`` flow on ``job["spec"]`` in the flow's order, without Prefect: plan,
    staging build, template, every region on the same kind of cluster (its start and close included), then
    :func:`cubes.finish.finish_build` (verify, statistics, quicklooks, publish). The flow's own work besides
    these is Prefect's: task runs, logs, artifacts, events (what ``prefect_overhead`` measures)."""
    from distributed import Client

    from cubes.assemble import build_cube
    from cubes.cluster import ClusterSettings, dask_cluster, release_free_memory
    from cubes.finish import finish_build
    from cubes.plan import plan_cube
    from cubes.spec import resolve_spec
    from cubes.store import build_location
    from cubes.writer import start_build, write_regions, write_template

    settings = ClusterSettings(**_flow_cluster_settings(job["cluster"]))
    t0 = time.perf_counter()
    spec = resolve_spec(job["spec"], job["output"])
    publication, build = build_location(spec)
    publication.check_publishable()
    plan = plan_cube(spec)
    start_build(plan, build, resume=False)
    cube = build_cube(spec)
    write_template(cube, plan, build)
    with dask_cluster(settings) as address, Client(address, set_as_default=False) as client:
        written = write_regions(cube, plan, build, plan.regions, client=client)
        release_free_memory()
    path, _ = finish_build(spec, plan)
    return {"wall_s": time.perf_counter() - t0, "path": str(path), "written": written}


def run_baseline(job: dict[str, Any]) -> dict[str, Any]:
    """Plain xarray + dask: coarsen A by 5, interpolate B linearly, 8-day means, write Zarr format 3."""
    import xarray as xr
    from distributed import Client

    inputs = job["inputs"]
    lat, lon = target_coords()
    t0 = time.perf_counter()
    with _local_cluster(job["cluster"]) as lc, Client(lc):
        a = xr.open_zarr(inputs["path_a"])[A_VAR]
        a = a.coarsen(lat=COARSEN, lon=COARSEN, boundary="exact").mean()
        a = a.assign_coords(lat=lat, lon=lon)  # exact centres, not the float means of the fine ones
        b = xr.open_dataset(inputs["path_b"], chunks=B_READ_CHUNKS)[B_VAR]
        b = b.interp(lat=lat, lon=lon, method="linear")
        labels = bin_labels(a["time"].values, BIN_DAYS, True, inputs["start"])
        ds = xr.Dataset({"t_a": a, "t_b": b})
        out = ds.groupby(xr.DataArray(labels, dims="time", name="bin")).mean("time").rename(bin="time")
        out = out.transpose("time", "lat", "lon").astype("float32")
        out = out.chunk({"time": OUT_CHUNKS["time"], "lat": OUT_CHUNKS["y"], "lon": OUT_CHUNKS["x"]})
        for var in out.variables.values():
            var.encoding = {}
        for name in ("t_a", "t_b"):
            out[name].attrs = {"units": "K"}
        out.to_zarr(job["output"], mode="w", zarr_format=3, consolidated=False)
    return {"wall_s": time.perf_counter() - t0}


def run_gen2(job: dict[str, Any]) -> dict[str, Any]:
    """xcube gen2: source A resampled to 0.25° (its default ``nanmean`` aggregation), no time resampling.

    Output chunks are set through ``chunks={"time": 8}`` and ``tile_size``; spatial entries in ``chunks`` are
    left out on purpose because gen2 also applies them when opening the input, which makes it several times
    slower (the fine 0.05° input is then read in 0.25°-tile-sized pieces).
    """
    from distributed import Client
    from xcube.core.gen2 import CubeGenerator, CubeGeneratorRequest
    from xcube.core.gen2.config import CubeConfig, InputConfig, OutputConfig

    inputs = job["inputs"]
    src, out = Path(inputs["path_a"]), Path(job["output"])
    request = CubeGeneratorRequest(
        input_config=InputConfig(store_id="file", store_params={"root": str(src.parent)}, data_id=src.name),
        cube_config=CubeConfig(
            variable_names=[A_VAR],
            crs="EPSG:4326",
            bbox=TARGET_BBOX,
            spatial_res=TARGET_RES,
            tile_size=(OUT_CHUNKS["x"], OUT_CHUNKS["y"]),
            chunks={"time": OUT_CHUNKS["time"]},
        ),
        output_config=OutputConfig(
            store_id="file",
            store_params={"root": str(out.parent)},
            data_id=out.name,
            write_params={"zarr_format": 3},
            replace=True,
        ),
    )
    t0 = time.perf_counter()
    try:
        with _local_cluster(job["cluster"]) as lc, Client(lc):
            result = CubeGenerator.new(raise_on_error=True, verbosity=0).generate_cube(request)
    except Exception as err:  # a gen2 that does not work here: time what it would run instead
        reason = f"{type(err).__name__}: {err}"
        return {**_resample_in_space(job), "gen2_method": f"xcube.core.resampling.resample_in_space (gen2: {reason})"}
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "gen2_status": getattr(result, "status", None), "gen2_method": "xcube.core.gen2"}


def _resample_in_space(job: dict[str, Any]) -> dict[str, Any]:
    """The fallback for gen2: what it runs underneath, ``resample_in_space`` then ``to_zarr`` (format 3)."""
    import shutil

    import xarray as xr
    from distributed import Client
    from xcube.core.gridmapping import GridMapping
    from xcube.core.resampling import resample_in_space

    out = Path(job["output"])
    shutil.rmtree(out, ignore_errors=True)
    xmin, ymin, xmax, ymax = TARGET_BBOX
    t0 = time.perf_counter()
    with _local_cluster(job["cluster"]) as lc, Client(lc):
        ds = xr.open_zarr(job["inputs"]["path_a"])[[A_VAR]]
        source_gm = GridMapping.from_dataset(ds)
        target_gm = GridMapping.regular(
            size=(round((xmax - xmin) / TARGET_RES), round((ymax - ymin) / TARGET_RES)),
            xy_min=(xmin, ymin),
            xy_res=TARGET_RES,
            crs="EPSG:4326",
            tile_size=(OUT_CHUNKS["x"], OUT_CHUNKS["y"]),
            is_j_axis_up=bool(source_gm.is_j_axis_up),
        ).derive(xy_var_names=source_gm.xy_var_names, xy_dim_names=source_gm.xy_dim_names)
        res = resample_in_space(ds, source_gm=source_gm, target_gm=target_gm)
        res = res.chunk({"time": OUT_CHUNKS["time"]})
        for var in res.variables.values():
            var.encoding = {}
        res.to_zarr(out, mode="w", zarr_format=3, consolidated=False)
    return {"wall_s": time.perf_counter() - t0}


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "esdl": run_esdl,
    "library": run_library,
    "baseline": run_baseline,
    "gen2": run_gen2,
}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` (``{"kind": "esdl" | "library" | "baseline" | "gen2", "inputs", "output", "cluster", ...}``).

    Returns the job's own figures plus ``maxrss_self_bytes`` and ``maxrss_children_bytes`` (Linux reports
    ``ru_maxrss`` in KiB; for children it is the largest single waited-for descendant, Dask workers included).
    """
    warnings.filterwarnings("ignore", category=RuntimeWarning, message="Mean of empty slice")
    result = JOBS[job["kind"]](job)
    result["maxrss_self_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["maxrss_children_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return result
