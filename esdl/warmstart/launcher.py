"""The launcher: what the work pool's job runs instead of ``python -m prefect.engine``. Standard library only."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from typing import NoReturn

from esdl.warmstart.protocol import (
    CONNECT_TIMEOUT_S,
    ENGINE,
    FORWARDED,
    HEADER,
    PROTOCOL,
    REPLY_TIMEOUT_S,
    STDIO,
    Cold,
    _connect,
    _killpg,
    _readline,
)


def launch(socket_path: str, args: list[str]) -> NoReturn:
    """Run the flow run of this process's environment in a child of the zygote, or cold; exit as it exited."""
    try:
        sock, pid = _fork_remotely(socket_path, args)
    except (Cold, OSError, ValueError) as why:
        _cold(args, str(why) or type(why).__name__)
    _supervise(sock, pid)


def _cold(args: list[str], why: str) -> NoReturn:
    print(f"esdl.warmstart: cold start ({why})", file=sys.stderr, flush=True)
    os.execv(sys.executable, [sys.executable, "-m", ENGINE, *args])


def _fork_remotely(socket_path: str, args: list[str]) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            _connect(sock, socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise Cold("no warm-start process is listening") from None
        stdio = [fd for fd in STDIO if _is_open(fd)]
        request = {"argv": args, "cwd": os.getcwd(), "env": dict(os.environ), "executable": sys.executable}
        payload = json.dumps({**request, "stdio": stdio}).encode()
        sock.settimeout(REPLY_TIMEOUT_S)
        socket.send_fds(sock, [HEADER.pack(PROTOCOL, len(payload))], stdio)
        sock.sendall(payload)
        answer = _readline(sock)
        verb, _, rest = answer.partition(" ")
        if verb == "refused":
            raise Cold(f"the warm-start process refused: {rest}")
        if verb != "forked" or not rest.isdigit():
            raise Cold(f"the warm-start process answered {answer!r}")
        pid = int(rest)
        sock.sendall(b"go\n")  # from here on the child runs: no cold start any more
        sock.settimeout(None)
        return sock, pid
    except BaseException:
        sock.close()
        raise


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _supervise(sock: socket.socket, pid: int) -> NoReturn:
    """Forward signals to the child's process group; exit as the child exited (told by the zygote)."""
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _killpg(pid, signum))
    try:
        answer = _readline(sock)
    except OSError:
        answer = ""
    verb, _, rest = answer.partition(" ")
    if verb == "exited" and rest.lstrip("-").isdigit():
        sys.stdout.flush()
        os._exit(int(rest))
    if verb == "killed" and rest.isdigit():  # end by the same signal
        number = int(rest)
        for forwarded in FORWARDED:
            signal.signal(forwarded, signal.SIG_DFL)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        time.sleep(1)  # (a signal whose default is not to end: end anyway)
        os._exit(128 + number)
    # the zygote went away: the child has nobody to tell its end, so it ends now
    _killpg(pid, signal.SIGKILL)
    print("esdl.warmstart: the warm-start process went away; the flow run's process was killed", file=sys.stderr)
    os._exit(1)
