"""The documents of OGC API - Processes - Part 1: Core 1.0, built from deployments and flow runs.

Job status from the flow run's state type: Scheduled, Pending → ``accepted``; Running, Paused → ``running``;
Completed → ``successful``; Failed, Crashed → ``failed``; Cancelling, Cancelled → ``dismissed``.
"""

from __future__ import annotations

import copy
import json
import posixpath
from typing import Any

from esdl.api.processes.service import Process
from esdl.orchestrator import ui_url

SPEC = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
CONFORMANCE = [SPEC + c for c in ("core", "ogc-process-description", "json", "html", "job-list", "dismiss")]
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
JSON = "application/json"
ZARR = "application/vnd+zarr"
STATUS = {
    "SCHEDULED": "accepted",
    "PENDING": "accepted",
    "RUNNING": "running",
    "PAUSED": "running",
    "COMPLETED": "successful",
    "FAILED": "failed",
    "CRASHED": "failed",
    "CANCELLING": "dismissed",
    "CANCELLED": "dismissed",
}
STATE_TYPES = {status: [k for k, v in STATUS.items() if v == status] for status in set(STATUS.values())}
"""The Prefect state types of each job status (the ``status`` filter of ``/jobs``)."""

# the typed result of each flow a deployment may run ("module:Class"; a list: a list of them), imported when a
# process is described; tests/api/test_processes.py checks each against the flow's return annotation
RESULT_TYPES: dict[str, str] = {
    "build-cube": "flows.results:BuildResult",
    "load-catalog": "flows.results:CatalogLoadResult",
    "run-notebook": "nbrun.results:NotebookRun",
    "verify-notebooks": "[flows.verify_notebooks:Verification]",
    "train-model": "flows.train_model:TrainModelResult",
    "predict": "cubes.ml.remote:ForecastOnWorker",
}


def result_schema(flow: str) -> dict[str, Any]:
    """The JSON schema of a flow's typed result (``{}``, any value, for a flow esdl does not know)."""
    import importlib

    ref = RESULT_TYPES.get(flow)
    if ref is None:
        return {}
    many = ref.startswith("[")
    module, name = ref.strip("[]").split(":")
    model = getattr(importlib.import_module(module), name)
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    return {"type": "array", "items": schema} if many else schema


def landing_page(base: str) -> dict[str, Any]:
    """The landing page (``/``, JSON)."""
    return {
        "title": "esdl",
        "description": "Earth System Data Cubes and their knowledge graph: the Prefect deployments as OGC API - "
        "Processes, the cubes as a STAC catalog, the catalogue as a SPARQL endpoint.",
        "links": [
            {"rel": "self", "href": f"{base}/", "type": JSON, "title": "this document"},
            {"rel": "alternate", "href": f"{base}/?f=html", "type": "text/html", "title": "this page in HTML"},
            {
                "rel": "service-desc",
                "href": f"{base}/openapi.json",
                "type": "application/vnd.oai.openapi+json;version=3.1",
                "title": "the API's OpenAPI document",
            },
            {"rel": "conformance", "href": f"{base}/conformance", "type": JSON, "title": "conformance classes"},
            {"rel": REL + "conformance", "href": f"{base}/conformance", "type": JSON, "title": "conformance classes"},
            {"rel": REL + "processes", "href": f"{base}/processes", "type": JSON, "title": "the processes"},
            {"rel": REL + "job-list", "href": f"{base}/jobs", "type": JSON, "title": "the jobs"},
            {"rel": "data", "href": f"{base}/stac", "type": JSON, "title": "the cubes (STAC)"},
            {"rel": "service", "href": f"{base}/sparql", "type": "text/turtle", "title": "the SPARQL endpoint"},
        ],
    }


def process_summary(process: Process, base: str) -> dict[str, Any]:
    """An entry of ``/processes`` (and the head of a process's description)."""
    title = f"{process.flow}: {process.deployment}"
    out: dict[str, Any] = {
        "id": process.id,
        "title": title,
        "version": process.version,
        "jobControlOptions": ["async-execute", "sync-execute", "dismiss"],
        "outputTransmission": ["value"],
        "links": [
            {"rel": "self", "href": f"{base}/processes/{process.id}", "type": JSON, "title": "process description"},
            {"rel": REL + "execute", "href": f"{base}/processes/{process.id}/execution", "title": "execute"},
        ],
    }
    if process.description:
        out["description"] = process.description
    return out


def _with_definitions(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """An input's schema that stands alone: the parameter schema's definitions carried with it (its ``$ref``
    pointers, ``#/definitions/...``, then resolve within it)."""
    out = copy.deepcopy(schema)
    text = json.dumps(out)
    for key in ("definitions", "$defs"):
        if f'"#/{key}/' in text:
            out[key] = copy.deepcopy(definitions)
    return out


def process_description(process: Process, base: str) -> dict[str, Any]:
    """``/processes/{id}``: the summary, with inputs (the parameter schema's properties; those without a
    default of their own or the deployment's are required) and outputs (the flow's typed result)."""
    schema = process.schema
    definitions = dict(schema.get("definitions") or schema.get("$defs") or {})
    required = set(schema.get("required") or []) - set(process.defaults)
    inputs: dict[str, Any] = {}
    for name, prop in dict(schema.get("properties") or {}).items():
        prop = dict(prop)
        entry: dict[str, Any] = {"title": str(prop.pop("title", name))}
        if "description" in prop:
            entry["description"] = str(prop.pop("description"))
        prop.pop("position", None)  # (Prefect's own: the parameter's place in the signature)
        if name in process.defaults:
            prop["default"] = process.defaults[name]
        entry["schema"] = _with_definitions(prop, definitions)
        entry["minOccurs"] = 1 if name in required else 0
        entry["maxOccurs"] = 1
        inputs[name] = entry
    outputs: dict[str, Any] = {
        "result": {
            "title": "result",
            "description": f"the typed result of the {process.flow} flow run",
            "schema": {**result_schema(process.flow), "contentMediaType": JSON},
        }
    }
    if process.flow == "build-cube":
        outputs["cube"] = {
            "title": "cube",
            "description": "the published cube (Zarr), by reference",
            "schema": {"type": "string", "format": "uri", "contentMediaType": ZARR},
        }
        outputs["stac"] = {
            "title": "STAC collection",
            "description": "the cube's STAC Collection (datacube extension), by reference",
            "schema": {"type": "string", "format": "uri", "contentMediaType": JSON},
        }
    return {**process_summary(process, base), "inputs": inputs, "outputs": outputs}


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def job_status(run: Any) -> str:
    """The job status of a flow run."""
    kind = run.state.type.value if run.state is not None else "SCHEDULED"
    return STATUS.get(kind, "accepted")


def status_info(run: Any, process: Process, base: str, progress: float | None = None) -> dict[str, Any]:
    """A job's status (``/jobs/{id}``, and the entries of ``/jobs``)."""
    status = job_status(run)
    job = f"{base}/jobs/{run.id}"
    state = run.state
    message = (state.message or state.name) if state is not None else "scheduled"
    links = [
        {"rel": "self", "href": job, "type": JSON, "title": "this job's status"},
        {"rel": "up", "href": f"{base}/jobs", "type": JSON, "title": "the job list"},
        {"rel": "process", "href": f"{base}/processes/{process.id}", "type": JSON, "title": "its process"},
    ]
    if status == "successful":
        links.append({"rel": REL + "results", "href": f"{job}/results", "type": JSON, "title": "results"})
    page = ui_url(run.id)
    if page:
        links.append({"rel": "monitor", "href": page, "type": "text/html", "title": "the run in the Prefect UI"})
    info: dict[str, Any] = {
        "id": str(run.id),
        "processID": process.id,
        "type": "process",
        "processingEntityType": "ogc-api-processes",
        "status": status,
        "message": str(message)[:1000],
        "created": _time(run.created),
        "started": _time(run.start_time),
        "finished": _time(run.end_time) if status in ("successful", "failed", "dismissed") else None,
        "updated": _time(run.updated),
        "links": links,
    }
    if progress is not None:
        info["progress"] = max(0, min(100, round(progress)))
    elif status == "successful":
        info["progress"] = 100
    return {k: v for k, v in info.items() if v is not None}


def results_document(process: Process, result: Any) -> dict[str, Any]:
    """``/jobs/{id}/results`` of a successful job: its recorded result (``result``, a qualified JSON value), and
    for a cube its store and STAC collection by reference (``{}``: the run recorded no result)."""
    if result is None:
        return {}
    out: dict[str, Any] = {"result": {"value": result, "mediaType": JSON}}  # (a qualified value: it may be an object)
    if process.flow == "build-cube" and isinstance(result, dict) and result.get("path"):
        store = str(result["path"]).rstrip("/")  # the version's cube.zarr; its collection.json is beside it
        out["cube"] = {"href": store, "rel": "related", "type": ZARR, "title": "the cube"}
        stac = posixpath.join(posixpath.dirname(store), "collection.json")
        out["stac"] = {"href": stac, "rel": "related", "type": JSON, "title": "its STAC collection"}
    return out


__all__ = [
    "CONFORMANCE",
    "RESULT_TYPES",
    "STATE_TYPES",
    "job_status",
    "landing_page",
    "process_description",
    "process_summary",
    "result_schema",
    "results_document",
    "status_info",
]
