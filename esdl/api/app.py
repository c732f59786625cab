"""The HTTP service (``esdl serve``): one FastAPI application mounting the routers, built by their factories.

- :func:`esdl.api.sparql.sparql_router`: the SPARQL 1.1 Protocol (``/sparql``, ``/sparql/explain``, the page);
- :func:`esdl.api.stac.stac_router`: the STAC catalog of the published cubes (``/stac``);
- :func:`esdl.api.hooks.hooks_router`: signed webhooks (``/hooks/{name}``), where a hooks file is given;
- :func:`esdl.api.processes.processes_router`: OGC API - Processes over the Prefect deployments (``/``,
  ``/conformance``, ``/processes``, ``/jobs``), where asked for;
- ``/metrics`` (:mod:`esdl.api.metrics`).

Building the app opens nothing: the catalogue's engine, the read-only role's check, the mappings and the
translator processes are set up by the app's lifespan (:class:`Services`), and closed by it. Every error of every
router becomes its answer through one table (:func:`esdl.api.errors.error_response`), the framework's own (a path
no route serves, a method a route does not take, a malformed path parameter) included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from esdl.api import metrics
from esdl.api.errors import (
    BadRequest,
    EndpointError,
    MethodNotAllowed,
    NotFound,
    error_response,
    internal_error,
    problem,
)
from esdl.api.services import Services
from esdl.api.settings import SparqlSettings
from esdl.api.sparql import STATIC, sparql_router
from esdl.api.stac import stac_router
from semantic.errors import SemanticError


def _framework_error(err: HTTPException) -> Response:
    """The framework's own refusals, in the service's error body."""
    if err.status_code == 404:
        return error_response(NotFound("no such resource"))
    if err.status_code == 405:
        answer = error_response(MethodNotAllowed("this resource does not take that method"))
        answer.headers.update(err.headers or {})
        return answer
    code = "request" if 400 <= err.status_code < 500 else "internal"
    status = err.status_code if 400 <= err.status_code < 600 else 500
    from fastapi.responses import JSONResponse

    return JSONResponse(problem(status, code, str(err.detail)), status_code=status, headers=err.headers)


def create_app(
    settings: SparqlSettings | None = None,
    engine: Any = None,
    hooks: Any = None,
    processes: Any = None,
    auth: Any = None,
) -> FastAPI:
    """The service's application.

    Args:
        settings: Limits and role of the SPARQL endpoint (default: from ``ESDL_SPARQL_*``).
        engine: SQLAlchemy engine of the catalogue (default: logged in as the read-only role,
            :func:`esdl.api.database.open_reader`, by the lifespan); one whose user can write gets its transactions
            dropped to the read-only role.
        hooks: Webhooks to serve at ``/hooks/{name}`` (:class:`esdl.api.hooks.HooksConfig`), or none.
        processes: Serve OGC API - Processes over the Prefect deployments
            (:class:`esdl.api.processes.ProcessesSettings`), or not (``None``).
        auth: Who may call what (:class:`esdl.api.auth.Authenticator`; default: from ``ESDL_AUTH_*`` where the
            processes are served).

    The lifespan raises :class:`semantic.errors.DatabaseError` when the catalogue cannot be opened or the
    read-only role cannot be used, and :class:`semantic.errors.MappingError` when the mappings do not fit it.
    """
    services = Services(settings or SparqlSettings(), engine, hooks, processes, auth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            services.start()
        except Exception as err:  # (kept for `esdl serve`, which says it in one line)
            app.state.startup_error = err
            await services.close()  # what was started before the failure (the translator processes)
            raise
        app.state.runner = services.runner
        try:
            yield
        finally:
            await services.close()

    # no CDN for the docs pages
    app = FastAPI(title="esdl", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = services.settings
    app.state.services = services

    async def on_error(request: Request, err: Exception) -> Response:
        return error_response(err)

    async def on_framework(request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        return _framework_error(err)

    async def on_invalid(request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)
        where = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg")) for e in err.errors()[:3]]
        return error_response(BadRequest("invalid request: " + "; ".join(where)))

    async def on_bug(request: Request, err: Exception) -> Response:
        return internal_error(request.method, request.url.path, err)

    app.add_exception_handler(EndpointError, on_error)
    app.add_exception_handler(SemanticError, on_error)
    app.add_exception_handler(HTTPException, on_framework)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_bug)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if processes is not None:  # (first: `/` answers JSON with the OGC landing page, HTML with the query page)
        from esdl.api.processes import processes_router

        app.include_router(processes_router(services))
    app.include_router(sparql_router(services, query_page_at_root=processes is None))
    app.include_router(stac_router(services))
    metrics.instrument(app)
    if hooks is not None:
        from esdl.api.hooks import hooks_router

        app.include_router(hooks_router(services.hooks))
        app.state.hooks = services.hooks
    return app


__all__ = ["Services", "create_app"]
