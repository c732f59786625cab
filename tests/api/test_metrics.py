"""``/metrics``: requests by route and status, SPARQL translation and query times, webhook deliveries; in
Prometheus' text format, read back with prometheus_client's own parser (a client of its own)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from esdl.api.app import create_app
from esdl.api.hooks import HooksConfig, HookService, hooks_router
from esdl.api.settings import SparqlSettings


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, by name and sorted labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_and_sparql_times(catalog_engine: sa.Engine) -> None:
    app = create_app(SparqlSettings(_env_file=None), engine=catalog_engine)  # type: ignore[call-arg]
    with TestClient(app) as client:
        before = samples(client)
        for _ in range(3):
            assert client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 1"}).status_code == 200
        assert client.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}).status_code == 200
        assert client.get("/sparql", params={"query": "SELEC nothing"}).status_code == 400
        assert client.get("/stac/collections/none").status_code == 404
        after = samples(client)
    routes = {"handler": "/sparql", "method": "GET"}
    assert (
        value(after, "http_requests_total", **routes, status="200")
        - value(before, "http_requests_total", **routes, status="200")
        == 4
    )
    assert (
        value(after, "http_requests_total", **routes, status="400")
        - value(before, "http_requests_total", **routes, status="400")
        == 1
    )
    stac = {"handler": "/stac/collections/{name}", "method": "GET", "status": "404"}  # the route, not the path
    assert value(after, "http_requests_total", **stac) - value(before, "http_requests_total", **stac) == 1
    assert any(name == "http_request_duration_seconds_bucket" for name, _ in after)
    # the translation of the four queries answered (the syntax error is refused before it is answered)
    grew = value(after, "esdl_sparql_translate_seconds_count") - value(before, "esdl_sparql_translate_seconds_count")
    assert grew == 4
    select = {"form": "SELECT", "outcome": "ok"}
    assert (
        value(after, "esdl_sparql_query_seconds_count", **select)
        - value(before, "esdl_sparql_query_seconds_count", **select)
        == 3
    )
    ask = {"form": "ASK", "outcome": "ok"}
    assert (
        value(after, "esdl_sparql_query_seconds_count", **ask) - value(before, "esdl_sparql_query_seconds_count", **ask)
        == 1
    )
    # /metrics itself is not counted, nor in the OpenAPI document
    assert not any(dict(labels).get("handler") == "/metrics" for _, labels in after)
    assert "/metrics" not in app.openapi()["paths"]


def test_webhook_deliveries_by_hook_and_status(monkeypatch: Any) -> None:
    """Rejected deliveries are counted by hook and status; a name that is no hook counts as ``unknown``."""
    monkeypatch.setenv("ESDL_METRICS_HOOK_SECRET", "s3cret")
    config = HooksConfig.model_validate(
        {"hooks": {"landed": {"deployment": "build-cube/x", "secret": {"env": "ESDL_METRICS_HOOK_SECRET"}}}}
    )
    app = FastAPI()
    app.include_router(hooks_router(HookService(config)))
    from esdl.api.metrics import instrument

    instrument(app)
    with TestClient(app) as client:
        before = samples(client)
        assert client.post("/hooks/landed", content=b"{}").status_code == 401  # no signature
        assert client.post("/hooks/landed", content=b"{}", headers={"X-Esdl-Signature": "t=1,v1=00"}).status_code == 401
        for n in range(3):
            assert client.post(f"/hooks/made-up-{n}", content=b"{}").status_code == 404
        after = samples(client)
    name = "esdl_webhook_deliveries_total"
    assert value(after, name, hook="landed", status="401") - value(before, name, hook="landed", status="401") == 2
    assert value(after, name, hook="unknown", status="404") - value(before, name, hook="unknown", status="404") == 3
    assert not any(dict(labels).get("hook", "").startswith("made-up") for _, labels in after)
