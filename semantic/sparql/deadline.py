"""A limit on the CPU time of work in the calling thread (a query's translation), enforced even inside
third-party code.

Parsing (pyparsing, through rdflib) and SQL compilation (SQLAlchemy) are pure Python with no hook to check a
clock, and a thread cannot be killed. :func:`time_limit` starts a watcher that reads the calling thread's own CPU
clock (``pthread_getcpuclockid``: time spent waiting for the GIL while other requests translate does not count)
and, once the limit is spent, raises :class:`TimeLimitExceeded` in that thread (``PyThreadState_SetAsyncExc``);
the interpreter delivers it at the next bytecode boundary, so the thread stops and its CPU is free again. It is
raised again every :data:`REFIRE_S` until the block ends: one that lands in a weakref callback or a ``__del__``
(which Python reports and swallows) is not lost. A wall-clock bound of :data:`WALL_FACTOR` times the limit
stops work that cannot get the CPU at all. The exception derives from :class:`BaseException`, so no ``except
Exception`` in a library swallows it.

Where it lands, the interrupted work is abandoned: nothing of it is kept (translations are built from fresh
objects and cached only once complete), and ``with`` blocks release their locks as for any exception.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

POLL_S = 0.02  # how often the watcher reads the thread's CPU clock
REFIRE_S = 0.05  # how soon it raises again while the block goes on
WALL_FACTOR = 4.0  # wall-clock bound, in limits


class TimeLimitExceeded(BaseException):
    """Raised in a thread whose :func:`time_limit` passed."""


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    """Make ``exc`` pending in ``thread`` (``None``: withdraw a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None if exc is None else ctypes.py_object(exc))


def _cpu_clock(thread: int) -> int | None:
    """The CPU-time clock of ``thread`` (``threading.get_ident()`` is its pthread id on POSIX), or ``None``."""
    try:
        return time.pthread_getcpuclockid(thread)
    except (AttributeError, OSError):  # not POSIX: wall-clock time only
        return None


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in this thread once the block has used ``seconds`` of CPU time (or
    :data:`WALL_FACTOR` times that of wall-clock time); ``None``: no limit. Nothing is raised after the block."""
    if seconds is None:
        yield
        return
    thread = threading.get_ident()
    clock = _cpu_clock(thread)
    cpu_start = time.clock_gettime(clock) if clock is not None else 0.0
    wall_end = time.monotonic() + WALL_FACTOR * seconds
    lock = threading.Lock()
    done = threading.Event()
    state = {"armed": True, "fired": False}

    def spent() -> bool:
        if time.monotonic() >= wall_end:
            return True
        if clock is None:
            return time.monotonic() >= wall_end - (WALL_FACTOR - 1) * seconds
        return time.clock_gettime(clock) - cpu_start >= seconds

    def watch() -> None:
        while not done.wait(POLL_S):
            if spent():
                break
        while not done.is_set():
            with lock:
                if not state["armed"]:
                    return
                state["fired"] = True
                _set_async_exc(thread, TimeLimitExceeded)
            done.wait(REFIRE_S)

    watcher = threading.Thread(target=watch, name="time-limit", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        while True:  # (one that lands here, before the watcher is stopped, is caught and the stop retried)
            try:
                with lock:
                    state["armed"] = False
                    done.set()
                    if state["fired"]:  # withdraw one not yet delivered: it must not land in the caller
                        _set_async_exc(thread, None)
                break
            except TimeLimitExceeded:
                continue
        watcher.join()
