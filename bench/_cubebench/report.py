"""The benchmark's figures: derived from the job results, printed for people, and as one JSON object."""

from __future__ import annotations

import json
import os
from typing import Any

from _cubebench.inputs import InputSet

MB = 1e6
TARGETS = {
    "ratio_vs_baseline": (">=", 0.9),
    "speedup_vs_gen2": (">=", 2.0),
    "rss_growth": ("<=", 1.2),
    "peak_rss_mb": ("<=", 1500.0),
}
BUSY_WARNING = 0.1
"""Share of the machine's CPU used by other programs during a job above which its time is flagged."""


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine repeated runs of one job: the fastest successful run's figures, the largest peak RSS of all."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    best = dict(min(ok, key=lambda r: r["wall_s"]))
    for key in ("peak_rss_bytes", "peak_flow_bytes", "peak_worker_bytes"):
        best[key] = max(r[key] for r in ok)
    best["walls_s"] = [round(r["wall_s"], 3) for r in ok]
    return best


def _ok(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    r = results.get(name)
    return r if r is not None and "error" not in r else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summarise(
    scale: float,
    inputs: InputSet,
    growth_inputs: InputSet | None,
    cluster: dict[str, Any],
    repeat: int,
    results: dict[str, dict[str, Any]],
    checks: dict[str, Any],
) -> dict[str, Any]:
    """Derive the reported figures (see ``bench/cube_build.py``) from the job results and output checks."""
    esdl, base, gen2 = _ok(results, "esdl"), _ok(results, "baseline"), _ok(results, "gen2")
    spatial, growth = _ok(results, "esdl_spatial"), _ok(results, "growth")
    input_mb = inputs.bytes_total / MB

    def wall(r: dict[str, Any] | None) -> float | None:
        return round(r["wall_s"], 3) if r else None

    def peak(r: dict[str, Any] | None, key: str = "peak_rss_bytes") -> float | None:
        return round(r[key] / MB, 1) if r else None

    throughput = input_mb / esdl["wall_s"] if esdl else None
    base_throughput = input_mb / base["wall_s"] if base else None
    fig: dict[str, Any] = {
        "throughput_mb_s": _round(throughput, 2),
        "ratio_vs_baseline": _round(throughput / base_throughput, 3) if throughput and base_throughput else None,
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
        "walls_s": {k: r.get("walls_s") for k, r in results.items()},
        "baseline_throughput_mb_s": _round(base_throughput, 2),
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
        "other_cpu_frac": {k: r.get("cpu", {}).get("other_cpu_frac") for k, r in results.items()},
        "steal_frac": {k: r.get("cpu", {}).get("steal_frac") for k, r in results.items()},
        "prefect_server_cpu_s": {k: r.get("cpu", {}).get("server_cpu_s") for k, r in results.items()},
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
        "growth_scale": growth_inputs.scale if growth_inputs else None,
        "repeat": repeat,
        "cluster": cluster,
        "cpu_count": os.cpu_count(),
        "checks": checks,
        "errors": {k: r["error"] for k, r in results.items() if "error" in r},
        "units": {
            "mb": "1e6 bytes",
            "s": "wall-clock seconds of the timed part (cluster start included); the best of `repeat` runs",
        },
    }
    fig["targets_met"] = {
        key: None if fig[key] is None else (fig[key] >= bound if op == ">=" else fig[key] <= bound)
        for key, (op, bound) in TARGETS.items()
    }
    return fig


def _show(value: Any, fmt: str = "{:.2f}", unit: str = "") -> str:
    return "n/a" if value is None else fmt.format(value) + unit


def print_report(fig: dict[str, Any]) -> None:
    """Human-readable figures on stdout (the JSON line follows them)."""
    print(
        f"esdl cube-build benchmark: scale {fig['scale']:g}, {fig['input_days']} days, "
        f"{fig['input_mb']:.0f} MB of input ({fig['input_disk_mb']:.0f} MB on disk), "
        f"{fig['cluster']['n_workers']} workers x {fig['cluster']['threads_per_worker']} threads, "
        f"{fig['cpu_count']} CPUs, best of {fig['repeat']}"
    )
    rows = [
        ("esdl", "esdl flow (8D, A+B)", fig["esdl_s"], fig["throughput_mb_s"], fig["peak_rss_mb"]),
        (
            "baseline",
            "baseline xarray+dask",
            fig["baseline_s"],
            fig["baseline_throughput_mb_s"],
            fig["peak_rss_mb_baseline"],
        ),
        ("esdl_spatial", "esdl flow (1D, A only)", fig["esdl_spatial_s"], None, fig["peak_rss_mb_esdl_spatial"]),
        ("gen2", "xcube gen2 (A only)", fig["gen2_s"], None, fig["peak_rss_mb_gen2"]),
        (
            "growth",
            f"esdl flow at scale {fig['growth_scale']:g}" if fig["growth_scale"] else "esdl flow (growth run)",
            fig["esdl_growth_s"],
            fig["growth_throughput_mb_s"],
            fig["peak_rss_mb_growth"],
        ),
    ]
    print(f"  {'side':<30} {'time':>10} {'throughput':>13} {'peak RSS':>10} {'CPU used by others':>19}")
    for key, label, seconds, tput, rss in rows:
        other = fig["other_cpu_frac"].get(key)
        print(
            f"  {label:<30} {_show(seconds, unit=' s'):>10} {_show(tput, unit=' MB/s'):>13} "
            f"{_show(rss, '{:.0f}', ' MB'):>10} {_show(other, '{:.0%}'):>19}"
        )
    print(
        f"  esdl peak RSS: flow process {_show(fig['peak_rss_mb_flow_process'], '{:.0f}', ' MB')}, "
        f"largest Dask worker {_show(fig['peak_rss_mb_dask_worker'], '{:.0f}', ' MB')}; gen2 method: "
        f"{fig['gen2_method'] or 'n/a'}"
    )
    for key, (op, bound) in TARGETS.items():
        met = fig["targets_met"][key]
        verdict = "ok" if met else "n/a" if met is None else "MISSED"
        print(f"  {key:<20} {_show(fig[key], '{:.3f}'):>10}   target {op} {bound:g}   {verdict}")
    for key, check in fig["checks"].items():
        print(f"  check {key}: {json.dumps(check)}")
    busy = {k: v for k, v in fig["other_cpu_frac"].items() if v is not None and v > BUSY_WARNING}
    if busy:
        print(
            f"  WARNING: other programs used the CPU during {', '.join(f'{k} ({v:.0%})' for k, v in busy.items())};"
            " those times are inflated (try --repeat)"
        )
    for key, err in fig["errors"].items():
        print(f"  ERROR {key}: {err}")
