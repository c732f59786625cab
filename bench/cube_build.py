#!/usr/bin/env python
"""Benchmark of a cube build: the esdl flow against a hand-written xarray + dask baseline and xcube gen2.

Usage::

    python bench/cube_build.py [--scale N] [--quick] [--no-growth] [--workdir DIR] [--workers 2] ...

It generates its inputs (cached under ``--workdir``, default ``.esdl/bench/`` in the repository): at scale 1
about 2 GB of a daily 0.05° field (Zarr format 3) aggregated to 0.25° and 8-day bins that restart every
1 January, plus a daily 0.3° field on an offset grid (NetCDF-4) interpolated onto the same grid. Then, with a
Prefect server started beforehand (or the one given by ``--api-url``), it times, each in its own process and
each starting its own Dask cluster inside its timing:

* ``baseline``: plain xarray + dask (coarsen, interp, group by bin, mean, ``to_zarr``);
* ``esdl``: the ``build_cube`` flow on the same job;
* ``gen2``: xcube gen2 on the spatial part it supports (0.05° → 0.25°, no time resampling);
* ``esdl_spatial``: the flow on that same spatial-only job (period ``1D``, source A only);
* ``esdl_growth``: the flow on the full job at ``--growth-factor`` (4) times the scale, for ``rss_growth``.

Peak RSS is sampled (every 0.1 s, with the kernel's high-water marks) over the job process and all its
descendants, and cross-checked with ``getrusage``. The CPU time other programs used during each job is
measured too and reported as ``other_cpu_frac``: on a shared machine it explains noisy times (``--repeat N``
keeps the fastest of N runs). Outputs are compared: esdl against the baseline, esdl's spatial-only cube
against gen2's. Human-readable figures come first; the last line is one JSON object with, among others,
``throughput_mb_s``, ``ratio_vs_baseline``, ``speedup_vs_gen2``, ``peak_rss_mb``, ``rss_growth`` and
``max_abs_diff_vs_baseline``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _cubebench.inputs import InputSet

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as ``python -m bench.cube_build``: the helpers live beside this file
    sys.path.insert(0, str(HERE))
MB = 1e6
PARTS = ("baseline", "esdl", "gen2", "esdl_spatial", "growth")

# Imports of the benchmark's own helpers and of the heavy libraries happen inside functions: Dask's worker
# processes are spawned and re-import this file as __mp_main__, which should stay cheap.


def log(message: str) -> None:
    """Progress output (stderr, so that stdout ends with the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="input size factor; 1 is about 2 GB (default 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: scale 0.05 (about 100 MB), growth at 0.2")
    p.add_argument(
        "--no-growth",
        dest="growth",
        action="store_false",
        help="skip the esdl run at growth-factor x scale (rss_growth is then null)",
    )
    p.add_argument("--growth-factor", type=float, default=4.0, help="scale factor of the growth run (default 4)")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip, of: {', '.join(PARTS)}")
    p.add_argument(
        "--workdir",
        type=Path,
        default=REPO / ".esdl" / "bench",
        help="inputs, outputs, logs and Prefect state (default .esdl/bench in the repository)",
    )
    p.add_argument("--workers", type=int, default=2, help="Dask worker processes on each side (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per Dask worker (default 1)")
    p.add_argument("--memory-limit", default="3GiB", help="memory limit per Dask worker (default 3GiB)")
    p.add_argument(
        "--processes",
        action="store_true",
        help="Dask workers as processes on every side (default: threads in the job's process, "
        "esdl's default for a local cluster)",
    )
    p.add_argument(
        "--api-url", default=None, help="use this running Prefect server (PREFECT_API_URL) instead of starting one"
    )
    p.add_argument("--repeat", type=int, default=1, help="run each part N times and keep the fastest (default 1)")
    p.add_argument("--job-timeout", type=float, default=3600.0, help="seconds before a job is killed")
    p.add_argument("--run-job", type=Path, default=None, help=argparse.SUPPRESS)  # internal: run one job
    args = p.parse_args(argv)
    unknown = {s for s in args.skip.split(",") if s} - set(PARTS)
    if unknown:
        p.error(f"--skip: unknown parts {sorted(unknown)}")
    return args


# --- one job, in its own process ---------------------------------------------------------------------------


# --- the benchmark ------------------------------------------------------------------------------------------


def plan_jobs(
    inputs: InputSet, growth_inputs: InputSet | None, workdir: Path, cluster: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The job of each part, keyed by part name; each names its inputs and its own output folder."""
    from _cubebench.jobs import cube_spec

    def job(kind: str, name: str, ins: InputSet, **extra: Any) -> dict[str, Any]:
        output = str(workdir / "out" / name / "cube.zarr")
        return {"kind": kind, "inputs": asdict(ins), "output": output, "cluster": cluster, **extra}

    def spec(ins: InputSet, part: str, period: str, with_b: bool) -> dict[str, Any]:
        output = str(workdir / "out" / part / "cube.zarr")
        return cube_spec(f"bench-{part}-s{ins.scale:g}", asdict(ins), output, period, with_b=with_b)

    jobs = {
        "baseline": job("baseline", "baseline", inputs),
        "esdl": job("esdl", "esdl", inputs, spec=spec(inputs, "esdl", "8D", True)),
        "gen2": job("gen2", "gen2", inputs),
        "esdl_spatial": job("esdl", "esdl_spatial", inputs, spec=spec(inputs, "esdl_spatial", "1D", False)),
    }
    if growth_inputs is not None:
        jobs["growth"] = job("esdl", "growth", growth_inputs, spec=spec(growth_inputs, "growth", "8D", True))
    return jobs


def run_jobs(jobs: dict[str, dict[str, Any]], args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, Any]]:
    """Run every job ``args.repeat`` times (rounds over all parts, so slow drifts hit all alike).

    A Prefect server is started first (unless ``--api-url`` names one) and stopped at the end.
    """
    from _cubebench.inputs import InputSet, warm_page_cache
    from _cubebench.procs import PrefectServer
    from _cubebench.report import best_of
    from _cubebench.runner import fresh, job_env, run_in_process

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in jobs}
    server = PrefectServer(workdir / "prefect", log=log) if not args.api_url else None
    with server or nullcontext():
        api_env = server.env() if server else {"PREFECT_API_URL": args.api_url}
        server_pid = server.proc.pid if server and server.proc else None
        env = job_env(api_env)
        for rnd in range(args.repeat):
            for name, job in jobs.items():
                fresh(Path(job["output"]).parent)
                warm_page_cache(InputSet(**job["inputs"]))
                log(f"running {name} (scale {job['inputs']['scale']:g}, run {rnd + 1} of {args.repeat}) ...")
                r = run_in_process(name, job, workdir, env, args.job_timeout, server_pid)
                runs[name].append(r)
                if "error" in r:
                    log(f"  {name} FAILED: {r['error']}")
                else:
                    log(
                        f"  {name}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_bytes'] / MB:.0f} MB, "
                        f"other programs used {r['cpu']['other_cpu_frac']:.0%} of the CPU"
                    )
    return {name: best_of(r) for name, r in runs.items()}


def check_outputs(jobs: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Compare esdl's cube with the baseline's (both variables) and esdl's spatial-only cube with gen2's."""
    from _cubebench.verify import compare

    checks: dict[str, Any] = {}
    pairs = {
        "t_a_vs_baseline": ("esdl", "t_a", "baseline", "t_a"),
        "t_b_vs_baseline": ("esdl", "t_b", "baseline", "t_b"),
        "spatial_vs_gen2": ("esdl_spatial", "t_a", "gen2", "t2m"),
    }
    for key, (side, var, ref, ref_var) in pairs.items():
        if all(n in results and "error" not in results[n] for n in (side, ref)):
            try:
                checks[key] = compare(jobs[side]["output"], var, jobs[ref]["output"], ref_var)
            except Exception as err:  # a missing variable, an unreadable store: report, do not stop
                checks[key] = {"error": f"{type(err).__name__}: {err}"}
    return checks


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Generate inputs, run the parts not skipped, compare outputs; return the figures."""
    from _cubebench.inputs import generate_inputs
    from _cubebench.report import summarise

    skip = {s for s in args.skip.split(",") if s} | (set() if args.growth else {"growth"})
    scale = 0.05 if args.quick else args.scale
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = {
        "n_workers": args.workers,
        "threads_per_worker": args.threads,
        "memory_limit": args.memory_limit,
        "processes": args.processes,
    }
    cpus = os.cpu_count() or 2
    inputs = generate_inputs(workdir, scale, workers=cpus, log=log)
    growth_inputs = (
        generate_inputs(workdir, scale * args.growth_factor, workers=cpus, log=log) if "growth" not in skip else None
    )
    size, disk = inputs.bytes_total / MB, inputs.disk_bytes / MB
    log(f"inputs at scale {scale:g}: {inputs.days} days, {size:.0f} MB ({disk:.0f} MB on disk)")
    jobs = {k: v for k, v in plan_jobs(inputs, growth_inputs, workdir, cluster).items() if k not in skip}
    results = run_jobs(jobs, args, workdir)
    checks = check_outputs(jobs, results)
    return summarise(scale, inputs, growth_inputs, cluster, args.repeat, results, checks)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, internally, one job); print the report and the JSON line."""
    args = parse_args(argv)
    if args.run_job is not None:
        from _cubebench.runner import job_main

        return job_main(args.run_job)
    from _cubebench.report import print_report

    figures = run_benchmark(args)
    print_report(figures)
    print(json.dumps(figures, default=str), flush=True)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
