"""The SPARQL 1.1 Protocol over the catalogue: ``/sparql``, its service description, ``explain`` and a web page.

Routes:

- ``GET /sparql?query=Q`` and ``POST /sparql`` (``application/x-www-form-urlencoded`` with ``query=``, or the
  query itself as ``application/sparql-query``): the answer, in the format negotiated from ``Accept`` or
  ``format=`` (:mod:`esdl.api.results`). More than ``max_rows`` solutions: the first ``max_rows`` and the header
  ``X-Esdl-Truncated: true``.
- ``GET /sparql`` without a query, and ``GET /sparql/description``: the service description (Turtle).
- ``GET|POST /sparql/explain?query=Q``: the SQL the query is rewritten into (JSON), without running it.
- ``GET /``: a page to type a query and see the results as a table and their geometries on a map.

Errors are JSON ``{"error": code, "message": ...}``: 400 ``syntax``, 400 ``unsupported`` (with ``feature``),
400 ``request``, 400 ``too-complex``, 400 ``query`` (also a value out of its domain the database found: an
invalid regular expression, a number out of range), 406 ``not-acceptable`` (with ``offered``), 415 ``media-type``,
503 ``timeout``, 503 ``database``, 500 ``internal`` (a bug: logged under the ``id`` the body carries).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from esdl.api import metrics
from esdl.api.admission import EXPRESS_PLAN_S, Admission
from esdl.api.database import ReadOnlyRunner, open_reader, session_role
from esdl.api.description import TRUNCATED_HEADER, service_description
from esdl.api.errors import (
    BadRequest,
    Busy,
    EndpointError,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    QueryTimeout,
    UnsupportedMediaType,
)
from esdl.api.http import read_body
from esdl.api.openapi import description_operation, explain_operation, query_operation
from esdl.api.results import negotiate, serialize
from esdl.api.settings import SparqlSettings
from esdl.api.stac import stac_router
from semantic.errors import (
    DatabaseError,
    QuerySyntaxError,
    QueryTooComplex,
    SemanticError,
    SparqlError,
    UnsupportedFeature,
)
from semantic.sparql.pool import TranslatorsBusy

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("esdl.api")
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000/sparql"  # `esdl serve`'s default address
FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"

# error type -> (HTTP status, JSON code); looked up along the error's MRO, so subclasses come first
STATUS: dict[type[Exception], tuple[int, str]] = {
    QuerySyntaxError: (400, "syntax"),
    UnsupportedFeature: (400, "unsupported"),
    QueryTooComplex: (400, "too-complex"),
    SparqlError: (400, "query"),
    BadRequest: (400, "request"),
    NotFound: (404, "not-found"),
    NotAcceptable: (406, "not-acceptable"),
    PayloadTooLarge: (413, "too-large"),
    UnsupportedMediaType: (415, "media-type"),
    Busy: (503, "busy"),
    TranslatorsBusy: (503, "busy"),
    QueryTimeout: (503, "timeout"),
    DatabaseError: (503, "database"),
    SemanticError: (500, "internal"),
}


def error_response(err: Exception) -> JSONResponse:
    """The JSON error response of a library or protocol error."""
    status, code = next(STATUS[c] for c in type(err).__mro__ if c in STATUS)
    body = err.body() if isinstance(err, EndpointError) else {"error": code, "message": str(err)}
    if isinstance(err, UnsupportedFeature):
        body["feature"] = err.feature
    headers = err.headers() if isinstance(err, EndpointError) else None
    if isinstance(err, TranslatorsBusy):
        headers = {"Retry-After": "1"}
    return JSONResponse(body, status_code=status, headers=headers)


Params = dict[str, list[str]]


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(f"{what} is not UTF-8: {err}") from err


async def protocol_params(request: Request, limit: int = 1_048_576) -> Params:
    """The protocol's parameters of a request: the URL's, and a POST body's (form fields or the query).

    Raises:
        PayloadTooLarge: The URL's query string or the body is longer than ``limit`` bytes.
    """
    if len(request.url.query) > limit:
        raise PayloadTooLarge(limit)
    params: Params = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    if request.method != "POST":
        return params
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit)
    if media == FORM_TYPE:
        for key, values in parse_qs(_decode(body, "the form"), keep_blank_values=True).items():
            params.setdefault(key, []).extend(values)
    elif media == QUERY_TYPE:
        if "query" in params:
            raise BadRequest(f"a {QUERY_TYPE} request carries its query in the body, not in the URL")
        params["query"] = [_decode(body, "the query")]
    else:
        raise UnsupportedMediaType(f"POST a query as {FORM_TYPE} (query=...) or as {QUERY_TYPE}, not {media!r}")
    return params


def query_text(params: Params) -> str:
    """The one query of a request.

    Raises:
        UnsupportedFeature: SPARQL Update, or a protocol dataset (``default-graph-uri``, ``named-graph-uri``:
            use ``FROM`` / ``FROM NAMED`` in the query).
        BadRequest: No query, or more than one.
    """
    if "update" in params:
        raise UnsupportedFeature("SPARQL Update")
    for name in ("default-graph-uri", "named-graph-uri"):
        if name in params:
            raise UnsupportedFeature(f"{name} (use FROM / FROM NAMED in the query)")
    queries = params.get("query", [])
    if len(queries) != 1 or not queries[0].strip():
        raise BadRequest("no query given (query=...)" if not any(q.strip() for q in queries) else "more than one query")
    return queries[0]


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, int | float | str | None) else str(value)


def _one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


FLAGS = {"1": True, "true": True, "0": False, "false": False, "": False}
"""The values a yes/no parameter (``stages=1``) may take."""


def _flag(params: Params, name: str) -> bool:
    """The yes/no parameter ``name`` (absent: no).

    Raises:
        BadRequest: A value other than ``1``/``true``/``0``/``false``, or more than one.
    """
    values = params.get(name) or []
    if len(values) > 1:
        raise BadRequest(f"{name} given more than once")
    value = values[0].strip().lower() if values else ""
    if value not in FLAGS:
        raise BadRequest(f"{name}={values[0]!r}: expected 1, true, 0 or false")
    return FLAGS[value]


def create_app(settings: SparqlSettings | None = None, engine: Any = None, hooks: Any = None) -> FastAPI:
    """The endpoint's application.

    Args:
        settings: Limits and role (default: from ``ESDL_SPARQL_*``).
        hooks: Webhooks to serve at ``/hooks/{name}`` (:class:`esdl.api.hooks.HooksConfig`), or none.
        engine: SQLAlchemy engine of the catalogue (default: logged in as the read-only role,
            :func:`esdl.api.database.open_reader`); one whose user can write gets its transactions dropped to
            the read-only role (set up here).

    Raises:
        DatabaseError: The catalogue cannot be opened, or the read-only role cannot be used.
        MappingError: The shipped mappings do not fit the database.
    """
    from semantic.sparql.engine import SparqlEngine

    settings = settings or SparqlSettings()
    # one pooled connection per query slot, express ones included (and one for the signature's refresh)
    pool_size = settings.max_concurrent + settings.express_slots + 1
    engine = engine if engine is not None else open_reader(settings, pool_size=pool_size)
    role = session_role(engine, settings.read_role)
    sparql = SparqlEngine(
        engine,
        cache_size=settings.cache_size,
        cache_mb=settings.cache_mb,
        max_sql_bytes=settings.max_sql_bytes,
        translate_timeout_s=settings.translate_timeout_s,
        translate_processes=settings.translate_processes,
        translate_wait_s=settings.queue_timeout_s,
    )
    runner = ReadOnlyRunner(sparql, settings.timeout_s, settings.max_rows, role)

    service = None
    if hooks is not None:
        from esdl.api.hooks import HookService

        service = HookService(hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sparql.close()  # the translator processes
        if service is not None:
            await service.close()

    # no CDN for the docs pages
    app = FastAPI(title="esdl SPARQL endpoint", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.runner = runner

    async def on_error(request: Request, err: Exception) -> Response:
        return error_response(err)

    async def on_bug(request: Request, err: Exception) -> Response:
        # a bug (say, SQL the database rejects): the server logs the traceback under an id the body carries, and
        # the body says nothing else (no class names, settings, hosts)
        incident = uuid.uuid4().hex[:12]
        LOG.error("internal error %s on %s %s", incident, request.method, request.url.path, exc_info=err)
        message = f"internal error {incident}: a bug in the endpoint, logged by the server"
        return JSONResponse({"error": "internal", "message": message, "id": incident}, status_code=500)

    app.add_exception_handler(EndpointError, on_error)
    app.add_exception_handler(SemanticError, on_error)
    app.add_exception_handler(Exception, on_bug)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(stac_router(runner))
    metrics.instrument(app)
    if service is not None:
        from esdl.api.hooks import hooks_router

        app.include_router(hooks_router(service))
        app.state.hooks = service

    endpoint = settings.public_url or DEFAULT_PUBLIC_URL
    admission = Admission(settings, sparql)

    def express_answer(text: str, accept: str | None, fmt: str | None) -> Response | None:
        """The answer from an express slot, or ``None`` where the query is not cheap: planned too costly, or slow
        to plan."""
        translation = sparql.translate(text)
        negotiate(translation.query.form, accept, fmt)  # 406 before the database is asked
        cost = admission.costs.known(text)
        if cost is None:
            try:
                cost = runner.cost(translation, EXPRESS_PLAN_S)
            except QueryTimeout:  # (the database is busy, or the plan is hard: not remembered)
                return None
            admission.costs.remember(text, cost)
        if cost > settings.express_max_cost:
            return None
        return answer(text, accept, fmt, settings.express_timeout_s)

    def answer(text: str, accept: str | None, fmt: str | None, timeout_s: float | None = None) -> Response:
        started = time.perf_counter()
        translation = sparql.translate(text)
        metrics.TRANSLATE_SECONDS.observe(time.perf_counter() - started)
        form = translation.query.form
        chosen = negotiate(form, accept, fmt)  # 406 before the database is asked
        started, outcome = time.perf_counter(), "error"
        try:
            result = runner.run(translation, timeout_s)
            outcome = "ok"
        except QueryTimeout:
            outcome = "timeout"
            raise
        finally:
            metrics.QUERY_SECONDS.labels(form=form, outcome=outcome).observe(time.perf_counter() - started)
        headers = {"Vary": "Accept"}
        if result.truncated:
            headers[TRUNCATED_HEADER] = "true"
        body = serialize(result.result, chosen)
        if len(body) > settings.max_response_bytes:
            raise PayloadTooLarge(
                settings.max_response_bytes, "the answer (add LIMIT, or select less)", "ESDL_SPARQL_MAX_RESPONSE_BYTES"
            )
        return Response(body, media_type=chosen.content_type, headers=headers)

    def describe(request: Request, params: Params) -> Response:  # sd:endpoint: configured, never the Host header
        chosen = negotiate("CONSTRUCT", request.headers.get("accept"), _one(params, "format"))
        graph = service_description(endpoint, list(sparql.functions), settings, rdfs=sparql.mapped is not None)
        return Response(serialize(graph, chosen), media_type=chosen.content_type, headers={"Vary": "Accept"})

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get(
        "/sparql",
        name="sparql_get",
        summary="Query (SPARQL 1.1 Protocol); no query: service description",
        openapi_extra=query_operation(post=False),
    )
    async def sparql_get(request: Request) -> Response:
        params = await protocol_params(request, settings.max_body_bytes)
        if not ({"query", "update", "default-graph-uri", "named-graph-uri"} & params.keys()):
            return describe(request, params)
        text = query_text(params)
        accept, fmt = request.headers.get("accept"), _one(params, "format")
        return await admission.run(answer, text, accept, fmt, express=express_answer)

    @app.post(
        "/sparql",
        summary="Query (SPARQL 1.1 Protocol: form-encoded or direct POST)",
        openapi_extra=query_operation(post=True),
    )
    async def sparql_post(request: Request) -> Response:
        params = await protocol_params(request, settings.max_body_bytes)
        text = query_text(params)
        accept, fmt = request.headers.get("accept"), _one(params, "format")
        return await admission.run(answer, text, accept, fmt, express=express_answer)

    @app.get(
        "/sparql/description",
        summary="Service description (SPARQL 1.1 Service Description, Turtle)",
        openapi_extra=description_operation(),
    )
    async def sparql_description(request: Request) -> Response:
        return describe(request, await protocol_params(request, settings.max_body_bytes))

    async def sparql_explain(request: Request) -> Response:
        params = await protocol_params(request, settings.max_body_bytes)
        text = query_text(params)
        return await admission.run(explain, text, _flag(params, "stages"))

    for method in ("GET", "POST"):  # one operation each, with ids of their own (OpenAPI wants them unique)
        app.add_api_route(
            "/sparql/explain",
            sparql_explain,
            methods=[method],
            summary="The SQL a query is rewritten into",
            operation_id=f"sparql_explain_{method.lower()}",
            openapi_extra=explain_operation(post=method == "POST"),
        )

    def explain(text: str, with_stages: bool = False) -> Response:
        # with stages: translated here, its IR whole, so that the IR shown is the one the SQL shown is rendered from
        translation = sparql.translate_here(text) if with_stages else sparql.translate(text)
        body: dict[str, Any] = {
            "form": translation.query.form,
            "variables": [str(v) for v in translation.query.variables] or list(translation.variables),
            "sql": translation.sql,
            "parameters": {k: _jsonable(v) for k, v in translation.params.items()},
            "max_rows": settings.max_rows,
            "timeout_s": settings.timeout_s,
        }
        if with_stages:  # the query after each stage of the rewrite (semantic.sparql.stages)
            from semantic.sparql.stages import query_stages

            body["stages"] = [dataclasses.asdict(s) for s in query_stages(text, translation)]
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    return app


__all__ = ["STATUS", "TRUNCATED_HEADER", "create_app", "error_response", "service_description"]
