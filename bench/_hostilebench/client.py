"""HTTP requests to the endpoint and what came back.

Every request is a direct POST (``Content-Type: application/sparql-query; charset=utf-8``, the body
``text.encode("utf-8", "surrogatepass")``, as the corpus test sends it), on a ``requests.Session`` of the calling
thread (kept-alive connections), with a client-side timeout past which the request counts as a hang.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

EXPECTED_503 = ("timeout", "busy")  # what a loaded endpoint is allowed to answer
IDLE_REUSE_S = 1.0  # a kept-alive connection idle longer than this is not reused (uvicorn closes them after 5 s)


@dataclass
class Outcome:
    """One request: which query, when (seconds since the benchmark's clock started), how long, what came back.

    ``status`` is ``None`` for a request that got no response: ``failure`` is ``"connection"`` (refused, reset,
    a broken answer) or ``"hang"`` (no answer within the client's timeout).
    """

    name: str
    started_s: float
    latency_s: float
    status: int | None
    code: str | None = None
    failure: str | None = None
    detail: str = ""

    @property
    def server_error(self) -> bool:
        """A 500 (a bug), another 5xx than 503 timeout/busy (503 ``database``: the database failed the query), or no
        answer at all."""
        if self.status is None:
            return True
        if self.status == 503:
            return self.code not in EXPECTED_503
        return self.status >= 500

    def label(self) -> str:
        if self.status is None:
            return self.failure or "no answer"
        return f"{self.status} {self.code}" if self.code else str(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.name,
            "at_s": round(self.started_s, 2),
            "latency_s": round(self.latency_s, 3),
            "status": self.status,
            "code": self.code,
            "failure": self.failure,
            "detail": self.detail[:500],
        }


class Client:
    """Sends queries to ``endpoint``; one session per thread."""

    def __init__(self, endpoint: str, timeout_s: float, clock0: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.clock0 = clock0
        self._local = threading.local()

    def _session(self) -> requests.Session:
        """The thread's session; a new one when its connection has been idle for :data:`IDLE_REUSE_S`: the server
        closes an idle connection after 5 s (uvicorn's keep-alive), and a request sent on it just then is reset,
        which would count as the server's failure."""
        session = getattr(self._local, "session", None)
        now = time.monotonic()
        if session is not None and now - self._local.last_used > IDLE_REUSE_S:
            session.close()
            session = None
        if session is None:
            session = self._local.session = requests.Session()
        self._local.last_used = now
        return session

    def _drop_session(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def post(
        self, name: str, text: str, accept: str = "application/sparql-results+json", scheduled: float | None = None
    ) -> Outcome:
        """POST ``text``; never raises for what the server does. The latency counts from ``scheduled`` (a
        ``perf_counter`` reading) when given: the time an open-loop client meant to send it."""
        body = text.encode("utf-8", "surrogatepass")
        headers = {"Content-Type": "application/sparql-query; charset=utf-8", "Accept": accept}
        t0 = time.perf_counter() if scheduled is None else scheduled
        started = t0 - self.clock0
        try:
            r = self._session().post(self.endpoint, data=body, headers=headers, timeout=(10, self.timeout_s))
            latency = time.perf_counter() - t0
            self._local.last_used = time.monotonic()
        except requests.Timeout as err:
            self._drop_session()
            return Outcome(name, started, time.perf_counter() - t0, None, failure="hang", detail=str(err))
        except requests.RequestException as err:  # refused, reset, a truncated answer
            self._drop_session()
            return Outcome(
                name,
                started,
                time.perf_counter() - t0,
                None,
                failure="connection",
                detail=f"{type(err).__name__}: {err}",
            )
        code, detail = None, ""
        if r.status_code >= 400:
            try:
                payload = r.json()
                code = payload.get("error") if isinstance(payload, dict) else None
                detail = payload.get("message", "") if isinstance(payload, dict) else r.text
                if isinstance(payload, dict) and payload.get("id"):
                    detail += f" (id {payload['id']})"
            except ValueError:
                detail = r.text[:500]
        return Outcome(name, started, latency, r.status_code, code, detail=detail)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) by the nearest-rank method: the smallest value with at least ``q`` of the values at
    or below it (p99 of 100 values: the 99th smallest; of fewer than 100: the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def latency_summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """p50, p99 and max latency in ms, and the count."""
    ms = [o.latency_s * 1000 for o in outcomes]
    p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
    return {
        "n": len(ms),
        "p50_ms": None if p50 is None else round(p50, 1),
        "p99_ms": None if p99 is None else round(p99, 1),
        "max_ms": round(max(ms), 1) if ms else None,
    }


def by_label(outcomes: list[Outcome]) -> dict[str, int]:
    """How many requests got each answer (``"200"``, ``"503 timeout"``, ``"hang"``, ...)."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.label()] = counts.get(o.label(), 0) + 1
    return dict(sorted(counts.items()))


HISTOGRAM_S = (0.1, 0.5, 1, 2, 5, 10, 11, 15, 20, 30)


def histogram(outcomes: list[Outcome]) -> dict[str, int]:
    """How many latencies fall below each bound of :data:`HISTOGRAM_S` (and above the last)."""
    counts = {f"<{b:g}s": 0 for b in HISTOGRAM_S} | {f">={HISTOGRAM_S[-1]:g}s": 0}
    for o in outcomes:
        key = next((f"<{b:g}s" for b in HISTOGRAM_S if o.latency_s < b), f">={HISTOGRAM_S[-1]:g}s")
        counts[key] += 1
    return {k: v for k, v in counts.items() if v}
