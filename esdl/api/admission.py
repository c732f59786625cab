"""Admission of SPARQL queries: translation turns, ordinary query slots, and express slots for cheap queries.

Translation takes no database slot (one a translator process, or :data:`TRANSLATIONS_IN_THREADS`, at once; a kept
translation does not wait): a query refused for its translation is refused whatever the database's load. When
every ordinary slot is taken, a query not known to be costly waits for an express slot or an ordinary one,
whichever frees first. In an express slot it runs if its planned cost (``EXPLAIN`` within :data:`EXPRESS_PLAN_S`,
or the one found in the last :data:`PLAN_KEPT_S`) is at most ``express_max_cost``, under ``express_timeout_s``;
otherwise it waits for an ordinary slot as any query. So cheap queries keep answering while heavy ones hold the
ordinary slots. Every wait ends with 503 ``busy`` after ``queue_timeout_s``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from esdl.api.errors import Busy
from esdl.api.settings import SparqlSettings

EXPRESS_PLAN_S = 1.0  # time a query's EXPLAIN may take in an express slot
PLAN_KEPT_S = 60.0  # a query's planned cost is used again for this long (the data, and so the plan, change)
PLANS_KEPT = 4096  # planned costs kept, the latest
TRANSLATIONS_IN_THREADS = 2  # new queries translated at once in the server's threads (no translator processes)


class Translator(Protocol):
    """What admission needs of the SPARQL engine."""

    def is_cached(self, text: str) -> bool: ...

    def translate(self, text: str) -> Any: ...


class PlannedCosts:
    """The planned costs of the latest :data:`PLANS_KEPT` queries, each trusted for :data:`PLAN_KEPT_S`."""

    def __init__(self) -> None:
        self._costs: OrderedDict[str, tuple[float, float]] = OrderedDict()  # text -> (planned cost, when)
        self._lock = threading.Lock()  # (used from the server's worker threads)

    def known(self, text: str) -> float | None:
        """The planned cost of ``text`` found within :data:`PLAN_KEPT_S`, if any."""
        with self._lock:
            hit = self._costs.get(text)
        return hit[0] if hit is not None and time.monotonic() - hit[1] <= PLAN_KEPT_S else None

    def remember(self, text: str, cost: float) -> None:
        """Keep ``text``'s planned cost (the oldest beyond :data:`PLANS_KEPT` forgotten)."""
        with self._lock:
            self._costs[text] = (cost, time.monotonic())
            self._costs.move_to_end(text)
            while len(self._costs) > PLANS_KEPT:
                self._costs.popitem(last=False)


class Admission:
    """The endpoint's turns and slots (created in the server's event loop, one per application)."""

    def __init__(self, settings: SparqlSettings, sparql: Translator) -> None:
        self.settings, self.sparql = settings, sparql
        self.costs = PlannedCosts()
        self.slots = asyncio.Semaphore(settings.max_concurrent)
        self.express = asyncio.Semaphore(settings.express_slots)
        # one translation a translator process; in threads, Python under the GIL: more at once only share a core
        self.translating = asyncio.Semaphore(settings.translate_processes or TRANSLATIONS_IN_THREADS)

    def costly(self, text: str) -> bool:
        """Whether ``text`` was planned lately above ``express_max_cost``."""
        cost = self.costs.known(text)
        return cost is not None and cost > self.settings.express_max_cost

    async def run(
        self,
        fn: Callable[..., Response],
        text: str,
        *args: Any,
        express: Callable[..., Response | None] | None = None,
    ) -> Response:
        """Translate ``text``, then run ``fn(text, *args)`` once a query slot is free; both in worker threads (they
        can take a while, and must not hold up the event loop).

        With ``express`` (a cheap query's answer, ``None`` where the query is not cheap), a query not known to be
        costly may instead run ``express(text, *args)`` in an express slot while every ordinary slot is taken.
        """
        settings = self.settings
        if not self.sparql.is_cached(text):  # (a kept translation is a lookup: no wait for one)
            await self._acquire(self.translating)
            try:
                await run_in_threadpool(self.sparql.translate, text)  # kept for fn
            finally:
                self.translating.release()
        if express is not None and settings.express_slots and self.slots.locked() and not self.costly(text):
            slot = await self._first_free()
            if slot is self.express:
                try:
                    response = await run_in_threadpool(express, text, *args)
                finally:
                    self.express.release()
                if response is not None:
                    return response
            else:
                try:
                    return await run_in_threadpool(fn, text, *args)
                finally:
                    self.slots.release()
        await self._acquire(self.slots)
        try:
            return await run_in_threadpool(fn, text, *args)
        finally:
            self.slots.release()

    async def _acquire(self, semaphore: asyncio.Semaphore) -> None:
        settings = self.settings
        try:
            await asyncio.wait_for(semaphore.acquire(), settings.queue_timeout_s)
        except TimeoutError:
            if semaphore is self.translating:
                raise Busy(
                    settings.translate_processes or TRANSLATIONS_IN_THREADS,
                    settings.queue_timeout_s,
                    "translation turns (ESDL_SPARQL_TRANSLATE_PROCESSES)",
                ) from None
            raise Busy(settings.max_concurrent, settings.queue_timeout_s) from None

    async def _first_free(self) -> asyncio.Semaphore:
        """An express or an ordinary slot, whichever is free first, acquired (express where both are); 503
        ``busy`` after ``queue_timeout_s``."""
        waits = {asyncio.ensure_future(s.acquire()): s for s in (self.express, self.slots)}
        done = False
        try:
            await asyncio.wait(waits, timeout=self.settings.queue_timeout_s, return_when=asyncio.FIRST_COMPLETED)
            done = True
        finally:
            for t in waits:
                t.cancel()
            results = await asyncio.gather(*waits, return_exceptions=True)
            got = [waits[t] for t, r in zip(waits, results, strict=True) if r is True]
            for s in got[1:] if done else got:  # (the request cancelled: none kept)
                s.release()
        if not got:
            raise Busy(self.settings.max_concurrent, self.settings.queue_timeout_s)
        return got[0]
