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
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from esdl.api import metrics
from esdl.api.admission import EXPRESS_PLAN_S
from esdl.api.description import TRUNCATED_HEADER, service_description
from esdl.api.errors import BadRequest, PayloadTooLarge, QueryTimeout, UnsupportedMediaType
from esdl.api.http import read_body
from esdl.api.openapi import description_operation, explain_operation, query_operation
from esdl.api.results import negotiate, serialize
from semantic.errors import UnsupportedFeature

if TYPE_CHECKING:
    from esdl.api.services import Services

STATIC = Path(__file__).parent / "static"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000/sparql"  # `esdl serve`'s default address
FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"

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


def sparql_router(services: Services, query_page_at_root: bool = True) -> APIRouter:
    """The SPARQL 1.1 Protocol's routes over ``services`` (its engine, runner and query slots, read at request
    time: the app's lifespan starts them), and the query page at ``/`` (``query_page_at_root``; else another
    router serves ``/``)."""
    # reading needs the `read` permission where ESDL_AUTH_REQUIRE_READ says so (open by default)
    router = APIRouter(dependencies=[Depends(services.permit("read"))])
    settings = services.settings
    endpoint = settings.public_url or DEFAULT_PUBLIC_URL

    def express_answer(text: str, accept: str | None, fmt: str | None) -> Response | None:
        """The answer from an express slot, or ``None`` where the query is not cheap: planned too costly, or slow
        to plan."""
        translation = services.sparql.translate(text)
        negotiate(translation.query.form, accept, fmt)  # 406 before the database is asked
        costs = services.admission.costs
        cost = costs.known(text)
        if cost is None:
            try:
                cost = services.runner.cost(translation, EXPRESS_PLAN_S)
            except QueryTimeout:  # (the database is busy, or the plan is hard: not remembered)
                return None
            costs.remember(text, cost)
        if cost > settings.express_max_cost:
            return None
        return answer(text, accept, fmt, settings.express_timeout_s)

    def answer(text: str, accept: str | None, fmt: str | None, timeout_s: float | None = None) -> Response:
        started = time.perf_counter()
        translation = services.sparql.translate(text)
        metrics.TRANSLATE_SECONDS.observe(time.perf_counter() - started)
        form = translation.query.form
        chosen = negotiate(form, accept, fmt)  # 406 before the database is asked
        started, outcome = time.perf_counter(), "error"
        try:
            result = services.runner.run(translation, timeout_s)
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
        sparql = services.sparql
        graph = service_description(endpoint, list(sparql.functions), settings, rdfs=sparql.mapped is not None)
        return Response(serialize(graph, chosen), media_type=chosen.content_type, headers={"Vary": "Accept"})

    if query_page_at_root:

        @router.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return query_page()

    @router.get(
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
        return await services.admission.run(answer, text, accept, fmt, express=express_answer)

    @router.post(
        "/sparql",
        summary="Query (SPARQL 1.1 Protocol: form-encoded or direct POST)",
        openapi_extra=query_operation(post=True),
    )
    async def sparql_post(request: Request) -> Response:
        params = await protocol_params(request, settings.max_body_bytes)
        text = query_text(params)
        accept, fmt = request.headers.get("accept"), _one(params, "format")
        return await services.admission.run(answer, text, accept, fmt, express=express_answer)

    @router.get(
        "/sparql/description",
        summary="Service description (SPARQL 1.1 Service Description, Turtle)",
        openapi_extra=description_operation(),
    )
    async def sparql_description(request: Request) -> Response:
        return describe(request, await protocol_params(request, settings.max_body_bytes))

    async def sparql_explain(request: Request) -> Response:
        params = await protocol_params(request, settings.max_body_bytes)
        text = query_text(params)
        return await services.admission.run(explain, text, _flag(params, "stages"))

    for method in ("GET", "POST"):  # one operation each, with ids of their own (OpenAPI wants them unique)
        router.add_api_route(
            "/sparql/explain",
            sparql_explain,
            methods=[method],
            summary="The SQL a query is rewritten into",
            operation_id=f"sparql_explain_{method.lower()}",
            openapi_extra=explain_operation(post=method == "POST"),
        )

    def explain(text: str, with_stages: bool = False) -> Response:
        # with stages: translated here, its IR whole, so that the IR shown is the one the SQL shown is rendered from
        sparql = services.sparql
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

    return router


def query_page() -> FileResponse:
    """The query page (HTML)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


__all__ = ["STATIC", "TRUNCATED_HEADER", "query_page", "service_description", "sparql_router"]
