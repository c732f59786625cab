"""What the endpoint's OpenAPI document says of each route: the SPARQL 1.1 Protocol's parameters and bodies, the
media types of the answers, and the JSON errors (the routes read the request themselves, so FastAPI cannot see
them)."""

from __future__ import annotations

from typing import Any

from esdl.api.results import FORMAT_NAMES, FORMATS

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "syntax",
                "unsupported",
                "too-complex",
                "query",
                "request",
                "not-acceptable",
                "not-found",
                "too-large",
                "media-type",
                "busy",
                "timeout",
                "database",
                "internal",
                "unauthorized",
                "forbidden",
                "auth-unavailable",
                "method",
                "invalid-input",
                "conflict",
                "unavailable",
                "signature",
                "unknown-hook",
                "parameters",
            ],
        },
        "message": {"type": "string"},
        "type": {"type": "string", "description": "RFC 7807: the problem's type (an OGC exception URI where one fits)"},
        "title": {"type": "string", "description": "RFC 7807: the status's phrase"},
        "status": {"type": "integer", "description": "RFC 7807: the HTTP status"},
        "detail": {"type": "string", "description": "RFC 7807: what is wrong (the same as message)"},
        "feature": {"type": "string", "description": "unsupported: the SPARQL feature"},
        "offered": {"type": "array", "items": {"type": "string"}, "description": "not-acceptable: what could be"},
        "id": {"type": "string", "description": "internal: the incident the server logged"},
    },
}
QUERY = {"type": "string", "description": "a SPARQL 1.1 query"}
PARAMETERS: list[dict[str, Any]] = [
    {"name": "query", "in": "query", "required": False, "schema": QUERY},
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "the result format, instead of Accept",
        "schema": {"type": "string", "enum": sorted(FORMAT_NAMES)},
    },
    {
        "name": "default-graph-uri",
        "in": "query",
        "required": False,
        "description": "not supported (400 unsupported): name the dataset with FROM in the query",
        "schema": {"type": "string"},
    },
    {
        "name": "named-graph-uri",
        "in": "query",
        "required": False,
        "description": "not supported (400 unsupported): name the dataset with FROM NAMED in the query",
        "schema": {"type": "string"},
    },
]
BODY: dict[str, Any] = {
    "required": False,
    "content": {
        "application/sparql-query": {"schema": QUERY},
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "query": QUERY,
                    "update": {"type": "string", "description": "not supported: 400 unsupported"},
                    "default-graph-uri": {"type": "string"},
                    "named-graph-uri": {"type": "string"},
                },
            }
        },
    },
}


def error_answer(description: str, retry_after: bool = False) -> dict[str, Any]:
    """A declared error answer: the service's JSON error body (and ``Retry-After``)."""
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    if retry_after:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    return out


ERRORS: dict[str, Any] = {
    "400": error_answer("syntax, unsupported, too-complex, query or request"),
    "413": error_answer("too-large: the request or the answer"),
    "500": error_answer("internal: a bug, logged under the body's id"),
    "503": error_answer("busy (with Retry-After), timeout or database", retry_after=True),
}


def query_operation(post: bool) -> dict[str, Any]:
    """``openapi_extra`` of ``/sparql``: the protocol's parameters (and POST bodies), the answer's media types."""
    answer = {
        "description": "the answer (SELECT/ASK: JSON, XML, CSV, TSV; CONSTRUCT/DESCRIBE: Turtle, N-Triples); "
        "without a query (GET), the service description",
        "headers": {"X-Esdl-Truncated": {"schema": {"type": "string"}, "description": "true: rows left out"}},
        "content": {f.media_type: {"schema": {"type": "string"}} for f in FORMATS},
    }
    operation: dict[str, Any] = {
        "parameters": PARAMETERS,
        "responses": {
            "200": answer,
            **ERRORS,
            "406": error_answer("not-acceptable: no format of the query's form fits Accept"),
            "415": error_answer("media-type: a POST neither form-encoded nor application/sparql-query"),
        },
    }
    if post:
        operation["requestBody"] = BODY
    return operation


def explain_operation(post: bool) -> dict[str, Any]:
    """``openapi_extra`` of ``/sparql/explain``: the query in, the SQL out."""
    sql = {
        "type": "object",
        "required": ["form", "variables", "sql", "parameters"],
        "properties": {
            "form": {"type": "string", "enum": ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE"]},
            "variables": {"type": "array", "items": {"type": "string"}},
            "sql": {"type": "string"},
            "parameters": {"type": "object"},
            "max_rows": {"type": "integer"},
            "timeout_s": {"type": "number"},
            "stages": {
                "type": "array",
                "description": "with stages=1: the query after each stage of the rewrite (algebra, ir, rewritten, sql)",
                "items": {
                    "type": "object",
                    "required": ["name", "title", "text"],
                    "properties": {"name": {"type": "string"}, "title": {"type": "string"}, "text": {"type": "string"}},
                },
            },
        },
    }
    stages = {
        "name": "stages",
        "in": "query",
        "required": False,
        "description": "1 or true: add the query after each stage of the rewrite (400 for another value)",
        "schema": {"type": "string", "enum": ["1", "true", "0", "false"]},
    }
    operation: dict[str, Any] = {
        "parameters": [PARAMETERS[0], stages],
        "responses": {
            "200": {"description": "the SQL and its parameters", "content": {"application/json": {"schema": sql}}},
            **ERRORS,
            "415": error_answer("media-type"),
        },
    }
    if post:
        operation["requestBody"] = BODY
    return operation


def description_operation() -> dict[str, Any]:
    """``openapi_extra`` of ``/sparql/description``."""
    graphs = [f for f in FORMATS if "CONSTRUCT" in f.forms]
    return {
        "parameters": [PARAMETERS[1]],
        "responses": {
            "200": {
                "description": "the SPARQL 1.1 Service Description",
                "content": {f.media_type: {"schema": {"type": "string"}} for f in graphs},
            },
            "406": error_answer("not-acceptable"),
        },
    }


def stac_operation(one: bool) -> dict[str, Any]:
    """``openapi_extra`` of ``/stac`` (``one``: ``/stac/collections/{name}``): a STAC object, or the errors."""
    kind = "the STAC Collection of the cube's latest version" if one else "the STAC Catalog of the published cubes"
    responses: dict[str, Any] = {
        "200": {"description": kind, "content": {"application/json": {"schema": {"type": "object"}}}},
        "500": ERRORS["500"],
        "503": error_answer("database: the catalogue cannot be read", retry_after=True),
    }
    if one:
        responses["404"] = error_answer("not-found: no published cube of that name has a STAC collection")
    return {"responses": responses}


__all__ = [
    "ERROR_SCHEMA",
    "description_operation",
    "error_answer",
    "explain_operation",
    "query_operation",
    "stac_operation",
]
