"""``esdl serve`` as a separate process on a free port, for tests that talk HTTP to the real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(database_url: str, log: Path, **env: str) -> Iterator[str]:
    """``esdl serve`` in a subprocess on a free port, its output in ``log``; yields its base URL once it answers.

    As in production, ``esdl db upgrade`` first sets up the login role that can only read, with the password the
    server then connects with (``ESDL_SPARQL_READ_PASSWORD``). The server's output is printed when the block fails.
    """
    port = free_port()
    esdl = Path(sys.executable).parent / "esdl"
    command = [str(esdl)] if esdl.exists() else [sys.executable, "-m", "esdl"]
    environment = {
        **os.environ,
        "ESDL_DATABASE_URL": database_url,
        "ESDL_SPARQL_READ_PASSWORD": "reader-password-of-the-tests",
        **env,
    }
    upgrade = subprocess.run([*command, "db", "upgrade"], env=environment, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"esdl serve exited with {process.returncode}"
            try:
                if httpx.get(f"{base}/sparql/description", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "esdl serve did not answer within 60 s"
            time.sleep(0.2)
        yield base
    except BaseException:
        print(f"--- esdl serve output ---\n{log.read_text()}")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def silent_port(listening: bool = True) -> Iterator[int]:
    """A loopback port whose server accepts connections and never answers (a hung server), or, with ``listening``
    false, one nobody listens on (connections refused), while the block runs."""
    import threading

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    port = hole.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()
    thread = None
    if not listening:
        hole.close()
    else:
        hole.listen(64)
        hole.settimeout(0.2)

        def accept() -> None:
            while not stop.is_set():
                try:
                    held.append(hole.accept()[0])  # accepted, never answered
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
    try:
        yield port
    finally:
        stop.set()
        if thread is not None:
            thread.join(5)
        for s in held:
            s.close()
        hole.close()
