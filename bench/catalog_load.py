#!/usr/bin/env python
"""Benchmark of a catalogue load: esdl's zonal statistics against exactextract, and the COPY into PostGIS.

Usage::

    python bench/catalog_load.py [--repeat 3] [--regions 250] [--years 10] [--workdir DIR] [--seed 0]

It writes its own cube (Zarr format 3, 0.25° over Europe, 148 × 280 cells, 8-day bins: 46 time steps a year,
460 for 10 years; two float32 variables with missing values) and 250 polygon regions, then, in one run:

* reads both variables into memory (``read_s``, timed apart);
* esdl: :func:`cubes.zonal.coverage_weights` once, then :func:`cubes.zonal.zonal_block` on each loaded
  ``(time, lat, lon)`` array (``coverage_s`` + ``zonal_s`` = ``esdl_zonal_s``, one thread);
* exactextract: one ``exact_extract`` call over all bands of both variables at once, same arrays (north-up
  copies made beforehand), cell areas as weights (``exactextract_s``, one thread; its fastest strategy, picked
  in an untimed probe);
* esdl end to end from the Zarr store with :func:`cubes.zonal.zonal_delayed` on dask's threaded scheduler
  (``esdl_from_zarr_s``, reading included, all cores) for reference;
* compares every statistic (coverage × area weighted mean and std, min, max, valid count) with exactextract's
  and, where they disagree most, both against exact rational arithmetic;
* starts a throwaway PostGIS (``LocalCluster``; or uses ``ESDL_DATABASE_URL``), registers the cube and the
  regions, and times the load of all statistics (variables × regions × time steps rows) in one transaction
  with ``replace_zonal_stats``: into an empty table, then again over the loaded rows as a rerun does.

Timings are medians of ``--repeat`` rounds. Human-readable figures come first; the last line is one JSON object
with, among others, ``zonal_speedup_vs_exactextract``, ``max_rel_diff`` and ``rows_per_s``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (HERE, REPO):  # the helpers live beside this file; the esdl packages in the repository
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGETS = {"zonal_speedup_vs_exactextract": 5.0, "max_rel_diff": 1e-9, "rows_per_s": 50_000.0}


def log(message: str) -> None:
    """Progress output (stderr, so that stdout ends with the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="timed rounds; medians are reported (default 3)")
    p.add_argument("--regions", type=int, default=250, help="number of polygon regions (default 250)")
    p.add_argument("--years", type=int, default=10, help="years of 8-daily steps, 46 a year (default 10)")
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the cube here (reused when identical) and run the throwaway PostGIS here\n"
        "(default: a temporary folder, removed at the end)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cube's noise and of the regions (default 0)")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.regions < 1 or args.years < 1:
        p.error("--repeat, --regions and --years must be at least 1")
    return args


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def zonal_part(args: argparse.Namespace, cube: Path, geometries: list[Any]) -> dict[str, Any]:
    """The zonal-statistics comparison: probe, ``--repeat`` timed rounds, checks."""
    import numpy as np
    from _catalogbench.inputs import VARIABLES
    from _catalogbench.zonal import (
        compare,
        esdl_from_zarr,
        esdl_in_memory,
        exact_check,
        exactextract_run,
        same_stats,
    )

    from cubes.gridgeometry import GridGeometry
    from cubes.verify import open_cube
    from cubes.zonal import coverage_weights

    def read() -> tuple[dict[str, np.ndarray], float]:
        t0 = time.perf_counter()
        ds = open_cube(cube)
        arrays = {name: ds[name].values for name in VARIABLES}
        return arrays, time.perf_counter() - t0

    ds = open_cube(cube)
    grid = GridGeometry.from_dataset(ds)
    wkt = grid.crs.to_wkt()
    areas = np.ascontiguousarray(grid.north_up(grid.cell_areas()))

    def north_up(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(grid.north_up(a)) for name, a in arrays.items()}

    # untimed probe: page cache, numba's cached kernels, and exactextract's faster strategy
    arrays, _ = read()
    t0 = time.perf_counter()
    esdl_in_memory(grid, geometries, arrays)
    first_s = time.perf_counter() - t0
    esdl_from_zarr(cube, geometries, VARIABLES)
    probe = {}
    for strategy in ("feature-sequential", "raster-sequential"):
        probe[strategy] = exactextract_run(north_up(arrays), grid.bounds, areas, geometries, wkt, strategy).call_s
        log(f"exactextract probe, {strategy}: {probe[strategy]:.2f} s")
    strategy = min(probe, key=probe.__getitem__)

    rounds: list[dict[str, float]] = []
    for r in range(args.repeat):
        arrays, read_s = read()
        flipped = north_up(arrays)
        sides = ["esdl", "exactextract"] if r % 2 == 0 else ["exactextract", "esdl"]  # drifts hit both alike
        for side in sides:
            if side == "esdl":
                mine = esdl_in_memory(grid, geometries, arrays)
            else:
                theirs = exactextract_run(flipped, grid.bounds, areas, geometries, wkt, strategy)
        from_zarr, from_zarr_s = esdl_from_zarr(cube, geometries, VARIABLES)
        rounds.append(
            {
                "read_s": read_s,
                "coverage_s": mine.coverage_s,
                "zonal_s": mine.zonal_s,
                "esdl_zonal_s": mine.total_s,
                "exactextract_s": theirs.call_s,
                "exactextract_parse_s": theirs.parse_s,
                "esdl_from_zarr_s": from_zarr_s,
            }
        )
        log(
            f"round {r + 1} of {args.repeat}: read {read_s:.2f} s, esdl {mine.total_s:.3f} s "
            f"(coverage {mine.coverage_s:.3f} + zonal {mine.zonal_s:.3f}), exactextract {theirs.call_s:.2f} s "
            f"(+ {theirs.parse_s:.2f} s to arrays), esdl from Zarr {from_zarr_s:.3f} s"
        )
    timings = {k: _median([rd[k] for rd in rounds]) for k in rounds[0]}
    log("checking the statistics ...")
    check = compare(mine.stats, theirs.stats)
    weights = coverage_weights(grid, geometries)
    exact = exact_check(arrays, weights, mine.stats, theirs.stats)
    return {
        "timings": timings,
        "rounds": rounds,
        "esdl_first_run_s": first_s,
        "exactextract_strategy": strategy,
        "exactextract_probe_s": probe,
        "check": check,
        "exact": exact,
        "from_zarr_max_abs_diff": same_stats(mine.stats, from_zarr),
        "stats": mine.stats,
        "covered_cells": len(weights.cells),
        "coverage_entries": len(weights.rows),
        "grid_shape": grid.shape,
    }


def load_part(args: argparse.Namespace, workdir: Path, cube: Path, regions: Any, stats: dict[str, Any]) -> dict:
    """Register the cube and regions, then time the load into an empty table and the reload, ``--repeat`` times.

    Afterwards, untimed for the headline: the DELETE a reload starts with, alone, and one load into an empty
    table without the foreign-key checks (throwaway cluster only), to show what the load's time goes to.
    """
    import sqlalchemy as sa
    from _catalogbench.inputs import region_set
    from _catalogbench.load import Catalog

    with Catalog(workdir / "catalog", log) as catalog:
        t0 = time.perf_counter()
        record, variable_ids, region_ids = catalog.register(cube, region_set(regions))
        register_s = time.perf_counter() - t0
        log(f"registered the cube and {len(region_ids)} regions in {register_s:.2f} s ({catalog.kind})")
        first, again, encode = [], [], []
        rows = 0
        for r in range(args.repeat):
            catalog.clear(variable_ids)
            rows, seconds, encode_s = catalog.load(variable_ids, region_ids, record.times, stats)
            first.append(seconds)
            encode.append(encode_s)
            rows_again, seconds_again, encode_s = catalog.load(variable_ids, region_ids, record.times, stats)
            again.append(seconds_again)
            encode.append(encode_s)
            stored = catalog.count(variable_ids)
            if not rows == rows_again == stored:
                raise RuntimeError(f"loaded {rows} then {rows_again} rows, {stored} in the table")
            log(
                f"load round {r + 1} of {args.repeat}: {rows} rows, empty table {seconds:.2f} s "
                f"({rows / seconds:,.0f} rows/s), reload {seconds_again:.2f} s ({rows / seconds_again:,.0f} rows/s)"
            )
        delete_s = catalog.delete_seconds(variable_ids, region_ids)
        no_fk_s: float | None = None
        if catalog.cluster is not None:
            catalog.clear(variable_ids)
            try:
                _, no_fk_s, _ = catalog.load(variable_ids, region_ids, record.times, stats, without_fk_checks=True)
            except sa.exc.DBAPIError as err:
                log(f"load without foreign-key checks failed: {err.orig}")
        log(
            f"diagnostics: encoding {_median(encode):.2f} s of each load, the reload's DELETE alone {delete_s:.2f} s, "
            f"a load into an empty table without foreign-key checks "
            + ("n/a" if no_fk_s is None else f"{no_fk_s:.2f} s")
        )
        return {
            "database": catalog.kind,
            "rows": rows,
            "register_s": register_s,
            "load_s": _median(first),
            "reload_s": _median(again),
            "load_runs_s": first,
            "reload_runs_s": again,
            "encode_s": _median(encode),
            "reload_delete_s": delete_s,
            "load_without_fk_checks_s": no_fk_s,
        }


def summarise(args: argparse.Namespace, cube_info: dict[str, Any], z: dict[str, Any], db: dict[str, Any]) -> dict:
    """The figures of the JSON line."""
    t = z["timings"]
    speedup = t["exactextract_s"] / t["esdl_zonal_s"]
    rows = db["rows"]
    rps_first, rps_again = rows / db["load_s"], rows / db["reload_s"]
    rps = min(rps_first, rps_again)
    check = z["check"]
    met = {
        "zonal_speedup_vs_exactextract": speedup >= TARGETS["zonal_speedup_vs_exactextract"],
        "max_rel_diff": check["max_rel_diff"] <= TARGETS["max_rel_diff"] and check["valid_count_mismatches"] == 0,
        "rows_per_s": rps >= TARGETS["rows_per_s"],
    }
    ny, nx = z["grid_shape"]
    return {
        "benchmark": "catalog_load",
        "zonal_speedup_vs_exactextract": round(speedup, 2),
        "zonal_speedup_incl_exactextract_parse": round(
            (t["exactextract_s"] + t["exactextract_parse_s"]) / t["esdl_zonal_s"], 2
        ),
        "max_rel_diff": check["max_rel_diff"],
        "max_rel_diff_by_stat": check["max_rel_diff_by_stat"],
        "max_rel_diff_where_exactextract_nonzero": check["max_rel_diff_where_exactextract_nonzero"],
        "max_rel_diff_where_exactextract_nonzero_by_stat": check["max_rel_diff_where_exactextract_nonzero_by_stat"],
        "exactextract_zero_esdl_not": check["exactextract_zero_esdl_not"],
        "worst_diff": check["worst"],
        "exact_reference": z["exact"],
        "valid_count_mismatches": check["valid_count_mismatches"],
        "nan_mismatches": check["nan_mismatches"],
        "region_steps_without_valid_cell": check["region_steps_without_valid_cell"],
        "esdl_from_zarr_max_abs_diff_vs_in_memory": z["from_zarr_max_abs_diff"],
        "rows_per_s": round(rps),
        "rows_per_s_first_load": round(rps_first),
        "rows_per_s_reload": round(rps_again),
        "rows": rows,
        "load_s": round(db["load_s"], 3),
        "reload_s": round(db["reload_s"], 3),
        "register_s": round(db["register_s"], 3),
        "load_runs_s": [round(v, 3) for v in db["load_runs_s"]],
        "reload_runs_s": [round(v, 3) for v in db["reload_runs_s"]],
        "load_encode_s": round(db["encode_s"], 3),
        "reload_delete_s": round(db["reload_delete_s"], 3),
        "load_without_fk_checks_s": None
        if db["load_without_fk_checks_s"] is None
        else round(db["load_without_fk_checks_s"], 3),
        "database": db["database"],
        "esdl_zonal_s": round(t["esdl_zonal_s"], 4),
        "coverage_s": round(t["coverage_s"], 4),
        "zonal_s": round(t["zonal_s"], 4),
        "esdl_first_run_s": round(z["esdl_first_run_s"], 3),
        "esdl_from_zarr_s": round(t["esdl_from_zarr_s"], 4),
        "exactextract_s": round(t["exactextract_s"], 3),
        "exactextract_parse_s": round(t["exactextract_parse_s"], 3),
        "exactextract_strategy": z["exactextract_strategy"],
        "exactextract_probe_s": {k: round(v, 3) for k, v in z["exactextract_probe_s"].items()},
        "read_s": round(t["read_s"], 3),
        "regions": args.regions,
        "time_steps": cube_info["time_steps"],
        "variables": cube_info["variables"],
        "cells": ny * nx,
        "grid": [ny, nx],
        "covered_cells": z["covered_cells"],
        "coverage_entries": z["coverage_entries"],
        "cube_write_s": round(cube_info["write_s"], 2),
        "cube_written": cube_info["written"],
        "repeat": args.repeat,
        "rounds": [{k: round(v, 4) for k, v in rd.items()} for rd in z["rounds"]],
        "targets": TARGETS,
        "targets_met": met,
        "all_targets_met": all(met.values()),
    }


def print_report(f: dict[str, Any]) -> None:
    """The figures for people."""
    ok = {True: "met", False: "NOT met"}
    tm = f["targets_met"]
    ex = f["exact_reference"]
    lines = [
        "",
        f"catalogue-load benchmark: {f['regions']} regions x {f['time_steps']} time steps x "
        f"{len(f['variables'])} variables, grid {f['grid'][0]} x {f['grid'][1]}, medians of {f['repeat']} rounds",
        f"  read both variables from Zarr      {f['read_s']:.3f} s (not in either side's timing)",
        f"  esdl (coverage + zonal_block)       {f['esdl_zonal_s']:.3f} s = {f['coverage_s']:.3f} + {f['zonal_s']:.3f}",
        f"  exactextract ({f['exactextract_strategy']})  {f['exactextract_s']:.3f} s "
        f"(+ {f['exactextract_parse_s']:.3f} s to turn its output into arrays, not counted)",
        f"  speedup                             {f['zonal_speedup_vs_exactextract']:.1f}x  (target >= 5: "
        f"{ok[tm['zonal_speedup_vs_exactextract']]})",
        f"  esdl end to end from Zarr (dask threads) {f['esdl_from_zarr_s']:.3f} s",
        f"  max_rel_diff                        {f['max_rel_diff']:.3g}  (target <= 1e-9: {ok[tm['max_rel_diff']]})",
        "    by statistic: " + ", ".join(f"{k} {v:.2g}" for k, v in f["max_rel_diff_by_stat"].items()),
        f"    where exactextract's value is non-zero: {f['max_rel_diff_where_exactextract_nonzero']:.3g} ("
        + ", ".join(f"{k} {v:.2g}" for k, v in f["max_rel_diff_where_exactextract_nonzero_by_stat"].items())
        + ")",
        f"    exactextract 0, esdl not: {f['exactextract_zero_esdl_not']['mismatches']} values, at most "
        f"{f['exactextract_zero_esdl_not']['max_abs_diff']:.3g}",
        f"    valid_count mismatches {f['valid_count_mismatches']}, NaN mismatches {f['nan_mismatches']}",
        "    against exact arithmetic where they disagree most: "
        + "; ".join(
            f"{s}: esdl rel err {v['esdl_max_rel_err']:.2g}, exactextract {v['exactextract_max_rel_err']:.2g}"
            f" (abs at exact 0: esdl {v['esdl_max_abs_err_at_exact_zero']:.2g}, "
            f"exactextract {v['exactextract_max_abs_err_at_exact_zero']:.2g})"
            for s, v in ex.items()
        ),
        f"  load {f['rows']} rows ({f['database']}): empty table {f['load_s']:.2f} s "
        f"({f['rows_per_s_first_load']:,} rows/s), reload {f['reload_s']:.2f} s ({f['rows_per_s_reload']:,} rows/s)",
        f"  rows_per_s (the slower)             {f['rows_per_s']:,}  (target >= 50,000: {ok[tm['rows_per_s']]})",
        f"    of a load: encoding the COPY payload {f['load_encode_s']:.2f} s; the reload's DELETE alone "
        f"{f['reload_delete_s']:.2f} s; a load into an empty table without foreign-key checks "
        + ("n/a" if f["load_without_fk_checks_s"] is None else f"{f['load_without_fk_checks_s']:.2f} s"),
        "",
    ]
    print("\n".join(lines), flush=True)


def run_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Generate the inputs, run both parts, return the figures."""
    from _catalogbench.inputs import VARIABLES, make_cube, make_regions, time_axis

    t0 = time.perf_counter()
    cube, written = make_cube(workdir / "cube.zarr", args.years, args.seed)
    cube_info = {
        "time_steps": len(time_axis(args.years)[0]),
        "variables": list(VARIABLES),
        "written": written,
        "write_s": time.perf_counter() - t0,
    }
    log(f"cube {cube} ({'written' if written else 'reused'}) in {cube_info['write_s']:.1f} s")
    regions = make_regions(args.regions, args.seed)
    geometries = [r.geom for r in regions]
    z = zonal_part(args, cube, geometries)
    db = load_part(args, workdir, cube, regions, z["stats"])
    return summarise(args, cube_info, z, db)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the report and the JSON line."""
    args = parse_args(argv)
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esdl-catalog-bench-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        figures = run_benchmark(args, workdir)
    except Exception as err:
        traceback.print_exc()
        print(json.dumps({"benchmark": "catalog_load", "error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(figures)
    print(json.dumps(figures, default=float), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
