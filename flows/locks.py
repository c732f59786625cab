"""One writer per cube: an exclusive lock on a file beside the cube's output, held for the whole build.

Two builds of the same cube started at once (two CLI submissions, a schedule and a webhook) would write the
same staging build. :func:`one_writer` makes the second wait until the first has ended, in whatever process or
worker each runs, as long as they share the output's file system (outputs are local paths: only they can be
published atomically, :func:`cubes.store.local_path`).

The lock is the operating system's (``flock``). When its holder dies (SIGKILL, the OOM killer), the kernel
releases it at once, so a ``--resume`` right after a killed build goes on. A Prefect global concurrency limit
was tried first: a killed holder's slot stayed taken until the server's repossessor service revoked its lease,
and on the test server a resumed build waited for it for more than five minutes.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cubes.store import local_path

LOG = logging.getLogger("esdl.flows")
POLL_S = 0.5  # how often a waiting writer tries the lock again


def lock_path(output: str) -> Path:
    """The lock file of a cube's output: hidden, beside it, named after it and a digest of its location."""
    path = local_path(output)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return path.parent / f".{path.name}.{digest}.writer-lock"


@contextmanager
def one_writer(output: str, wait_s: float | None = None) -> Iterator[Path]:
    """Hold the writer lock of the cube at ``output`` for the block, waiting for it at most ``wait_s`` seconds
    (``None``: as long as it takes); yields the lock file's path. The lock file names its holder (host, process
    and time) while held.

    Raises:
        TimeoutError: The lock did not come free within ``wait_s``.
    """
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        start = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if wait_s is not None and waited >= wait_s:
                    raise TimeoutError(
                        f"another run is writing {output} ({_holder(path)}); waited {waited:.0f} s"
                    ) from None
                if not told:
                    LOG.warning("another run is writing %s (%s): waiting for it to end", output, _holder(path))
                    told = True
                time.sleep(POLL_S)
        try:
            f.seek(0)
            f.truncate()
            f.write(f"host {socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            f.flush()
            yield path
        finally:
            f.seek(0)
            f.truncate()
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "holder unknown"
    except OSError:
        return "holder unknown"


__all__ = ["lock_path", "one_writer"]
