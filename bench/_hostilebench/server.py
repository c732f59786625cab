"""The real server: ``esdl serve`` as a subprocess (the ``esdl`` beside this interpreter, never from ``PATH``), its
log, and a thread that samples its memory (and the database backends') every ``interval_s``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

MB = 1e6
INTERNAL = re.compile(r"internal error ([0-9a-f]{12})")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``esdl serve --host 127.0.0.1 --port PORT`` with ``ESDL_DATABASE_URL`` and the ``ESDL_SPARQL_*`` limits,
    run in ``workdir`` (so that no ``.env`` of the repository is read), its output in ``workdir/esdl-serve.log``."""

    def __init__(
        self, url: str, limits: dict[str, Any], workdir: Path, port: int = 0, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.endpoint = f"{self.base}/sparql"
        self.workdir = workdir
        self.log_path = workdir / "esdl-serve.log"
        # other ESDL_SPARQL_* of the environment (the express slot's, say) pass through; the limits are ours
        self.env = dict(os.environ)
        self.env.update({f"ESDL_SPARQL_{k.upper()}": str(v) for k, v in limits.items()})
        self.env.update(extra_env or {})
        self.env["ESDL_DATABASE_URL"] = url
        self.env["ESDL_HOME"] = str(workdir / "esdl-home")  # never the project's .esdl
        self.env["PYTHONUNBUFFERED"] = "1"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def settings_shown(self) -> dict[str, str]:
        """The ``ESDL_SPARQL_*`` variables the server gets, secrets left out."""
        secret = ("PASSWORD", "DATABASE_URL")
        return {
            k: ("(set)" if any(w in k for w in secret) else v)
            for k, v in sorted(self.env.items())
            if k.startswith("ESDL_SPARQL_")
        }

    @property
    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "esdl"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, timeout_s: float = 120) -> float:
        """Start the server and wait until ``GET /sparql?query=ASK{}`` answers 200; returns the seconds it took.

        Raises:
            RuntimeError: It exited, or did not answer in time (the log's tail in the message).
        """
        self._log = self.log_path.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command, cwd=self.workdir, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"esdl serve exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if requests.get(self.endpoint, params={"query": "ASK{}"}, timeout=5).status_code == 200:
                    return time.perf_counter() - t0
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"esdl serve did not answer in {timeout_s:.0f} s: {self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; returns the exit status."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(15)
            rc = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]

    def log_findings(self) -> dict[str, Any]:
        """What the server's log says went wrong: internal errors (by id), tracebacks, uvicorn's ASGI errors."""
        text = self.log_text()
        tracebacks = []
        lines = text.splitlines()
        for i, ln in enumerate(lines):
            if ln.startswith("Traceback"):
                end = i + 1
                while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
                    end += 1
                tracebacks.append("\n".join(lines[max(0, i - 1) : end + 1])[-3000:])
        ignored = [i for i, ln in enumerate(lines) if ln.startswith("Exception ignored in")]
        # a translation's time limit fired where Python discards exceptions (a weakref callback, a __del__): that
        # translation went on past the limit
        lost = sum("TimeLimitExceeded" in _without_access_lines(lines[i : i + 40]) for i in ignored)
        return {
            "time_limits_lost": lost,
            "exceptions_ignored": len(ignored),  # e.g. a time limit's exception swallowed by a weakref callback
            "exceptions_ignored_samples": [_without_access_lines(lines[i : i + 40])[-1500:] for i in ignored[:3]],
            "internal_error_ids": INTERNAL.findall(text),
            "tracebacks": len(tracebacks),
            "traceback_samples": tracebacks[:3],
            "asgi_exceptions": text.count("Exception in ASGI application"),
        }


def _without_access_lines(lines: list[str], most: int = 8) -> str:
    """Up to ``most`` lines that are not uvicorn's log lines (a traceback printed between access lines)."""
    return "\n".join([ln for ln in lines if not ln.startswith("INFO:")][:most])


class MemorySampler:
    """Every ``interval_s``: the RSS of the server process plus its children, and of the largest database
    backend (the throwaway cluster's; it includes the shared buffers the backend touched). The phase of each
    maximum is kept (:attr:`phase` is set by the benchmark)."""

    def __init__(self, server_pid: int, postmaster_pid: int | None, interval_s: float = 0.2) -> None:
        self.server = psutil.Process(server_pid)
        self.postmaster = (
            psutil.Process(postmaster_pid) if postmaster_pid and psutil.pid_exists(postmaster_pid) else None
        )
        self.interval_s = interval_s
        self.phase = "start"
        self.samples = 0
        self.max_rss = 0
        self.max_rss_phase = ""
        self.max_rss_by_phase: dict[str, int] = {}
        self.max_backend_rss = 0
        self.max_backend_phase = ""
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _tree_rss(self, proc: psutil.Process) -> int:
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return int(total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            phase = self.phase
            try:
                rss = self._tree_rss(self.server)
                self.samples += 1
                if rss > self.max_rss:
                    self.max_rss, self.max_rss_phase = rss, phase
                self.max_rss_by_phase[phase] = max(rss, self.max_rss_by_phase.get(phase, 0))
            except psutil.Error:
                self.errors += 1
            if self.postmaster is not None:
                try:
                    for child in self.postmaster.children():
                        try:
                            rss = child.memory_info().rss
                        except psutil.Error:
                            continue
                        if rss > self.max_backend_rss:
                            self.max_backend_rss, self.max_backend_phase = rss, phase
                except psutil.Error:
                    pass
            self._stop.wait(self.interval_s)

    def figures(self) -> dict[str, Any]:
        return {
            "max_rss_mb": round(self.max_rss / MB, 1),
            "max_rss_phase": self.max_rss_phase,
            "max_rss_mb_by_phase": {k: round(v / MB, 1) for k, v in self.max_rss_by_phase.items()},
            "max_db_backend_rss_mb": round(self.max_backend_rss / MB, 1) if self.postmaster is not None else None,
            "max_db_backend_phase": self.max_backend_phase or None,
            "rss_samples": self.samples,
            "rss_sample_errors": self.errors,
        }
