"""Errors of the HTTP layer, and the one table that turns every error into its HTTP answer.

Every router raises these (or lets :mod:`semantic`'s errors through); :func:`error_response` is the only place an
error becomes a response, for every route of the service. The body is the same everywhere: an RFC 7807 problem
(``type``, ``title``, ``status``, ``detail``: the exception body of OGC API - Processes) that also carries esdl's
short ``error`` code and ``message`` (what the SPARQL endpoint's clients read)::

    {"type": "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job", "title": "Not Found",
     "status": 404, "detail": "no job ...", "error": "not-found", "message": "no job ..."}

``type`` is the OGC's exception URI where the standard defines one (``no-such-process``, ``no-such-job``,
``result-not-ready``), and ``urn:esdl:error:<code>`` otherwise.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from semantic.errors import (
    DatabaseError,
    QuerySyntaxError,
    QueryTooComplex,
    SemanticError,
    SparqlError,
    UnsupportedFeature,
)
from semantic.sparql.pool import TranslatorsBusy

LOG = logging.getLogger("esdl.api")
OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"


class EndpointError(Exception):
    """Base class of the errors the endpoint raises on purpose."""

    code = "request"
    status = 400
    ogc_type: str | None = None  # the OGC exception URI, where the standard names this error

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.code, "message": str(self)}

    def headers(self) -> dict[str, str]:
        """Headers of the error response."""
        return {}


class BadRequest(EndpointError):
    """The request breaks the protocol: no query, two queries, a body that is not UTF-8."""

    code = "request"


class NotFound(EndpointError):
    """Nothing by that name: an unknown cube of ``/stac``, a path no route serves."""

    code = "not-found"
    status = 404


class NoSuchProcess(NotFound):
    """OGC API - Processes: no process of that id."""

    ogc_type = OGC_EXCEPTIONS + "no-such-process"


class NoSuchJob(NotFound):
    """OGC API - Processes: no job of that id."""

    ogc_type = OGC_EXCEPTIONS + "no-such-job"


class ResultNotReady(NotFound):
    """OGC API - Processes: the job has no results (yet, or it failed or was dismissed)."""

    ogc_type = OGC_EXCEPTIONS + "result-not-ready"


class InvalidInput(BadRequest):
    """OGC API - Processes: an execute request whose inputs do not fit the process (the message names the input)."""

    code = "invalid-input"

    def __init__(self, message: str, input_id: str | None = None) -> None:
        super().__init__(message)
        self.input_id = input_id

    def body(self) -> dict[str, Any]:
        """The JSON body, with the input at fault."""
        return {**super().body(), "input": self.input_id} if self.input_id else super().body()


class MethodNotAllowed(EndpointError):
    """A route asked with a method it does not serve."""

    code = "method"
    status = 405


class Conflict(EndpointError):
    """The request cannot be carried out in the resource's present state."""

    code = "conflict"
    status = 409


class Unavailable(EndpointError):
    """A service this one needs (the orchestrator) cannot be reached or failed: try again later."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """``Retry-After``."""
        return {"Retry-After": str(self.retry_after)}


class UnsupportedMediaType(EndpointError):
    """A POST body that is neither ``application/x-www-form-urlencoded`` nor ``application/sparql-query``."""

    code = "media-type"
    status = 415


class NotAcceptable(EndpointError):
    """No result format offered for the query's form matches the ``Accept`` header or ``format=``."""

    code = "not-acceptable"
    status = 406

    def __init__(self, message: str, offered: list[str]) -> None:
        super().__init__(message)
        self.offered = offered

    def body(self) -> dict[str, Any]:
        """The JSON body, with the media types that could have been served."""
        return {**super().body(), "offered": self.offered}


class QueryTimeout(EndpointError):
    """The query ran past the statement timeout and was cancelled by the database."""

    code = "timeout"
    status = 503

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the query ran longer than the statement timeout of {timeout_s:g} s and was cancelled")
        self.timeout_s = timeout_s

    def body(self) -> dict[str, Any]:
        """The JSON body, with the timeout."""
        return {**super().body(), "timeout_s": self.timeout_s}


class PayloadTooLarge(EndpointError):
    """The request body (or the query in the URL) is longer than ``ESDL_SPARQL_MAX_BODY_BYTES``, or the answer
    than ``ESDL_SPARQL_MAX_RESPONSE_BYTES``."""

    code = "too-large"
    status = 413

    def __init__(self, limit: int, what: str = "the request", setting: str = "ESDL_SPARQL_MAX_BODY_BYTES") -> None:
        super().__init__(f"{what} is larger than {limit} bytes ({setting})")
        self.limit = limit

    def body(self) -> dict[str, Any]:
        """The JSON body, with the limit."""
        return {**super().body(), "limit_bytes": self.limit}


class Busy(EndpointError):
    """Every query slot stayed taken for ``ESDL_SPARQL_QUEUE_TIMEOUT_S``: try again later."""

    code = "busy"
    status = 503

    def __init__(self, slots: int, waited_s: float, what: str = "query slots (ESDL_SPARQL_MAX_CONCURRENT)") -> None:
        super().__init__(f"all {slots} {what} stayed busy for {waited_s:g} s; try again later")
        self.retry_after = max(1, round(waited_s))

    def headers(self) -> dict[str, str]:
        """``Retry-After``: the wait the request gave up after."""
        return {"Retry-After": str(self.retry_after)}


# the libraries' errors: (HTTP status, JSON code), looked up along the error's MRO (subclasses first)
LIBRARY_STATUS: dict[type[Exception], tuple[int, str]] = {
    QuerySyntaxError: (400, "syntax"),
    UnsupportedFeature: (400, "unsupported"),
    QueryTooComplex: (400, "too-complex"),
    SparqlError: (400, "query"),
    TranslatorsBusy: (503, "busy"),
    DatabaseError: (503, "database"),
    SemanticError: (500, "internal"),
}


def status_of(err: Exception) -> tuple[int, str]:
    """The HTTP status and JSON code of an error (an :class:`EndpointError`'s own, or the library table's)."""
    if isinstance(err, EndpointError):
        return err.status, err.code
    return next(LIBRARY_STATUS[c] for c in type(err).__mro__ if c in LIBRARY_STATUS)


def problem(status: int, code: str, message: str, ogc_type: str | None = None) -> dict[str, Any]:
    """The error body: an RFC 7807 problem with esdl's ``error`` and ``message``."""
    return {
        "type": ogc_type or f"urn:esdl:error:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": message,
        "error": code,
        "message": message,
    }


def error_response(err: Exception) -> JSONResponse:
    """The response of an error raised on purpose (:class:`EndpointError`) or by the libraries."""
    status, code = status_of(err)
    if isinstance(err, EndpointError):
        body = {**problem(status, code, str(err), err.ogc_type), **err.body()}
        headers = err.headers() or None
    else:
        body = problem(status, code, str(err))
        headers = {"Retry-After": "1"} if isinstance(err, TranslatorsBusy) else None
    if isinstance(err, UnsupportedFeature):
        body["feature"] = err.feature
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error(method: str, path: str, err: BaseException) -> JSONResponse:
    """500 for a bug: the traceback logged under an id the body carries, and nothing else said (no class names,
    settings, hosts)."""
    incident = uuid.uuid4().hex[:12]
    LOG.error("internal error %s on %s %s", incident, method, path, exc_info=err)
    body = problem(500, "internal", f"internal error {incident}: a bug in the service, logged by the server")
    return JSONResponse({**body, "id": incident}, status_code=500)
