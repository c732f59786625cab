"""What the launcher and the zygote share: the socket's protocol, the environment rule and small socket and
process helpers. Standard library only (the launcher imports it, and starts in some 50 ms)."""

from __future__ import annotations

import os
import signal
import socket
import struct
from pathlib import Path
from typing import Any

SOCKET = "warmstart.sock"
ENGINE = "prefect.engine"
PROTOCOL = 1
HEADER = struct.Struct("!BI")  # protocol version, length of the JSON request; the descriptors ride on it
STDIO = (0, 1, 2)
CONNECT_TIMEOUT_S = 1.0
REPLY_TIMEOUT_S = 10.0  # the zygote answers within milliseconds; a stuck one means a cold start
REQUEST_TIMEOUT_S = 5.0  # the longest the zygote waits for a launcher's request
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# environment variables that may differ between the zygote and a run: read when used (Prefect's settings are read
# again in the child), not when a module is imported
VARIABLE = ("PREFECT_", "ESDL_")
# ... except these, which Prefect reads at import (its logging set-up) or to find its settings' files
FIXED = ("PREFECT_LOGGING_", "PREFECT_HOME", "PREFECT_PROFILE")
IGNORED = frozenset({"_", "PWD", "OLDPWD", "SHLVL"})  # a shell's bookkeeping
# what a flow run imports besides its flow (found by comparing a child's modules before and after its run)
PRELOAD = (
    ENGINE,
    "prefect.flow_engine",
    "prefect.deployments.steps",
    "prefect.deployments.steps.core",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "rich._emoji_codes",
)


class Cold(Exception):
    """No warm start: why (the launcher starts the engine the plain way)."""


def differences(base: dict[str, str], env: dict[str, str]) -> list[str]:
    """The environment variables of ``env`` that a run cannot have differently from the zygote's ``base``."""
    out = []
    for key in sorted(base.keys() | env.keys()):
        if base.get(key) == env.get(key) or key in IGNORED:
            continue
        if key.startswith(VARIABLE) and not key.startswith(FIXED):
            continue
        out.append(key)
    return out


def listening(socket_path: Path | str) -> bool:
    """Whether a zygote accepts connections at ``socket_path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(CONNECT_TIMEOUT_S)
        try:
            _connect(probe, str(socket_path))
        except OSError:
            return False
    return True


def _connect(sock: socket.socket, path: str) -> None:
    _by_path(sock.connect, path)


def _bind(sock: socket.socket, path: str) -> None:
    _by_path(sock.bind, path)


def _by_path(op: Any, path: str) -> None:
    """``op(path)`` for a socket path, also one longer than ``sun_path`` allows (relative, from its folder)."""
    if len(os.fsencode(path)) < 100:
        op(path)
        return
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(os.path.dirname(path))
        op(os.path.basename(path))
    finally:
        os.fchdir(here)
        os.close(here)


def _readline(sock: socket.socket, limit: int = 4096) -> str:
    """One line from ``sock`` (``""`` at end of stream), read a byte at a time: nothing after it is consumed."""
    data = bytearray()
    while len(data) < limit:
        byte = sock.recv(1)
        if not byte:
            break
        if byte == b"\n":
            return data.decode("utf-8", "replace")
        data += byte
    return ""


def _killpg(pgid: int, sig: int) -> None:
    """``sig`` to a run's process group: the run and what it started (as Prefect's default job signals a run's
    process group, which it starts in a session of its own)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
