"""``/metrics``: the HTTP service in Prometheus' text format.

The requests (by route template, method and status) and their latency histograms come from
prometheus-fastapi-instrumentator; esdl adds what only it knows:

- ``esdl_sparql_translate_seconds``: the SPARQL-to-SQL translation of each query answered (cache hits included:
  the time a query waited for it);
- ``esdl_sparql_query_seconds{form, outcome}``: the database's part, by query form and outcome (``ok``,
  ``timeout``, ``error``);
- ``esdl_webhook_deliveries_total{hook, status}``: webhook deliveries by hook and answer (``202`` accepted,
  ``401``, ``404``... rejected; a name that is not a configured hook counts as ``hook="unknown"``, so that a
  stranger cannot make labels without end);
- ``esdl_jobs_started_total{process}``: jobs started through OGC API - Processes (the processes are the
  deployments, a bounded set).

Each app has a registry of its own (the instrumentator's request metrics are per app: a second app in one process
would otherwise count into the first one's), holding the process collectors and esdl's metrics, which are one set
per process.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Histogram

TRANSLATE_SECONDS = Histogram(
    "esdl_sparql_translate_seconds",
    "SPARQL-to-SQL translation time of the queries answered, cache hits included",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
    registry=None,
)
QUERY_SECONDS = Histogram(
    "esdl_sparql_query_seconds",
    "Database time of SPARQL queries, by form and outcome",
    ["form", "outcome"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0),
    registry=None,
)
WEBHOOK_DELIVERIES = Counter(
    "esdl_webhook_deliveries",
    "Webhook deliveries by hook and answer status (202 accepted, others rejected)",
    ["hook", "status"],
    registry=None,
)


JOBS_STARTED = Counter(
    "esdl_jobs_started",
    "Jobs (flow runs) started by OGC API - Processes execute requests, by process (a request that found the job "
    'of its Idempotency-Key counts as process="duplicate")',
    ["process"],
    registry=None,
)


def instrument(app: Any) -> None:
    """Instrument ``app``'s requests and serve ``/metrics`` (left out of the OpenAPI document)."""
    from prometheus_fastapi_instrumentator import Instrumentator

    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, TRANSLATE_SECONDS, QUERY_SECONDS):
        registry.register(collector)
    registry.register(WEBHOOK_DELIVERIES)
    registry.register(JOBS_STARTED)
    instrumentator = Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry)
    instrumentator.instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)


__all__ = ["JOBS_STARTED", "QUERY_SECONDS", "TRANSLATE_SECONDS", "WEBHOOK_DELIVERIES", "instrument"]
