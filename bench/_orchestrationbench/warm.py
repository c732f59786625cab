"""The warm-start process of the webhook-to-running measurement, as ``esdl up`` runs it: ``python -m
esdl.warmstart zygote`` with the flow files of ``deployments/prefect.yaml`` preloaded, in the repository root,
with the worker's environment (``esdl up`` gives both the same), in a session of its own; and what its log and the
worker's say about the runs it started (warm) and the ones that started cold.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esdl import warmstart


class Zygote:
    """The zygote listening on ``socket``; its output in ``log_path``."""

    def __init__(self, socket: Path, preload: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.socket = socket
        self.preload = preload
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 180.0, log: Callable[[str], None] = print) -> float:
        """Start it and wait until it listens; the seconds that took (its imports).

        Raises:
            RuntimeError: It exited, or did not listen in time (the log's tail in the message).
        """
        t0 = time.perf_counter()
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                warmstart.zygote_command(self.socket, self.preload),
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the zygote exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the zygote did not listen within {timeout_s:.0f} s: {self.log_tail()}")
            time.sleep(0.2)
        took = time.perf_counter() - t0
        log(f"zygote listening after {took:.1f} s ({', '.join(self.preload)} preloaded)")
        return took

    def stop(self) -> None:
        """SIGTERM (it ends once its runs have), SIGKILL to its group after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(20)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


FORKED = re.compile(r"run \d+: flow run ([0-9a-f-]{36})")


def starts(zygote_log: str, worker_log: str, run_ids: list[str]) -> dict[str, Any]:
    """How many of ``run_ids`` the zygote forked (``warm``), how many cold starts the worker's log shows
    (``cold``: the launcher's line for each), and the cold starts' reasons."""
    forked = set(FORKED.findall(zygote_log))
    reasons: dict[str, int] = {}
    for line in worker_log.splitlines():
        if "esdl.warmstart: cold start (" in line:
            reason = line.split("cold start (", 1)[1].rstrip(")")[:120]
            reasons[reason] = reasons.get(reason, 0) + 1
    out: dict[str, Any] = {"warm": sum(r in forked for r in run_ids), "cold": sum(reasons.values())}
    if reasons:
        out["cold_reasons"] = reasons
    return out
