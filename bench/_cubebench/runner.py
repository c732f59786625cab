"""Running one job of the benchmark in a Python process of its own (``cube_build.py --run-job FILE``) while
sampling the memory and CPU of it and its descendants; the environment and output folders of the jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent  # bench/
REPO = HERE.parent
SCRIPT = HERE / "cube_build.py"
MB = 1e6


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
    name: str, job: dict[str, Any], workdir: Path, env: dict[str, str], timeout: float, server_pid: int | None
) -> dict[str, Any]:
    """Run ``job`` in a fresh Python process while sampling the RSS of it and its descendants.

    Returns the job's result plus ``process_s`` (the process's whole life, imports included),
    ``peak_rss_bytes`` (largest of any process), ``peak_flow_bytes``, ``peak_worker_bytes``, ``processes``,
    ``cpu`` (see :class:`~_cubebench.procs.TreeMonitor`) and, on failure, ``error``.
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
            [sys.executable, str(SCRIPT), "--run-job", str(job_file)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        with TreeMonitor(proc.pid, server_pid=server_pid) as monitor:
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
        cpu=monitor.cpu,
        processes=[
            {"pid": p.pid, "name": p.name, "peak_mb": round(p.peak_bytes / MB, 1)}
            for p in sorted(monitor.peaks.values(), key=lambda p: -p.peak_bytes)
        ],
    )
    return result


def fresh(path: Path) -> Path:
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
