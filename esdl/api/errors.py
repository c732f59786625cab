"""Errors of the HTTP layer: requests that break the SPARQL 1.1 Protocol, and queries the database stopped.

Each carries a short ``code`` for the JSON body (``{"error": code, "message": ...}``); :mod:`esdl.api.sparql` maps
the classes (and :mod:`semantic`'s errors) to HTTP statuses at the edge.
"""

from __future__ import annotations

from typing import Any


class EndpointError(Exception):
    """Base class of the errors the endpoint raises on purpose."""

    code = "request"

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
    """Nothing by that name: an unknown cube of ``/stac``."""

    code = "not-found"


class UnsupportedMediaType(EndpointError):
    """A POST body that is neither ``application/x-www-form-urlencoded`` nor ``application/sparql-query``."""

    code = "media-type"


class NotAcceptable(EndpointError):
    """No result format offered for the query's form matches the ``Accept`` header or ``format=``."""

    code = "not-acceptable"

    def __init__(self, message: str, offered: list[str]) -> None:
        super().__init__(message)
        self.offered = offered

    def body(self) -> dict[str, Any]:
        """The JSON body, with the media types that could have been served."""
        return {**super().body(), "offered": self.offered}


class QueryTimeout(EndpointError):
    """The query ran past the statement timeout and was cancelled by the database."""

    code = "timeout"

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

    def __init__(self, limit: int, what: str = "the request", setting: str = "ESDL_SPARQL_MAX_BODY_BYTES") -> None:
        super().__init__(f"{what} is larger than {limit} bytes ({setting})")
        self.limit = limit

    def body(self) -> dict[str, Any]:
        """The JSON body, with the limit."""
        return {**super().body(), "limit_bytes": self.limit}


class Busy(EndpointError):
    """Every query slot stayed taken for ``ESDL_SPARQL_QUEUE_TIMEOUT_S``: try again later."""

    code = "busy"

    def __init__(self, slots: int, waited_s: float, what: str = "query slots (ESDL_SPARQL_MAX_CONCURRENT)") -> None:
        super().__init__(f"all {slots} {what} stayed busy for {waited_s:g} s; try again later")
        self.retry_after = max(1, round(waited_s))

    def headers(self) -> dict[str, str]:
        """``Retry-After``: the wait the request gave up after."""
        return {"Retry-After": str(self.retry_after)}
