"""Translation in worker processes: a query's parse and rewrite run in a process of their own, which is killed
when it runs past the time limit.

A query's translation is pure Python (pyparsing through rdflib, the rewriter, SQLAlchemy's compiler). In the
server's own process it holds the GIL that answering every other request needs, and it can be stopped only by
an exception raised into its thread (:mod:`semantic.sparql.deadline`), which Python may deliver inside a
``__del__`` or a weakref callback and swallow. Here each translation is sent to one of a fixed number of worker
processes: the server's threads and event loop keep their GIL, and a translation past its limit is ended for
certain (the process is killed, a fresh one takes its place).

Workers are forked from a fork server that has the translation modules imported (a new worker is ready in tens
of milliseconds), get the virtual graph's compiled sources once at start, and are sent the query text, its
base and the quad signature; they answer with the :class:`~semantic.sparql.build.Translation` without its
SQLAlchemy statement and algebra (the SQL text, its parameters, the query's form, variables and template and the
decoding plan are what a query runs on). A
worker whose peak memory passed ``max_worker_mb`` retires after its answer and is replaced, so that one huge
translation does not keep its memory for the server's lifetime.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import pickle
import queue
import resource
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from semantic.errors import QueryTooComplex, SemanticError

LOG = logging.getLogger("semantic.sparql.pool")
PRELOAD = ["semantic.sparql.build", "semantic.sparql.pool"]  # imported once, in the fork server
_context: Any = None
_context_lock = threading.Lock()


class TranslatorsBusy(SemanticError):
    """No translator process became free within the wait."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to translate as the engine would: extension functions (beyond the casts and the
    GeoSPARQL ones), the virtual graph's sources, the SQL dialect (by name), the SQL size limit, the peak
    memory past which it retires, and the niceness it runs at (by default below the server and the database: a
    long translation takes what CPU they leave, and queries already translated keep answering)."""

    functions: dict[str, Any]
    mapped: Any
    dialect: str
    max_sql_bytes: int
    max_worker_mb: float
    nice: int = 10


def _fork_context() -> Any:
    """The fork server context, with the translation modules preloaded (set once per process)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _serve(conn: Any, spec_bytes: bytes) -> None:
    """A worker's loop: translate each ``(text, base, signature)`` received, answer ``(status, payload, retire)``
    with status ``ok`` (the translation), ``error`` (a library error, pickled) or ``bug`` (a traceback's text);
    end when the pipe closes or after answering with ``retire``."""
    import sqlalchemy as sa

    from semantic.sparql.build import translate_for
    from semantic.sparql.casts import CASTS
    from semantic.sparql.geo import GEO_FUNCTIONS

    spec: WorkerSpec = pickle.loads(spec_bytes)
    os.nice(spec.nice)
    functions = {**CASTS, **GEO_FUNCTIONS, **spec.functions}
    dialect = sa.engine.make_url(f"{spec.dialect}://").get_dialect()()
    while True:
        try:
            text, base, signature = conn.recv()
        except (EOFError, OSError):  # the server closed the pipe, or is gone
            return
        try:
            tr = translate_for(
                text,
                base,
                signature,
                functions=functions,
                mapped=spec.mapped,
                dialect=dialect,
                max_sql_bytes=spec.max_sql_bytes,
            )
            # what running and explaining it need: not SQLAlchemy's statement nor the algebra (large, and rdflib's
            # expressions do not unpickle)
            tr.statement = None
            tr.query = dataclasses.replace(tr.query, root=None, notes={})
            answer: tuple[str, Any] = ("ok", tr)
        except RecursionError:
            answer = ("error", _too_deep())
        except SemanticError as err:
            answer = ("error", err)
        except Exception:  # a bug in the rewriter: its traceback goes to the server's log
            answer = ("bug", traceback.format_exc())
        retire = _peak_mb() > spec.max_worker_mb
        try:
            conn.send((*answer, retire))
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send(("bug", traceback.format_exc(), retire))
        except (EOFError, OSError, BrokenPipeError):
            return
        if retire:
            return


def _too_deep() -> QueryTooComplex:
    return QueryTooComplex(
        "the query is nested too deeply to translate (Python's recursion limit); split it or flatten it"
    )


class _Worker:
    def __init__(self, ctx: Any, spec_bytes: bytes) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, spec_bytes), name="esdl-sparql-translator", daemon=True)
        self.process.start()
        child.close()
        self.used = 0

    def stop(self, kill: bool = False) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if kill:
            self.process.kill()
        self.process.join(5)
        if self.process.is_alive():  # (a worker asked to end gets EOF on its pipe and returns)
            self.process.kill()
            self.process.join(5)


class TranslatorPool:
    """``processes`` worker processes that translate queries (see the module's text).

    Args:
        processes: Workers (translations at once).
        spec: What each worker needs (:class:`WorkerSpec`).

    :meth:`translate` is called from the server's worker threads; it blocks its thread (not the GIL) while a
    worker translates.
    """

    def __init__(self, processes: int, spec: WorkerSpec) -> None:
        if processes < 1:
            raise ValueError("a translator pool needs at least one process")
        self.processes = processes
        self._ctx = _fork_context()
        self._spec_bytes = pickle.dumps(spec)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0  # workers started in place of a killed, crashed or retired one
        for _ in range(processes):
            self._idle.put(self._start())

    def _start(self) -> _Worker:
        worker = _Worker(self._ctx, self._spec_bytes)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker, kill: bool) -> None:
        """End ``worker`` and start another in its place, in a thread (the caller answers meanwhile)."""
        with self._lock:
            self._workers.discard(worker)
            self.replaced += 1

        def run() -> None:
            worker.stop(kill)
            if not self._closed:
                self._idle.put(self._start())

        threading.Thread(target=run, name="esdl-translator-replace", daemon=True).start()

    def translate(self, text: str, base: str | None, signature: Any, timeout_s: float | None, wait_s: float) -> Any:
        """The :class:`~semantic.sparql.build.Translation` of ``text`` (without its statement), translated in a
        worker within ``timeout_s`` seconds of wall-clock time (``None``: no limit), once a worker is free
        (within ``wait_s``).

        Raises:
            QueryTooComplex: The translation ran past ``timeout_s`` (its worker is killed), or as the engine's.
            TranslatorsBusy: No worker became free within ``wait_s``.
            QuerySyntaxError, UnsupportedFeature, QueryDataError: As the engine's translation.
            RuntimeError: A bug in the translation, or its worker died (its traceback or exit code named).
        """
        if self._closed:
            raise RuntimeError("the translator pool is closed")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TranslatorsBusy(f"no translator process became free within {wait_s:g} s") from None
            if worker.process.is_alive():
                break
            LOG.warning(
                "translator process %s had ended (exit code %s): replaced", worker.process.pid, worker.process.exitcode
            )
            self._replace(worker, kill=True)  # (ended while idle: killed from outside)
        replaced = False
        try:
            worker.used += 1
            started = time.monotonic()
            try:
                worker.conn.send((text, base, signature))
                ready = worker.conn.poll(timeout_s)
            except (EOFError, OSError, BrokenPipeError):
                ready = True  # (recv below finds the worker gone)
            if not ready:
                replaced = True
                self._replace(worker, kill=True)
                raise QueryTooComplex(
                    f"the query took longer than {timeout_s:g} s to translate (the limit: "
                    "ESDL_SPARQL_TRANSLATE_TIMEOUT_S); simplify it or split it"
                )
            try:
                status, payload, retire = worker.conn.recv()
            except (EOFError, OSError):
                replaced = True
                worker.process.join(1)
                code = worker.process.exitcode
                self._replace(worker, kill=True)
                raise RuntimeError(
                    f"a translator process died translating a query after {time.monotonic() - started:.1f} s "
                    f"(exit code {code}; a negative code is the signal)"
                ) from None
            if retire:
                replaced = True
                self._replace(worker, kill=False)
        finally:
            if not replaced:
                self._idle.put(worker)
        if status == "ok":
            return payload
        if status == "error":
            raise payload
        raise RuntimeError(f"the translation failed in a translator process:\n{payload}")

    def pids(self) -> list[int]:
        """The worker processes' ids (for memory accounting and tests)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            worker.stop()


def worker_memory_mb(pids: list[int]) -> float:
    """The resident memory of the processes ``pids`` together (Linux ``/proc``), in MB; a gone one counts 0."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e6


__all__ = ["TranslatorPool", "TranslatorsBusy", "WorkerSpec", "worker_memory_mb"]
