"""A time limit on work in the calling thread (a query's translation), enforced even inside third-party code.

Parsing (pyparsing, through rdflib) and SQL compilation (SQLAlchemy) are pure Python with no hook to check a
clock, and a thread cannot be killed. :func:`time_limit` arms a timer that raises :class:`TimeLimitExceeded` in
the calling thread (``PyThreadState_SetAsyncExc``) when the limit passes; the interpreter delivers it at the next
bytecode boundary, so the thread stops and its CPU is free again. The exception derives from
:class:`BaseException`, so no ``except Exception`` in a library swallows it.

Where it lands, the interrupted work is abandoned: nothing of it is kept (translations are built from fresh
objects and cached only once complete), and ``with`` blocks release their locks as for any exception.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(BaseException):
    """Raised in a thread whose :func:`time_limit` passed."""


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    """Make ``exc`` pending in ``thread`` (``None``: withdraw a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None if exc is None else ctypes.py_object(exc))


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in this thread if the block runs longer than ``seconds`` (``None``: no
    limit). A limit that passes just as the block ends raises nothing after it."""
    if seconds is None:
        yield
        return
    thread = threading.get_ident()
    lock = threading.Lock()
    state = {"armed": True, "fired": False}

    def fire() -> None:
        with lock:
            if state["armed"]:
                state["fired"] = True
                _set_async_exc(thread, TimeLimitExceeded)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["armed"] = False
            timer.cancel()
            if state["fired"]:
                # not yet delivered (the block ended first): withdraw it, so that it cannot land in the caller
                _set_async_exc(thread, None)
