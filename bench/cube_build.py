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
descendants, and cross-checked with ``getrusage``. Outputs are compared: esdl against the baseline, esdl's
spatial-only cube against gen2's. Human-readable figures come first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MB = 1e6
TARGETS = {
    "ratio_vs_baseline": (">=", 0.9),
    "speedup_vs_gen2": (">=", 2.0),
    "rss_growth": ("<=", 1.2),
    "peak_rss_mb": ("<=", 1500.0),
}
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
        "--api-url", default=None, help="use this running Prefect server (PREFECT_API_URL) instead of starting one"
    )
    p.add_argument("--job-timeout", type=float, default=3600.0, help="seconds before a job is killed")
    p.add_argument("--run-job", type=Path, default=None, help=argparse.SUPPRESS)  # internal: run one job
    args = p.parse_args(argv)
    unknown = {s for s in args.skip.split(",") if s} - set(PARTS)
    if unknown:
        p.error(f"--skip: unknown parts {sorted(unknown)}")
    return args


# --- one job, in its own process ---------------------------------------------------------------------------


def job_main(job_file: Path) -> int:
    """Entry point of a job process: run the job in ``job_file`` and write its result JSON beside it."""
    from _cubebench.jobs import run_job

    job = json.loads(job_file.read_text())
    result_file = Path(job["result_file"])
    try:
        result = run_job(job)
    except BaseException as err:  # report anything, the parent decides
        result_file.write_text(
            json.dumps({"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()})
        )
        traceback.print_exc()
        return 1
    result_file.write_text(json.dumps(result, default=str))
    return 0


def run_in_process(
    name: str, job: dict[str, Any], workdir: Path, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run ``job`` in a fresh Python process while sampling the RSS of it and its descendants.

    Returns the job's result plus ``process_s`` (the process's whole life, imports included),
    ``peak_rss_bytes`` (largest of any process), ``peak_flow_bytes``, ``peak_worker_bytes``, ``processes``
    and, on failure, ``error``.
    """
    from _cubebench.procs import TreeMonitor

    jobs_dir = workdir / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    job_file, result_file, log_file = (
        jobs_dir / f"{name}.json",
        jobs_dir / f"{name}.result.json",
        workdir / "logs" / f"{name}.log",
    )
    log_file.parent.mkdir(parents=True, exist_ok=True)
    result_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps({**job, "result_file": str(result_file)}, indent=1))
    t0 = time.perf_counter()
    with log_file.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--run-job", str(job_file)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        with TreeMonitor(proc.pid) as monitor:
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
    process_s = time.perf_counter() - t0
    result: dict[str, Any] = json.loads(result_file.read_text()) if result_file.exists() else {}
    if rc != 0 and "error" not in result:
        result["error"] = f"job process exited with {rc}; see {log_file}"
    if "error" in result:
        result["error"] = f"{result['error']} (log: {log_file})"
    flow_peak = max(
        [p.peak_bytes for p in monitor.peaks.values() if p.pid == proc.pid] + [result.get("maxrss_self_bytes", 0)]
    )
    worker_peak = max(
        [p.peak_bytes for p in monitor.peaks.values() if p.pid != proc.pid] + [result.get("maxrss_children_bytes", 0)]
    )
    result.update(
        process_s=process_s,
        peak_flow_bytes=flow_peak,
        peak_worker_bytes=worker_peak,
        peak_rss_bytes=max(flow_peak, worker_peak),
        log=str(log_file),
        processes=[
            {"pid": p.pid, "name": p.name, "peak_mb": round(p.peak_bytes / MB, 1)}
            for p in sorted(monitor.peaks.values(), key=lambda p: -p.peak_bytes)
        ],
    )
    return result


# --- the benchmark ------------------------------------------------------------------------------------------


def _fresh(path: Path) -> Path:
    """Remove ``path`` (a job's output folder) and recreate it empty."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def job_env(api_env: dict[str, str]) -> dict[str, str]:
    """Environment of the job processes: repository importable, Prefect pointed at the server."""
    env = {**os.environ, **api_env}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return env


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Generate inputs, run the parts not skipped, compare outputs; return the figures."""
    from dataclasses import asdict

    from _cubebench.inputs import generate_inputs, warm_page_cache
    from _cubebench.jobs import cube_spec
    from _cubebench.procs import PrefectServer
    from _cubebench.verify import compare

    skip = {s for s in args.skip.split(",") if s}
    if not args.growth:
        skip.add("growth")
    scale = 0.05 if args.quick else args.scale
    growth_scale = scale * args.growth_factor
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = {"n_workers": args.workers, "threads_per_worker": args.threads, "memory_limit": args.memory_limit}

    inputs = generate_inputs(workdir, scale, workers=os.cpu_count() or 2, log=log)
    growth_inputs = (
        generate_inputs(workdir, growth_scale, workers=os.cpu_count() or 2, log=log) if "growth" not in skip else None
    )
    log(
        f"inputs at scale {scale:g}: {inputs.days} days, {inputs.bytes_total / MB:.0f} MB "
        f"({inputs.disk_bytes / MB:.0f} MB on disk)"
    )

    out_root = workdir / "out"
    outputs = {
        "baseline": out_root / "baseline" / "cube.zarr",
        "esdl": out_root / "esdl" / "cube.zarr",
        "gen2": out_root / "gen2" / "cube.zarr",
        "esdl_spatial": out_root / "esdl_spatial" / "cube.zarr",
        "growth": out_root / "growth" / "cube.zarr",
    }
    jobs: dict[str, tuple[dict[str, Any], Any]] = {
        "baseline": ({"kind": "baseline"}, inputs),
        "esdl": (
            {
                "kind": "esdl",
                "spec": cube_spec(f"bench-cube-s{scale:g}", asdict(inputs), str(outputs["esdl"]), "8D", with_b=True),
            },
            inputs,
        ),
        "gen2": ({"kind": "gen2"}, inputs),
        "esdl_spatial": (
            {
                "kind": "esdl",
                "spec": cube_spec(
                    f"bench-spatial-s{scale:g}", asdict(inputs), str(outputs["esdl_spatial"]), "1D", with_b=False
                ),
            },
            inputs,
        ),
    }
    if growth_inputs is not None:
        jobs["growth"] = (
            {
                "kind": "esdl",
                "spec": cube_spec(
                    f"bench-cube-s{growth_scale:g}", asdict(growth_inputs), str(outputs["growth"]), "8D", with_b=True
                ),
            },
            growth_inputs,
        )

    server: AbstractContextManager[Any]
    if args.api_url:
        server = nullcontext()
        api_env = {"PREFECT_API_URL": args.api_url}
    else:
        server = PrefectServer(workdir / "prefect", log=log)
    results: dict[str, dict[str, Any]] = {}
    with server as running:
        if running is not None:
            api_env = running.env()
        env = job_env(api_env)
        for name in PARTS:
            if name in skip or name not in jobs:
                continue
            job, job_inputs = jobs[name]
            _fresh(outputs[name].parent)
            job = {**job, "inputs": asdict(job_inputs), "output": str(outputs[name]), "cluster": cluster}
            warm_page_cache(job_inputs)
            log(f"running {name} (scale {job_inputs.scale:g}) ...")
            results[name] = run_in_process(name, job, workdir, env, args.job_timeout)
            r = results[name]
            if "error" in r:
                log(f"  {name} FAILED: {r['error']}")
            else:
                log(f"  {name}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_bytes'] / MB:.0f} MB")

    checks: dict[str, Any] = {}
    pairs = {
        "t_a_vs_baseline": ("esdl", "t_a", "baseline", "t_a"),
        "t_b_vs_baseline": ("esdl", "t_b", "baseline", "t_b"),
        "spatial_vs_gen2": ("esdl_spatial", "t_a", "gen2", "t2m"),
    }
    for key, (side, var, ref, ref_var) in pairs.items():
        if side in results and ref in results and "error" not in results[side] and "error" not in results[ref]:
            try:
                checks[key] = compare(outputs[side], var, outputs[ref], ref_var)
            except Exception as err:  # a missing variable, an unreadable store: report, do not stop
                checks[key] = {"error": f"{type(err).__name__}: {err}"}
    return summarise(args, scale, growth_scale, inputs, growth_inputs, cluster, results, checks)


def _ok(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    r = results.get(name)
    return r if r is not None and "error" not in r else None


def summarise(
    args: argparse.Namespace,
    scale: float,
    growth_scale: float,
    inputs: Any,
    growth_inputs: Any,
    cluster: dict[str, Any],
    results: dict[str, dict[str, Any]],
    checks: dict[str, Any],
) -> dict[str, Any]:
    """Derive the reported figures from the job results."""
    esdl, base, gen2 = _ok(results, "esdl"), _ok(results, "baseline"), _ok(results, "gen2")
    spatial, growth = _ok(results, "esdl_spatial"), _ok(results, "growth")
    input_mb = inputs.bytes_total / MB

    def wall(r: dict[str, Any] | None) -> float | None:
        return round(r["wall_s"], 3) if r else None

    def peak(r: dict[str, Any] | None, key: str = "peak_rss_bytes") -> float | None:
        return round(r[key] / MB, 1) if r else None

    throughput = input_mb / esdl["wall_s"] if esdl else None
    base_throughput = input_mb / base["wall_s"] if base else None
    figures: dict[str, Any] = {
        "throughput_mb_s": round(throughput, 2) if throughput else None,
        "ratio_vs_baseline": round(throughput / base_throughput, 3) if throughput and base_throughput else None,
        "speedup_vs_gen2": round(gen2["wall_s"] / spatial["wall_s"], 3) if gen2 and spatial else None,
        "peak_rss_mb": peak(esdl),
        "rss_growth": round(growth["peak_rss_bytes"] / esdl["peak_rss_bytes"], 3) if growth and esdl else None,
        "max_abs_diff_vs_baseline": (checks.get("t_a_vs_baseline") or {}).get("max_abs_diff"),
        "max_abs_diff_b_vs_baseline": (checks.get("t_b_vs_baseline") or {}).get("max_abs_diff"),
        "max_abs_diff_spatial_vs_gen2": (checks.get("spatial_vs_gen2") or {}).get("max_abs_diff"),
        "esdl_s": wall(esdl),
        "baseline_s": wall(base),
        "gen2_s": wall(gen2),
        "esdl_spatial_s": wall(spatial),
        "esdl_growth_s": wall(growth),
        "baseline_throughput_mb_s": round(base_throughput, 2) if base_throughput else None,
        "growth_throughput_mb_s": (
            round(growth_inputs.bytes_total / MB / growth["wall_s"], 2) if growth and growth_inputs else None
        ),
        "peak_rss_mb_flow_process": peak(esdl, "peak_flow_bytes"),
        "peak_rss_mb_dask_worker": peak(esdl, "peak_worker_bytes"),
        "peak_rss_mb_growth": peak(growth),
        "peak_rss_mb_esdl_spatial": peak(spatial),
        "peak_rss_mb_baseline": peak(base),
        "peak_rss_mb_gen2": peak(gen2),
        "process_s": {k: round(r["process_s"], 2) for k, r in results.items()},
        "esdl_processes": esdl["processes"][:6] if esdl else None,
        "esdl_flow": (
            {k: esdl["flow_result"].get(k) for k in ("path", "regions", "written")}
            if esdl and isinstance(esdl.get("flow_result"), dict)
            else None
        ),
        "gen2_method": gen2.get("gen2_method") if gen2 else None,
        "input_mb": round(input_mb, 1),
        "input_a_mb": round(inputs.bytes_a / MB, 1),
        "input_b_mb": round(inputs.bytes_b / MB, 1),
        "input_disk_mb": round(inputs.disk_bytes / MB, 1),
        "input_days": inputs.days,
        "growth_input_mb": round(growth_inputs.bytes_total / MB, 1) if growth_inputs else None,
        "scale": scale,
        "growth_scale": growth_scale if growth_inputs else None,
        "cluster": cluster,
        "cpu_count": os.cpu_count(),
        "checks": checks,
        "errors": {k: r["error"] for k, r in results.items() if "error" in r},
        "units": {"mb": "1e6 bytes", "s": "wall-clock seconds of the timed part (cluster start included)"},
    }
    figures["targets_met"] = {
        key: (None if figures[key] is None else (figures[key] >= bound if op == ">=" else figures[key] <= bound))
        for key, (op, bound) in TARGETS.items()
    }
    return figures


def print_report(fig: dict[str, Any]) -> None:
    """Human-readable figures on stdout (the JSON line follows them)."""

    def show(value: Any, fmt: str = "{:.2f}", unit: str = "") -> str:
        return "n/a" if value is None else fmt.format(value) + unit

    print(
        f"esdl cube-build benchmark: scale {fig['scale']:g}, {fig['input_days']} days, "
        f"{fig['input_mb']:.0f} MB of input ({fig['input_disk_mb']:.0f} MB on disk), "
        f"{fig['cluster']['n_workers']} workers x {fig['cluster']['threads_per_worker']} threads, "
        f"{fig['cpu_count']} CPUs"
    )
    rows = [
        ("esdl flow (8D, A+B)", fig["esdl_s"], fig["throughput_mb_s"], fig["peak_rss_mb"]),
        ("baseline xarray+dask", fig["baseline_s"], fig["baseline_throughput_mb_s"], fig["peak_rss_mb_baseline"]),
        ("esdl flow (1D, A only)", fig["esdl_spatial_s"], None, fig["peak_rss_mb_esdl_spatial"]),
        (f"gen2 ({fig['gen2_method'] or 'n/a'})", fig["gen2_s"], None, fig["peak_rss_mb_gen2"]),
        (
            f"esdl flow at scale {fig['growth_scale'] or 0:g}",
            fig["esdl_growth_s"],
            fig["growth_throughput_mb_s"],
            fig["peak_rss_mb_growth"],
        ),
    ]
    print(f"  {'side':<30} {'time':>10} {'throughput':>13} {'peak RSS':>10}")
    for label, seconds, tput, rss in rows:
        print(
            f"  {label:<30} {show(seconds, unit=' s'):>10} {show(tput, unit=' MB/s'):>13} "
            f"{show(rss, '{:.0f}', ' MB'):>10}"
        )
    print(
        f"  esdl peak RSS: flow process {show(fig['peak_rss_mb_flow_process'], '{:.0f}', ' MB')}, "
        f"largest Dask worker {show(fig['peak_rss_mb_dask_worker'], '{:.0f}', ' MB')}"
    )
    for key, (op, bound) in TARGETS.items():
        met = fig["targets_met"][key]
        print(
            f"  {key:<20} {show(fig[key], '{:.3f}'):>10}   target {op} {bound:g}   "
            f"{'ok' if met else 'n/a' if met is None else 'MISSED'}"
        )
    for key, check in fig["checks"].items():
        print(f"  check {key}: {json.dumps(check)}")
    for key, err in fig["errors"].items():
        print(f"  ERROR {key}: {err}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, internally, one job); print the report and the JSON line."""
    args = parse_args(argv)
    if args.run_job is not None:
        return job_main(args.run_job)
    figures = run_benchmark(args)
    print_report(figures)
    print(json.dumps(figures, default=str), flush=True)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
