"""The routes of OGC API - Processes - Part 1: Core (:func:`processes_router`).

``POST /processes/{id}/execution`` takes ``{"inputs": {...}, "outputs": {...}, "response": "document"|"raw"}``.
Inputs are the deployment's parameters, by value (a ``qualifiedValue``'s ``value`` is unwrapped; ``href``
references are refused), checked here with the validator Prefect's server uses before a run is made: an unknown or
invalid input answers 400 naming it, and makes no run. Execution is asynchronous unless the request asks
``Prefer: respond-sync`` (``wait=N`` shortens the wait, never beyond ``ESDL_PROCESSES_SYNC_TIMEOUT_S``):

- asynchronous: 201, ``Location: /jobs/{id}``, the job's status;
- synchronous, the job successful within the wait: 200 and its results (``raw``: the result itself);
- synchronous, not successful within the wait (still running, failed, dismissed): 201 and the job's status, as
  asynchronously, with no ``Preference-Applied`` for the wait.

An ``Idempotency-Key`` header makes a retried request get the job the first one made (200 with its status).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from esdl.api import metrics
from esdl.api.errors import BadRequest, InvalidInput, PayloadTooLarge, ResultNotReady
from esdl.api.http import read_body
from esdl.api.processes.documents import (
    CONFORMANCE,
    JSON,
    STATE_TYPES,
    job_status,
    landing_page,
    process_description,
    process_summary,
    results_document,
    status_info,
)
from esdl.api.processes.openapi import operation
from esdl.api.processes.service import JobQuery, Process
from esdl.api.sparql import query_page

if TYPE_CHECKING:
    from esdl.api.services import Services

FINAL = {"successful", "failed", "dismissed"}
_WAIT = re.compile(r"^\s*wait\s*=\s*(\d+)\s*$", re.I)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _prefer(header: str | None, limit: float) -> tuple[bool, float]:
    """Whether a request asks for synchronous execution, and how long it waits (``Prefer``, RFC 7240)."""
    sync, wait = False, limit
    for token in (header or "").split(","):
        token = token.strip().lower()
        if token == "respond-sync":
            sync = True
        elif token == "respond-async":
            sync = False
        elif match := _WAIT.match(token):
            wait = min(limit, float(match.group(1)))
    return sync, wait


def _input_value(name: str, value: Any, schema: dict[str, Any]) -> Any:
    """An input's value: a ``qualifiedValue``'s ``value`` unwrapped; a reference refused."""
    if isinstance(value, dict):
        keys = set(value)
        declared = set(dict(schema.get("properties") or {}))
        if "href" in keys and "href" not in declared:
            raise InvalidInput(f"input {name!r}: values by reference (href) are not supported; give the value", name)
        if "value" in keys and keys <= {"value", "mediaType", "encoding", "schema"} and "value" not in declared:
            return value["value"]
    return value


def parse_execute(body: bytes, process: Process) -> tuple[dict[str, Any], str, set[str], bool]:
    """The run's parameters, the response kind, the outputs asked for, and whether the parameters were checked
    here (:func:`_check`), from an execute request's body.

    Raises:
        BadRequest: The body is not a JSON object, or ``response`` / ``outputs`` / ``subscriber`` are wrong.
        InvalidInput: An input the process does not have, a reference, or a value its schema refuses.
    """
    try:
        request = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the execute request is not JSON: {err}") from None
    if not isinstance(request, dict):
        raise BadRequest('the execute request must be a JSON object ({"inputs": {...}})')
    if request.get("subscriber") is not None:
        raise BadRequest("callbacks (subscriber) are not supported: poll the job's status")
    response = request.get("response", "document")
    if response not in ("document", "raw"):
        raise BadRequest(f"response must be 'document' or 'raw', not {response!r}")
    inputs = request.get("inputs", {}) or {}
    if not isinstance(inputs, dict):
        raise BadRequest("inputs must be a JSON object of input id to value")
    properties = dict(process.schema.get("properties") or {})
    parameters: dict[str, Any] = {}
    for name, value in inputs.items():
        if name not in properties:
            raise InvalidInput(f"process {process.id!r} has no input {name!r} (inputs: {', '.join(properties)})", name)
        parameters[name] = _input_value(name, value, dict(properties[name]))
    outputs = request.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise BadRequest("outputs must be a JSON object of output id to its transmission")
    known = {"result", "cube", "stac"} if process.flow == "build-cube" else {"result"}
    unknown = set(outputs) - known
    if unknown:
        raise BadRequest(f"process {process.id!r} has no output {sorted(unknown)[0]!r} (outputs: {sorted(known)})")
    checked = _check(process, parameters)
    return parameters, response, set(outputs) or known, checked


def _check(process: Process, parameters: dict[str, Any]) -> bool:
    """Check the run's parameters (the deployment's own, updated with the inputs) as Prefect's server would;
    whether they were (so that the server need not check them again)."""
    from esdl.api.hooks.delivery import checkable, first_error

    every = {**process.defaults, **parameters}
    if not checkable(process.validator, every):
        return False
    found = first_error(process.validator, every)
    if found is None:
        return True
    first = found[0]
    path = [str(p) for p in first.absolute_path]
    if path:
        name = path[0]
    elif first.validator == "required" and isinstance(first.instance, dict):
        name = next((r for r in first.validator_value if r not in first.instance), "")
    else:
        name = ""
    where = "/".join(path[1:])
    detail = f"input {name!r}" + (f" at {where}" if where else "") + f": {first.message[:300]}"
    if first.validator == "required" and not path:
        detail = f"input {name!r} is required"
    raise InvalidInput(detail, name or None)


def _time(value: str, name: str) -> dt.datetime | None:
    if value in ("", ".."):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _many(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return int(raw)


def job_query(request: Request) -> JobQuery:
    """The filters of ``GET /jobs``: ``processID``, ``status``, ``datetime`` (an instant or ``start/end``, ``..``
    open), ``type`` (``process``), ``limit`` (1-1000, 10), ``offset``."""
    statuses = _many(request, "status")
    wrong = [s for s in statuses if s not in STATE_TYPES]
    if wrong:
        raise BadRequest(f"status {wrong[0]!r} is not one of {sorted(STATE_TYPES)}")
    after = before = None
    if (moment := request.query_params.get("datetime")) is not None:
        start, _, end = moment.partition("/")
        after, before = _time(start, "datetime"), _time(end if "/" in moment else start, "datetime")
    return JobQuery(
        process_ids=_many(request, "processID") or None,
        states=[k for s in statuses for k in STATE_TYPES[s]] or None,
        created_after=after,
        created_before=before,
        limit=_int(request, "limit", 10, 1, 1000),
        offset=_int(request, "offset", 0, 0, 10**9),
    )


def _page_links(request: Request, offset: int, limit: int, more: bool) -> list[dict[str, Any]]:
    url = request.url
    links = [{"rel": "self", "href": str(url), "type": JSON}]
    if more:
        links.append({"rel": "next", "href": str(url.include_query_params(offset=offset + limit)), "type": JSON})
    if offset > 0:
        links.append(
            {"rel": "prev", "href": str(url.include_query_params(offset=max(0, offset - limit))), "type": JSON}
        )
    return links


def processes_router(services: Services) -> APIRouter:
    """OGC API - Processes over the services' :class:`~esdl.api.processes.service.ProcessService` (started by the
    app's lifespan): the landing page (``/``), ``/conformance``, ``/processes``, ``/jobs``. Starting and
    dismissing jobs needs the ``run`` permission, reading the ``read`` one (open unless ``ESDL_AUTH_REQUIRE_READ``)."""
    router = APIRouter(tags=["OGC API - Processes"])
    read, run = Depends(services.permit("read")), Depends(services.permit("run"))

    def service() -> Any:
        return services.processes

    @router.get(
        "/",
        summary="Landing page (JSON; HTML: the query page)",
        dependencies=[read],
        openapi_extra=operation("landing"),
    )
    async def landing(request: Request) -> Response:
        fmt = request.query_params.get("f")
        accept = request.headers.get("accept", "")
        html = fmt == "html" or (fmt is None and "text/html" in accept and "application/json" not in accept)
        if fmt not in (None, "json", "html"):
            raise BadRequest(f"f must be json or html, not {fmt[:40]!r}")
        return query_page() if html else _json(landing_page(_base(request)))

    @router.get(
        "/conformance", summary="Conformance classes", dependencies=[read], openapi_extra=operation("conformance")
    )
    async def conformance() -> JSONResponse:
        return _json({"conformsTo": CONFORMANCE})

    @router.get(
        "/processes",
        summary="The processes (one per Prefect deployment)",
        dependencies=[read],
        openapi_extra=operation("processes"),
    )
    async def processes(request: Request) -> JSONResponse:
        limit, offset = _int(request, "limit", 1000, 1, 10000), _int(request, "offset", 0, 0, 10**9)
        found = sorted((await service().processes()).values(), key=lambda p: p.id)
        page = found[offset : offset + limit]
        base = _base(request)
        return _json(
            {
                "processes": [process_summary(p, base) for p in page],
                "links": _page_links(request, offset, limit, offset + limit < len(found)),
            }
        )

    @router.get(
        "/processes/{processID}",
        summary="A process's description",
        dependencies=[read],
        openapi_extra=operation("process"),
    )
    async def process(processID: str, request: Request) -> JSONResponse:
        found = await service().process(processID)
        # (the result types' modules are imported on first use: off the event loop)
        body = await run_in_threadpool(process_description, found, _base(request))
        return _json(body)

    @router.post(
        "/processes/{processID}/execution",
        summary="Execute a process: a job (a flow run)",
        dependencies=[run],
        openapi_extra=operation("execute"),
    )
    async def execute(processID: str, request: Request) -> Response:
        svc = service()
        found = await svc.process(processID)
        try:
            body = await read_body(request, svc.settings.max_body_bytes)
        except PayloadTooLarge:
            raise PayloadTooLarge(svc.settings.max_body_bytes, setting="ESDL_PROCESSES_MAX_BODY_BYTES") from None
        parameters, response, wanted, checked = parse_execute(body, found)
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 200:
            raise BadRequest("Idempotency-Key must be 1 to 200 characters")
        flow_run, new = await svc.execute(found, parameters, checked, key)
        metrics.JOBS_STARTED.labels(process=found.id if new else "duplicate").inc()
        base = _base(request)
        job = f"{base}/jobs/{flow_run.id}"
        sync, wait = _prefer(request.headers.get("prefer"), svc.settings.sync_timeout_s)
        if sync:
            flow_run = await _wait(svc, flow_run, wait)
            if job_status(flow_run) == "successful":
                result, _ = await svc.recorded(flow_run)
                out = {k: v for k, v in results_document(found, result).items() if k in wanted}
                headers = {"Preference-Applied": "respond-sync", "Link": f'<{job}>; rel="monitor"'}
                raw = out.get("result", {}).get("value")  # raw: the result itself
                return _json(raw if response == "raw" else out, 200, headers)
        headers = {"Location": job}
        if not sync and "respond-async" in (request.headers.get("prefer") or "").lower():
            headers["Preference-Applied"] = "respond-async"
        return _json(status_info(flow_run, found, base), 201 if new else 200, headers)

    @router.get(
        "/jobs",
        summary="The jobs (runs of the processes' deployments), newest first",
        dependencies=[read],
        openapi_extra=operation("jobs"),
    )
    async def jobs(request: Request) -> JSONResponse:
        query = job_query(request)
        if any(t != "process" for t in _many(request, "type")):
            found: list[Any] = []
        else:
            probe = JobQuery(**{**query.__dict__, "limit": query.limit + 1})
            found = await service().jobs(probe)
        base = _base(request)
        return _json(
            {
                "jobs": [status_info(r, p, base) for r, p in found[: query.limit]],
                "links": _page_links(request, query.offset, query.limit, len(found) > query.limit),
            }
        )

    @router.get("/jobs/{jobID}", summary="A job's status", dependencies=[read], openapi_extra=operation("job"))
    async def job(jobID: str, request: Request) -> JSONResponse:
        flow_run, found = await service().job(jobID)
        _, progress = await service().recorded(flow_run)
        return _json(status_info(flow_run, found, _base(request), progress))

    @router.delete(
        "/jobs/{jobID}",
        summary="Dismiss a job (cancel its flow run)",
        dependencies=[run],
        openapi_extra=operation("dismiss"),
    )
    async def dismiss(jobID: str, request: Request) -> JSONResponse:
        flow_run, found = await service().job(jobID)
        flow_run = await service().dismiss(flow_run)
        return _json(status_info(flow_run, found, _base(request)))

    @router.get(
        "/jobs/{jobID}/results",
        summary="A successful job's results",
        dependencies=[read],
        openapi_extra=operation("results"),
    )
    async def results(jobID: str, request: Request) -> JSONResponse:
        flow_run, found = await service().job(jobID)
        status = job_status(flow_run)
        if status != "successful":
            raise ResultNotReady(f"job {jobID} has no results: it is {status}")
        result, _ = await service().recorded(flow_run)
        return _json(results_document(found, result))

    return router


async def _wait(svc: Any, flow_run: Any, wait_s: float) -> Any:
    """The run once it is final, or as it is after ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + wait_s, 0.1
    client = await svc.client()
    while job_status(flow_run) not in FINAL or (flow_run.state and flow_run.state.type.value == "CANCELLING"):
        left = deadline - loop.time()
        if left <= 0:
            break
        await asyncio.sleep(min(pause, left))
        pause = min(1.0, pause * 1.5)
        flow_run = await svc.call(client.read_flow_run(flow_run.id))
    return flow_run


__all__ = ["job_query", "parse_execute", "processes_router"]
