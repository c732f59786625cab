"""Worker processes of the local backend, forked from a server that has already imported ``distributed``.

Starting ``python -m distributed.cli.dask_worker`` costs about a second of CPU for its imports before the worker
even connects, and several seconds when a group starts a few workers at once on a small machine: time in which
a new worker costs a process and does nothing. The local backend instead starts workers through
``multiprocessing``'s *forkserver* with this module preloaded: the server imports ``distributed`` once and each
worker is a fork of it (a fresh process, its own pid, killable, with nothing inherited from the process that
asked for it but the import path and the environment it is given). No Prefect here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from distributed import Worker

_CONTEXT: ForkServerContext | None = None


def _context() -> ForkServerContext:
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, ForkServerContext)
        ctx.set_forkserver_preload([__name__])
        _CONTEXT = ctx
    return _CONTEXT


def start_worker(
    scheduler_address: str,
    name: str,
    threads: int,
    memory: str,
    resources: Mapping[str, float],
    env: Mapping[str, str],
) -> BaseProcess:
    """Fork one worker process from the server and return it (it connects to the scheduler on its own)."""
    process = _context().Process(
        target=serve,
        args=(scheduler_address, name, threads, memory, dict(resources), dict(env)),
        name=f"dask-worker-{name}",
        daemon=False,  # a worker may start processes of its own (daemons may not)
    )
    with _main_left_alone():
        process.start()
    return process


@contextmanager
def _main_left_alone() -> Iterator[None]:
    """While a worker is started: multiprocessing would have it import this process's main module (as
    ``__mp_main__``), which it does not need (its target is this module's; cloudpickle sends functions of ``__main__``
    by value). That import would cost a flow run's workers Prefect's engine (``python -m prefect.engine``: 2-3 s
    each), and a script without an ``if __name__ == "__main__":`` guard would run itself again in every worker.
    multiprocessing finds the main module by its ``__spec__`` and ``__file__``: hidden here for the start."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, object] = {k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__}
    main.__dict__["__spec__"] = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def serve(
    scheduler_address: str, name: str, threads: int, memory: str, resources: dict[str, float], env: dict[str, str]
) -> None:
    """The worker process: take ``env`` as the whole environment, run a worker until it closes.

    SIGTERM and SIGINT close the worker gracefully unless it is already closing (retired by the scheduler): a
    second close in the middle of the first would leave the process idle for good.
    """
    os.environ.clear()
    os.environ.update(env)
    asyncio.run(_serve(scheduler_address, name, threads, memory, resources))


async def _serve(scheduler_address: str, name: str, threads: int, memory: str, resources: dict[str, float]) -> None:
    worker = Worker(
        scheduler_address,
        name=name,
        nthreads=threads,
        memory_limit=memory,
        resources=resources or None,
        host="127.0.0.1",
        dashboard=False,
        death_timeout=30,  # a worker whose scheduler never answers (the backend's process died) gives up
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker
    stopped = asyncio.ensure_future(stop.wait())
    finished = asyncio.ensure_future(worker.finished())
    await asyncio.wait([stopped, finished], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set() and worker.status.name not in ("closing", "closed", "closing_gracefully"):
        await worker.close(reason="signal")
    await finished
    stopped.cancel()
