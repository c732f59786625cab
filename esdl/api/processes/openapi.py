"""What the OpenAPI document says of the processes' routes: their parameters, bodies and answers (the shapes of
OGC API - Processes - Part 1: Core 1.0, which tests/api/test_processes.py checks against the OGC's own schemas)."""

from __future__ import annotations

from typing import Any

from esdl.api.openapi import error_answer

JSON = "application/json"
LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
    },
}
LINKS = {"type": "array", "items": LINK}
STATUS_INFO = {
    "type": "object",
    "required": ["id", "status", "type", "links"],
    "properties": {
        "id": {"type": "string"},
        "processID": {"type": "string"},
        "type": {"type": "string", "enum": ["process"]},
        "processingEntityType": {"type": "string"},
        "status": {"type": "string", "enum": ["accepted", "running", "successful", "failed", "dismissed"]},
        "message": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "started": {"type": "string", "format": "date-time"},
        "finished": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "links": LINKS,
    },
}
SUMMARY = {
    "type": "object",
    "required": ["id", "version"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "version": {"type": "string"},
        "jobControlOptions": {
            "type": "array",
            "items": {"type": "string", "enum": ["sync-execute", "async-execute", "dismiss"]},
        },
        "outputTransmission": {"type": "array", "items": {"type": "string", "enum": ["value", "reference"]}},
        "links": LINKS,
    },
}
DESCRIPTION = {
    "allOf": [
        SUMMARY,
        {
            "type": "object",
            "required": ["inputs", "outputs"],
            "properties": {
                "inputs": {"type": "object", "additionalProperties": {"type": "object", "required": ["schema"]}},
                "outputs": {"type": "object", "additionalProperties": {"type": "object", "required": ["schema"]}},
            },
        },
    ]
}
RESULTS = {"type": "object", "description": "output id to value: a qualified value or a link"}
EXECUTE = {
    "type": "object",
    "properties": {
        "inputs": {"type": "object", "description": "input id to value (a value, or {value, mediaType})"},
        "outputs": {"type": "object", "description": "the outputs wanted (default: all)"},
        "response": {"type": "string", "enum": ["document", "raw"]},
    },
}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


UNAVAILABLE = error_answer("unavailable: the orchestrator (Prefect) cannot be reached; Retry-After")
CREDENTIALS = {
    "401": error_answer("unauthorized: no credential, or an invalid one (WWW-Authenticate)"),
    "403": error_answer("forbidden: a credential without the permission"),
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGE = [
    _query("limit", {"type": "integer", "minimum": 1}, "at most this many (400 out of range)"),
    _query("offset", {"type": "integer", "minimum": 0}, "skip this many"),
]


def operation(kind: str) -> dict[str, Any]:
    """``openapi_extra`` of a processes route: ``landing``, ``conformance``, ``processes``, ``process``,
    ``execute``, ``jobs``, ``job``, ``dismiss`` or ``results``."""
    read_errors = {**CREDENTIALS, "503": UNAVAILABLE}
    if kind == "landing":
        landing = {"type": "object", "required": ["links"], "properties": {"title": {"type": "string"}, "links": LINKS}}
        return {
            "parameters": [_query("f", {"type": "string", "enum": ["json", "html"]}, "json (default) or html")],
            "responses": {
                "200": {
                    "description": "the landing page (JSON), or the query page (HTML)",
                    "content": {JSON: {"schema": landing}, "text/html": {"schema": {"type": "string"}}},
                },
                "400": error_answer("request: an unknown f"),
            },
        }
    if kind == "conformance":
        classes = {"type": "object", "required": ["conformsTo"], "properties": {"conformsTo": {"type": "array"}}}
        return {"responses": {"200": _answer("the conformance classes", classes)}}
    if kind == "processes":
        listing = {
            "type": "object",
            "required": ["processes", "links"],
            "properties": {"processes": {"type": "array", "items": SUMMARY}, "links": LINKS},
        }
        return {
            "parameters": PAGE,
            "responses": {"200": _answer("the processes", listing), "400": error_answer("request"), **read_errors},
        }
    if kind == "process":
        return {
            "responses": {
                "200": _answer("the process's description", DESCRIPTION),
                "404": error_answer("no-such-process"),
                **read_errors,
            }
        }
    if kind == "execute":
        return {
            "requestBody": {"required": False, "content": {JSON: {"schema": EXECUTE}}},
            "responses": {
                "200": _answer("synchronous: the results; or the job an Idempotency-Key found", {"type": "object"}),
                "201": _answer("the job, created (Location: /jobs/{id})", STATUS_INFO),
                "400": error_answer("invalid-input (naming it) or request"),
                "404": error_answer("no-such-process"),
                "413": error_answer("too-large"),
                **CREDENTIALS,
                "503": UNAVAILABLE,
            },
        }
    if kind == "jobs":
        statuses = {"type": "string", "enum": ["accepted", "running", "successful", "failed", "dismissed"]}
        listing = {
            "type": "object",
            "required": ["jobs", "links"],
            "properties": {"jobs": {"type": "array", "items": STATUS_INFO}, "links": LINKS},
        }
        return {
            "parameters": [
                _query("processID", {"type": "string"}, "only jobs of these processes (comma-separated, or repeated)"),
                _query("status", statuses, "only jobs of these statuses (comma-separated, or repeated)"),
                _query("datetime", {"type": "string"}, "created at an instant or in start/end (RFC 3339, .. open)"),
                _query("type", {"type": "string"}, "process (other types: none)"),
                *PAGE,
            ],
            "responses": {
                "200": _answer("the jobs, newest first", listing),
                "400": error_answer("request"),
                **read_errors,
            },
        }
    if kind in ("job", "dismiss"):
        what = "the job, dismissed (or as it is, if it was over)" if kind == "dismiss" else "the job's status"
        return {
            "responses": {"200": _answer(what, STATUS_INFO), "404": error_answer("no-such-job"), **read_errors},
        }
    if kind == "results":
        return {
            "responses": {
                "200": _answer("the results", RESULTS),
                "404": error_answer("no-such-job, or result-not-ready"),
                **read_errors,
            }
        }
    raise ValueError(f"no operation {kind!r}")


__all__ = ["operation"]
