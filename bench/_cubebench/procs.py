"""Processes of the benchmark: a Prefect server to run flows against, and peak-RSS sampling of a process tree."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

# the venv's own prefect, so the benchmark runs as `.venv/bin/python bench/cube_build.py` without an activated venv
PREFECT = str(Path(sys.executable).parent / "prefect")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, key: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure from ``/proc/<pid>/status`` in KiB; 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class ProcessPeak:
    """The highest resident set size and the CPU time seen for one process."""

    pid: int
    name: str
    peak_bytes: int = 0
    cpu_s: float = 0.0


def _cpu_s(times: object) -> tuple[float, float]:
    """``(busy, steal)`` CPU seconds of a ``psutil.cpu_times()`` reading.

    Busy is everything but idle, I/O wait and steal (guest time is already counted in user time); steal is
    time a hypervisor gave to other machines.
    """
    values = times._asdict()  # type: ignore[attr-defined]
    skip = ("idle", "iowait", "steal", "guest", "guest_nice")
    return float(sum(v for k, v in values.items() if k not in skip)), float(values.get("steal", 0.0))


@dataclass
class TreeMonitor:
    """Samples a process and all its descendants every ``interval`` seconds, in a thread.

    RSS: each sample also reads the kernel's high-water mark (``VmHWM``), so a spike between two samples is
    still counted as long as the process is alive at one later sample.

    CPU: the tree's CPU time is compared with the machine's busy time over the same span; what remains,
    less the Prefect server's share (``server_pid``), was used by other programs and skews the timing.
    """

    root_pid: int
    server_pid: int | None = None
    interval: float = 0.1
    peaks: dict[int, ProcessPeak] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    _busy0: float = 0.0
    _steal0: float = 0.0
    _server0: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            entry = self.peaks.get(proc.pid)
            try:
                if entry is None:
                    name = "flow/job process" if proc.pid == self.root_pid else _describe(proc)
                    entry = self.peaks[proc.pid] = ProcessPeak(proc.pid, name)
                rss = proc.memory_info().rss
                times = proc.cpu_times()
            except psutil.Error:
                continue
            entry.peak_bytes = max(entry.peak_bytes, rss, _status_kib(proc.pid, "VmHWM") * 1024)
            entry.cpu_s = max(entry.cpu_s, times.user + times.system)

    def _server_cpu(self) -> float:
        if self.server_pid is None:
            return 0.0
        try:
            server = psutil.Process(self.server_pid)
            procs = [server, *server.children(recursive=True)]
            return sum(t.user + t.system for t in (p.cpu_times() for p in procs))
        except psutil.Error:
            return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        self._t0, self._server0 = time.monotonic(), self._server_cpu()
        self._busy0, self._steal0 = _cpu_s(psutil.cpu_times())
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.monotonic() - self._t0
        busy1, steal1 = _cpu_s(psutil.cpu_times())
        busy, steal = busy1 - self._busy0, steal1 - self._steal0
        tree = sum(p.cpu_s for p in self.peaks.values())
        server = self._server_cpu() - self._server0
        other = max(0.0, busy - tree - server)
        capacity = max(elapsed * (os.cpu_count() or 1), 1e-9)
        self.cpu = {
            "tree_cpu_s": round(tree, 2),
            "server_cpu_s": round(server, 2),
            "other_cpu_s": round(other, 2),
            "other_cpu_frac": round(other / capacity, 3),
            "steal_frac": round(steal / capacity, 3),
        }

    def largest(self) -> ProcessPeak | None:
        """The process with the largest peak, or ``None`` if nothing was sampled."""
        return max(self.peaks.values(), key=lambda p: p.peak_bytes, default=None)


def _describe(proc: psutil.Process) -> str:
    cmdline = " ".join(proc.cmdline())
    if "resource_tracker" in cmdline:
        return "multiprocessing resource tracker"
    if "spawn_main" in cmdline:
        return "dask worker (spawned)"
    return proc.name()


class PrefectServer:
    """``prefect server start`` on a free local port, with its state (SQLite) in ``home``.

    Used as a context manager; on entry it waits until ``/api/health`` answers.
    """

    def __init__(self, home: Path, log: Callable[[str], None] = print, timeout: float = 120.0) -> None:
        self.home = home
        self.port = free_port()
        self.log = log
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        """The value for ``PREFECT_API_URL``."""
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        """Environment entries that point a Prefect client at this server."""
        return {"PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api_url}

    def __enter__(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL")  # the server itself must not think it is a client of another server
        logfile = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port), "--analytics-off"],
            env=env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        started = time.monotonic()
        while time.monotonic() - started < self.timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.proc.returncode}; see {self.home}/server.log")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        self.log(f"prefect server ready at {self.api_url} after {time.monotonic() - started:.1f} s")
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"prefect server did not answer within {self.timeout:.0f} s; see {self.home}/server.log")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The server runs in its own session: stop its process group (it and what it started), nothing else.
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
