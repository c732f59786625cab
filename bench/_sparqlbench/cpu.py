"""How much of the machine other programs used while a part of the benchmark ran (shared machines are noisy).

``other_cpu_frac`` = (CPU time the whole machine was busy - this process tree's - the PostgreSQL server's) /
(wall time × cores). The server's share is its postmaster with every backend and parallel worker, the exited
ones included (the postmaster's children times); it is known for the throwaway cluster only (with
``ESDL_DATABASE_URL`` the server's work counts as "other", and the fraction is an upper bound).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil


def _machine_busy() -> float:
    values = psutil.cpu_times()._asdict()
    skip = ("idle", "iowait", "steal", "guest", "guest_nice")  # guest time is already in user time
    return float(sum(v for k, v in values.items() if k not in skip))


def _tree(proc: psutil.Process) -> float:
    """CPU seconds of a process, its exited (waited-for) children and its live descendants."""
    try:
        t = proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return float(total)
    except psutil.Error:
        return 0.0


def postmaster_pid(data_dir: str | Path | None) -> int | None:
    """The server's process id from ``postmaster.pid`` in its data folder (``None`` when unknown)."""
    if data_dir is None:
        return None
    try:
        return int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuWatch:
    """Readings at :meth:`start` and :meth:`stop` of one part."""

    def __init__(self, server_pid: int | None) -> None:
        self.server = psutil.Process(server_pid) if server_pid and psutil.pid_exists(server_pid) else None
        self.me = psutil.Process(os.getpid())

    def _read(self) -> tuple[float, float, float, float]:
        server = _tree(self.server) if self.server is not None else 0.0
        return time.monotonic(), _machine_busy(), _tree(self.me), server

    def start(self) -> tuple[float, float, float, float]:
        """A reading to give to :meth:`stop`."""
        return self._read()

    def stop(self, start: tuple[float, float, float, float]) -> dict[str, Any]:
        """The part's ``other_cpu_frac`` and its parts."""
        t1, busy1, mine1, server1 = self._read()
        t0, busy0, mine0, server0 = start
        wall = max(t1 - t0, 1e-9)
        cores = psutil.cpu_count() or 1
        other = max(0.0, (busy1 - busy0) - (mine1 - mine0) - (server1 - server0))
        return {
            "wall_s": round(wall, 1),
            "own_cpu_s": round(mine1 - mine0, 1),
            "server_cpu_s": round(server1 - server0, 1) if self.server is not None else None,
            "other_cpu_s": round(other, 1),
            "other_cpu_frac": round(other / (wall * cores), 3),
            "server_known": self.server is not None,
        }
