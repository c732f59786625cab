"""OGC API - Processes (``esdl serve``) over a real Prefect server and a real process worker: OWSLib as the client,
every answer checked against the OGC's own OpenAPI schemas (``tests/api/ogcapi/``), jobs run to their end,
waited for synchronously, dismissed while they run, listed and paged; bad requests answered 400/404 with the OGC
exception body naming what is wrong, and no run made for them; starting and dismissing jobs only with the `run`
permission (an API key, or a token of the OIDC issuer served by the test)."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from esdl_testing.auth import AUDIENCE, claims, public_jwk, serve_issuer, sign
from esdl_testing.database import fresh_database
from esdl_testing.servers import running_server

HERE = Path(__file__).parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent
POOL = "ogc-test"
FLOW = '''
import time

from prefect import flow
from pydantic import BaseModel

from flows.results import Progress, record_result


class Sum(BaseModel):
    total: int
    note: str


@flow(name="add-numbers", on_completion=[record_result])
def add(x: int, y: int = 2, sleep_s: float = 0.0) -> Sum:
    """Add two numbers (slowly, if asked)."""
    progress = Progress(2, "halves")
    time.sleep(sleep_s / 2)
    progress.advance(1)
    time.sleep(sleep_s / 2)
    progress.finish()
    return Sum(total=x + y, note=f"{x} + {y}")
'''


@functools.cache
def ogc_document() -> dict[str, Any]:
    """The OGC's document, with one deviation: its ``components/schemas/schema``, which an input's or output's
    ``schema`` refers to, is common-geodata's schema of a feature's properties (``type: object`` with
    ``properties``), which refuses ``{"type": "integer"}``; Part 1: Core 1.0 (OGC 18-062r2, 7.11.2.2) makes it a
    JSON Schema, which is any object: that is what is checked (and each one is checked as a JSON Schema in
    :func:`described`)."""
    document = dict(json.loads((HERE / "ogcapi" / "ogcapi-processes.bundled.json").read_text()))
    document["components"]["schemas"]["schema"] = {"type": "object"}
    return document


def described(body: dict[str, Any]) -> dict[str, Any]:
    """A process description that fits the OGC schema, each of whose input and output schemas is a JSON Schema."""
    from jsonschema import Draft202012Validator

    conforms(body, "process")
    for entry in (*body["inputs"].values(), *body["outputs"].values()):
        Draft202012Validator.check_schema(entry["schema"])
    return body


def conforms(body: Any, schema: str) -> None:
    """``body`` is valid against the OGC's ``components/schemas/<schema>``."""
    from jsonschema import Draft202012Validator

    document = {**ogc_document(), "$ref": f"#/components/schemas/{schema}"}
    errors = sorted(Draft202012Validator(document).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{schema}: {errors[0].message} at {list(errors[0].absolute_path)}"


@dataclass
class Ogc:
    base: str
    add: str  # the process id of the worker's deployment
    cube: str  # a build-cube deployment no worker takes (its runs stay scheduled)
    run: dict[str, str]  # the headers of a caller holding the `run` permission (an API key)
    read: dict[str, str]  # ... of one holding only `read`
    issuer: Any  # the OIDC issuer (esdl_testing.auth.Issuer) and its signing key
    private: Any


def _register(folder: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.importtools import load_script_as_module

    from flows.build_cube import build_cube

    add = load_script_as_module(str(folder / "jobflow.py")).add

    async def create() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
            await client.create_deployment(
                flow_id=await client.create_flow_from_name("add-numbers"),
                name="ogc-add",
                entrypoint="jobflow.py:add",
                work_pool_name=POOL,
                description="Adds two numbers.",
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(folder)}}],
                parameter_openapi_schema=parameter_schema(add.fn).model_dump_for_openapi(),
                enforce_parameter_schema=True,
            )
            await client.create_deployment(
                flow_id=await client.create_flow_from_name("build-cube"),
                name="ogc-cube",
                parameters={"output": "out/ogc-test.zarr"},
                parameter_openapi_schema=parameter_schema(build_cube.fn).model_dump_for_openapi(),
                enforce_parameter_schema=True,
            )

    asyncio.run(create())


@pytest.fixture(scope="module")
def ogc(prefect_api: str, postgis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ogc]:
    folder = tmp_path_factory.mktemp("ogc")
    (folder / "jobflow.py").write_text(textwrap.dedent(FLOW))
    _register(folder)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(REPO), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    with open(folder / "worker.log", "ab") as log:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    from cryptography.hazmat.primitives.asymmetric import rsa

    from esdl.api.auth.keys import create_key
    from semantic.store.db import make_engine

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        with fresh_database(postgis_server) as url, serve_issuer() as issuer:
            issuer.keys = [public_jwk(private, "rsa-1", "RS256")]
            engine = make_engine(url)
            try:
                _, run_key = create_key(engine, "ogc-tests", "run")
                _, read_key = create_key(engine, "ogc-reader", "read")
            finally:
                engine.dispose()
            # (the repository's hooks file is served too: its secret set, so that a delivery is checked)
            env = {"ESDL_AUTH_ISSUER": issuer.url, "ESDL_AUTH_AUDIENCE": AUDIENCE, "ESDL_HOOK_SECRET": "fuzz"}
            with running_server(url, folder / "serve.log", **env) as base:
                yield Ogc(base, "ogc-add", "ogc-cube", {"X-API-Key": run_key}, {"X-API-Key": read_key}, issuer, private)
    except BaseException:
        print((folder / "worker.log").read_text()[-5000:])
        raise
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def runs_of(deployment: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
            )

    return asyncio.run(read())


def wait_status(base: str, job: str, wanted: set[str], timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        info = dict(httpx.get(f"{base}/jobs/{job}", timeout=10).json())
        if info["status"] in wanted:
            return info
        assert time.monotonic() < deadline, f"job {job} is {info['status']}, not {wanted}, after {timeout_s:g} s"
        time.sleep(0.3)


def test_owslib_lists_describes_and_executes(ogc: Ogc) -> None:
    """OWSLib (the client QGIS plugins and notebooks use) reads the landing page, the processes and a
    description, executes a process asynchronously and synchronously, and every answer fits the OGC schema."""
    from owslib.ogcapi.processes import Processes

    client = Processes(ogc.base, headers=ogc.run)
    conforms(client.response, "landingPage")
    listed = client.processes()
    conforms({"processes": listed, "links": []}, "processList")
    assert {ogc.add, ogc.cube} <= {p["id"] for p in listed}
    description = described(client.process(ogc.add))
    assert description["inputs"]["x"]["minOccurs"] == 1 and description["inputs"]["y"]["minOccurs"] == 0
    assert description["inputs"]["y"]["schema"]["default"] == 2
    assert set(description["jobControlOptions"]) == {"async-execute", "sync-execute", "dismiss"}
    # asynchronous: the job's status, then its results once it is done
    started = client.execute(ogc.add, {"x": 40}, async_=True)
    conforms(started, "statusInfo")
    assert started["status"] == "accepted" and started["processID"] == ogc.add
    assert client.response_headers["Location"].endswith(f"/jobs/{started['id']}")
    done = wait_status(ogc.base, started["id"], {"successful", "failed"})
    assert done["status"] == "successful", done
    conforms(done, "statusInfo")
    assert done["progress"] == 100
    results = httpx.get(f"{ogc.base}/jobs/{started['id']}/results", timeout=10).json()
    conforms(results, "results")
    assert results == {"result": {"value": {"total": 42, "note": "40 + 2"}, "mediaType": "application/json"}}
    # a finished job is not dismissed: its status is answered as it is, and its results stay
    over = httpx.delete(f"{ogc.base}/jobs/{started['id']}", headers=ogc.run, timeout=10)
    assert over.status_code == 200 and over.json()["status"] == "successful", over.text
    assert httpx.get(f"{ogc.base}/jobs/{started['id']}/results", timeout=10).json() == results
    # synchronous (OWSLib asks `Prefer: respond-sync`): the results themselves
    answer = client.execute(ogc.add, {"x": 1, "y": {"value": 5}}, async_=False)
    conforms(answer, "results")
    assert answer["result"]["value"] == {"total": 6, "note": "1 + 5"}
    assert client.response_headers["Preference-Applied"] == "respond-sync"
    # (each exactly one run with those parameters)
    made = [r.parameters for r in runs_of("ogc-add")]
    assert made.count({"x": 40}) == 1 and made.count({"x": 1, "y": 5}) == 1
    # counted in /metrics
    from prometheus_client.parser import text_string_to_metric_families

    metrics = httpx.get(f"{ogc.base}/metrics", timeout=10).text
    (jobs,) = [f for f in text_string_to_metric_families(metrics) if f.name == "esdl_jobs_started"]
    started_here = [s.value for s in jobs.samples if s.name.endswith("_total") and s.labels == {"process": ogc.add}]
    assert started_here and started_here[0] >= 2


def test_conformance_and_landing_page(ogc: Ogc) -> None:
    classes = httpx.get(f"{ogc.base}/conformance", timeout=10).json()
    conforms(classes, "confClasses")
    spec = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
    assert {spec + c for c in ("core", "ogc-process-description", "json", "html", "job-list", "dismiss")} <= set(
        classes["conformsTo"]
    )
    page = httpx.get(f"{ogc.base}/", params={"f": "html"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    rels = {link["rel"] for link in httpx.get(f"{ogc.base}/", timeout=10).json()["links"]}
    assert {"service-desc", "conformance", "http://www.opengis.net/def/rel/ogc/1.0/processes"} <= rels


def test_a_cube_process_describes_the_spec_and_its_outputs(ogc: Ogc) -> None:
    description = described(httpx.get(f"{ogc.base}/processes/{ogc.cube}", timeout=30).json())
    spec = description["inputs"]["spec"]
    assert spec["minOccurs"] == 1
    assert description["inputs"]["output"]["minOccurs"] == 0  # the deployment gives it
    assert description["inputs"]["output"]["schema"]["default"] == "out/ogc-test.zarr"
    # the spec's schema stands alone: its references resolve within it (a spec validates against it)
    import yaml
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(spec["schema"])
    demo = yaml.safe_load((REPO / "cubes" / "specs" / "demo.yaml").read_text())
    assert not list(validator.iter_errors(json.loads(json.dumps(demo, default=str))))  # (as JSON: dates as text)
    assert list(validator.iter_errors({"grid": 1}))
    assert {"result", "cube", "stac"} == set(description["outputs"])
    assert "path" in description["outputs"]["result"]["schema"]["properties"]  # BuildResult's fields


def exception(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = dict(response.json())
    conforms(body, "exception")
    if kind is not None:
        assert body["type"] == f"http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/{kind}", body
    return body


def test_bad_requests_name_what_is_wrong_and_make_no_run(ogc: Ogc) -> None:
    before = len(runs_of("ogc-cube")) + len(runs_of("ogc-add"))
    post = functools.partial(httpx.post, timeout=10, headers=ogc.run)
    exception(httpx.get(f"{ogc.base}/processes/nope", timeout=10), 404, "no-such-process")
    exception(post(f"{ogc.base}/processes/nope/execution", json={"inputs": {}}), 404, "no-such-process")
    for job in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        exception(httpx.get(f"{ogc.base}/jobs/{job}", timeout=10), 404, "no-such-job")
        exception(httpx.get(f"{ogc.base}/jobs/{job}/results", timeout=10), 404, "no-such-job")
        exception(httpx.delete(f"{ogc.base}/jobs/{job}", headers=ogc.run, timeout=10), 404, "no-such-job")
    execute = f"{ogc.base}/processes/{ogc.add}/execution"
    cases: list[tuple[Any, str]] = [
        ({"inputs": {"x": "forty"}}, "'x'"),  # the wrong type
        ({"inputs": {}}, "'x' is required"),  # a required input missing
        ({"inputs": {"x": 1, "z": 3}}, "'z'"),  # an input the process does not have
        ({"inputs": {"x": {"href": "http://example.org/x"}}}, "by reference"),
    ]
    for request, says in cases:
        body = exception(post(execute, json=request), 400)
        assert says in body["detail"], (request, body)
    assert exception(post(execute, json={"inputs": {"x": "forty"}}), 400)["input"] == "x"
    spec_bad = exception(post(f"{ogc.base}/processes/{ogc.cube}/execution", json={"inputs": {"spec": 7}}), 400)
    assert "'spec'" in spec_bad["detail"]
    for raw in (b"{", b"[1]", b'{"inputs": [1]}', b'{"response": "nope"}', b'{"outputs": {"nope": {}}}'):
        exception(post(execute, content=raw, headers={"Content-Type": "application/json", **ogc.run}), 400)
    exception(post(execute, content=b"x" * 2_000_000), 413)
    # the raw bodies above were sent with a JSON content type; a form is refused as well
    exception(post(execute, data={"inputs": "x"}), 400)
    exception(httpx.get(f"{ogc.base}/jobs", params={"status": "sleeping"}, timeout=10), 400)
    exception(httpx.get(f"{ogc.base}/jobs", params={"limit": "0"}, timeout=10), 400)
    exception(httpx.get(f"{ogc.base}/jobs", params={"datetime": "yesterday"}, timeout=10), 400)
    exception(httpx.put(f"{ogc.base}/processes", timeout=10), 405)
    exception(httpx.get(f"{ogc.base}/no/such/path", timeout=10), 404)
    assert len(runs_of("ogc-cube")) + len(runs_of("ogc-add")) == before


def test_a_job_dismissed_while_it_runs_ends_cancelled(ogc: Ogc) -> None:
    started = httpx.post(
        f"{ogc.base}/processes/{ogc.add}/execution",
        json={"inputs": {"x": 1, "sleep_s": 60}},
        headers={"Prefer": "respond-async", **ogc.run},
        timeout=10,
    )
    assert started.status_code == 201 and started.headers["Preference-Applied"] == "respond-async"
    job = started.json()["id"]
    running = wait_status(ogc.base, job, {"running"})
    assert 0 <= running.get("progress", 0) < 100
    answer = httpx.delete(f"{ogc.base}/jobs/{job}", headers=ogc.run, timeout=10)
    assert answer.status_code == 200, answer.text
    conforms(answer.json(), "statusInfo")
    assert answer.json()["status"] == "dismissed"
    deadline = time.monotonic() + 60
    while (run := next(r for r in runs_of("ogc-add") if str(r.id) == job)).state.type.value != "CANCELLED":
        assert time.monotonic() < deadline, f"the run is {run.state.type.value}, not CANCELLED"
        time.sleep(0.5)
    exception(httpx.get(f"{ogc.base}/jobs/{job}/results", timeout=10), 404, "result-not-ready")
    # a job not started yet (no worker for the cube's deployment) is cancelled at once
    waiting = httpx.post(
        f"{ogc.base}/processes/{ogc.cube}/execution",
        json={"inputs": {"spec": "cubes/specs/demo.yaml"}},
        headers=ogc.run,
        timeout=10,
    ).json()
    assert waiting["status"] == "accepted"
    assert httpx.delete(f"{ogc.base}/jobs/{waiting['id']}", headers=ogc.run, timeout=10).json()["status"] == "dismissed"
    assert next(r for r in runs_of("ogc-cube") if str(r.id) == waiting["id"]).state.type.value == "CANCELLED"


def test_job_list_filters_and_pages_each_job_once(ogc: Ogc) -> None:
    made = []
    for i in range(7):
        answer = httpx.post(
            f"{ogc.base}/processes/{ogc.cube}/execution",
            json={"inputs": {"spec": "cubes/specs/demo.yaml", "resume": bool(i % 2)}},
            headers=ogc.run,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    seen: list[str] = []
    url: str | None = f"{ogc.base}/jobs?processID={ogc.cube}&limit=3"
    while url is not None:
        page = httpx.get(url, timeout=10).json()
        conforms(page, "jobList")
        assert len(page["jobs"]) <= 3
        seen += [j["id"] for j in page["jobs"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) and set(made) <= set(seen)
    assert {r.id for r in runs_of("ogc-cube")} == {UUID(j) for j in seen}
    # a page larger than Prefect answers in one call (200) is read in parts
    both: dict[str, Any] = {"processID": f"{ogc.cube},{ogc.add}", "limit": 1000}  # (others are served too)
    everything = httpx.get(f"{ogc.base}/jobs", params=both, timeout=30).json()["jobs"]
    assert sorted(j["id"] for j in everything) == sorted(str(r.id) for r in runs_of("ogc-cube") + runs_of("ogc-add"))
    accepted = httpx.get(f"{ogc.base}/jobs", params={"processID": ogc.cube, "status": "accepted", "limit": 100})
    assert set(made) <= {j["id"] for j in accepted.json()["jobs"]}
    assert all(j["status"] == "accepted" for j in accepted.json()["jobs"])
    successful = httpx.get(f"{ogc.base}/jobs", params={"processID": ogc.cube, "status": "successful"}).json()
    assert successful["jobs"] == []
    assert httpx.get(f"{ogc.base}/jobs", params={"type": "openeo"}).json()["jobs"] == []
    future = httpx.get(f"{ogc.base}/jobs", params={"datetime": "2999-01-01T00:00:00Z/.."}).json()
    assert future["jobs"] == []
    # an idempotency key gives a retried request the job the first one made
    key = {"Idempotency-Key": "retry-me", **ogc.run}
    first = httpx.post(
        f"{ogc.base}/processes/{ogc.cube}/execution", json={"inputs": {"spec": "x.yaml"}}, headers=key, timeout=10
    )
    again = httpx.post(
        f"{ogc.base}/processes/{ogc.cube}/execution", json={"inputs": {"spec": "x.yaml"}}, headers=key, timeout=10
    )
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]


def test_the_result_types_are_the_flows_return_types() -> None:
    """The output schemas come from a table of result types (importing every flow module to read its annotation
    would cost the server seconds); it must name what each flow really returns."""
    import importlib
    import typing

    from esdl.api.processes.documents import RESULT_TYPES

    flows = {
        "build-cube": "flows.build_cube:build_cube",
        "load-catalog": "flows.load_catalog:load_catalog",
        "run-notebook": "flows.run_notebook:run_notebook",
        "verify-notebooks": "flows.verify_notebooks:verify_notebooks",
        "train-model": "flows.train_model:train_model",
        "predict": "flows.predict:predict",
    }
    assert set(flows) == set(RESULT_TYPES)
    for name, ref in flows.items():
        module, attr = ref.split(":")
        flow = getattr(importlib.import_module(module), attr)
        assert flow.name == name
        returned = typing.get_type_hints(flow.fn)["return"]
        many = RESULT_TYPES[name].startswith("[")
        type_module, type_name = RESULT_TYPES[name].strip("[]").split(":")
        expected: Any = getattr(importlib.import_module(type_module), type_name)
        assert returned == (list[expected] if many else expected), name
        assert record_result_hooked(flow), name


def record_result_hooked(flow: Any) -> bool:
    from flows.results import record_result

    return record_result in flow.on_completion_hooks


def test_only_callers_with_the_run_permission_start_or_dismiss_jobs(ogc: Ogc) -> None:
    """401 without a credential or with a bad one, 403 with `read` only; a token of the issuer with the `esdl:run`
    scope, or a `run` key, starts a job. Reading stays open (ESDL_AUTH_REQUIRE_READ is false). No run is made
    for a refused request."""
    execute = f"{ogc.base}/processes/{ogc.cube}/execution"
    body = {"inputs": {"spec": "cubes/specs/demo.yaml"}}
    before = len(runs_of("ogc-cube"))
    token = sign(ogc.private, claims(ogc.issuer, scope="esdl:read"))
    for headers, status in (
        ({}, 401),
        ({"X-API-Key": "esdl_nokey_" + "x" * 43}, 401),
        ({"Authorization": "Bearer not.a.token"}, 401),
        (ogc.read, 403),
        ({"Authorization": f"Bearer {token}"}, 403),
    ):
        answer = httpx.post(execute, json=body, headers=headers, timeout=10)
        assert exception(answer, status)["error"] in ("unauthorized", "forbidden"), headers
        if status == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    job = httpx.get(f"{ogc.base}/jobs", params={"processID": ogc.cube, "limit": 1}, timeout=10).json()["jobs"][0]
    assert httpx.delete(f"{ogc.base}/jobs/{job['id']}", timeout=10).status_code == 401
    assert httpx.delete(f"{ogc.base}/jobs/{job['id']}", headers=ogc.read, timeout=10).status_code == 403
    assert len(runs_of("ogc-cube")) == before
    token = sign(ogc.private, claims(ogc.issuer, scope="openid esdl:run"))
    started = httpx.post(execute, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert started.status_code == 201, started.text
    assert len(runs_of("ogc-cube")) == before + 1
    for path in ("/", "/conformance", "/processes", f"/processes/{ogc.cube}", "/jobs", f"/jobs/{job['id']}"):
        assert httpx.get(f"{ogc.base}{path}", timeout=30).status_code == 200, path


FUZZ_EXAMPLES = 25  # per operation and mode (bounded: each case is a request to the real server)


def test_processes_routes_fuzzed_from_the_services_own_openapi(ogc: Ogc) -> None:
    """Schemathesis against the real server (loopback), from its own OpenAPI document (with the real process and
    job ids offered besides made-up ones): valid and schema-breaking requests to every route of OGC API -
    Processes, with a `run` key; no 5xx, no undeclared status, every answer fits its declared schema, and a run
    exists for each job answered as made, and none else."""
    import schemathesis

    served = schemathesis.openapi.from_url(f"{ogc.base}/openapi.json")
    operations = [r.ok() for r in served.get_all_operations()]  # type: ignore[union-attr]
    ours = ("/processes", "/jobs", "/hooks")
    labels = {op.label for op in operations if op.path in ("/", "/conformance") or op.path.startswith(ours)}
    assert labels == {
        "GET /",
        "GET /conformance",
        "GET /processes",
        "GET /processes/{processID}",
        "POST /processes/{processID}/execution",
        "GET /jobs",
        "GET /jobs/{jobID}",
        "DELETE /jobs/{jobID}",
        "GET /jobs/{jobID}/results",
        "POST /hooks/{name}",
    }
    # the ids a request may name: real ones besides made-up ones (else every case is a 404)
    job = httpx.post(
        f"{ogc.base}/processes/{ogc.cube}/execution", json={"inputs": {"spec": "x.yaml"}}, headers=ogc.run, timeout=10
    ).json()
    document = copy.deepcopy(served.raw_schema)
    for path, methods in list(document["paths"].items()):
        if not (path in ("/", "/conformance") or path.startswith(ours)):
            del document["paths"][path]
            continue
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "processID":
                    parameter["schema"] = {"type": "string", "enum": [ogc.add, ogc.cube, "no-such-process"]}
                elif parameter["name"] == "name" and path.startswith("/hooks"):
                    parameter["schema"] = {"type": "string", "enum": ["cube-input-landed", "no-such-hook"]}
                elif parameter["name"] == "jobID":
                    parameter["schema"] = {"type": "string", "enum": [job["id"], str(uuid4()), "not-a-job"]}
    declared = schemathesis.openapi.from_dict(document)
    before = {r.id for r in runs_of("ogc-add") + runs_of("ogc-cube")}
    seen: dict[str, set[int]] = {}
    made: list[str] = []
    for operation in [r.ok() for r in declared.get_all_operations()]:  # type: ignore[union-attr]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            fuzz(ogc, operation.label, strategy, mode.value, seen, made)
    print({label: sorted(codes) for label, codes in seen.items()})
    # a run for each job an execute request answered as made (201), none for another answer
    new = [r for r in runs_of("ogc-add") + runs_of("ogc-cube") if r.id not in before]
    assert sorted(str(r.id) for r in new) == sorted(made)
    assert httpx.get(f"{ogc.base}/processes", timeout=10).status_code == 200


def fuzz(ogc: Ogc, label: str, strategy: Any, mode: str, seen: dict[str, set[int]], made: list[str]) -> None:
    """Send ``strategy``'s cases to the server; each answer checked against the declared operation."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=ogc.base, headers=ogc.run, timeout=60)
        seen.setdefault(label, set()).add(response.status_code)
        if label.startswith("POST") and response.status_code == 201:
            made.append(response.json()["id"])
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance]
            )
        except AssertionError as err:
            pytest.fail(f"{label} {mode}: {case.as_curl_command()}\n{err}")

    from hypothesis.errors import Unsatisfiable

    try:
        run()
    except Unsatisfiable:  # a route with nothing a request could get wrong (no parameters, no body)
        assert mode == "negative", label


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ESDL_AUTH_ISSUER": "http://login.example.org"}, "ESDL_AUTH_ISSUER: .*https"),
        ({"ESDL_AUTH_ISSUER": "https://login.example.org"}, "ESDL_AUTH_AUDIENCE is required"),
        ({"ESDL_AUTH_ALGORITHMS": "HS256"}, "ESDL_AUTH_ALGORITHMS"),
        ({"ESDL_PROCESSES_SYNC_TIMEOUT_S": "-1"}, "ESDL_PROCESSES_SYNC_TIMEOUT_S"),
        (
            {"ESDL_DATABASE_URL": "postgresql://x:y@127.0.0.1:1/none", "ESDL_SPARQL_READ_PASSWORD": "z"},
            "cannot reach the database",
        ),
    ],
)
def test_esdl_serve_refuses_bad_settings_in_one_line_with_exit_2(env: dict[str, str], says: str) -> None:
    import re

    from esdl_testing.cli import run_esdl

    done = run_esdl("serve", "--port", "0", env={**os.environ, **env})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and re.search(says, lines[0]), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_an_orchestrator_down_or_silent_is_503_with_retry_after(kind: str, catalog_engine: Any) -> None:
    """The Prefect API refusing connections, or accepting them and never answering (a hung server): every route
    that needs it answers 503 ``unavailable`` with Retry-After, at ``orchestrator_timeout_s`` at the latest, and the
    service keeps answering what does not need it."""
    import socket
    import threading

    from fastapi.testclient import TestClient
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from esdl.api.app import create_app
    from esdl.api.auth.keys import create_key
    from esdl.api.processes import ProcessesSettings
    from esdl.api.settings import SparqlSettings

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    port = hole.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()
    if kind == "refused":
        hole.close()
    else:
        hole.listen(64)

        def accept() -> None:
            hole.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(hole.accept()[0])  # accepted, never answered
                except TimeoutError:
                    continue

        threading.Thread(target=accept, daemon=True).start()
    _, key = create_key(catalog_engine, "down", "run")
    settings = ProcessesSettings(_env_file=None, orchestrator_timeout_s=1)  # type: ignore[call-arg]
    try:
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
            app = create_app(SparqlSettings(_env_file=None), engine=catalog_engine, processes=settings)  # type: ignore[call-arg]
            with TestClient(app, raise_server_exceptions=False) as client:
                for method, path in (
                    ("GET", "/processes"),
                    ("GET", "/processes/build"),
                    ("POST", "/processes/build/execution"),
                    ("GET", "/jobs"),
                    ("GET", f"/jobs/{uuid4()}"),
                    ("DELETE", f"/jobs/{uuid4()}"),
                ):
                    start = time.monotonic()
                    answer = client.request(method, path, json={"inputs": {}}, headers={"X-API-Key": key})
                    assert time.monotonic() - start < 10, (method, path)
                    assert answer.status_code == 503 and answer.json()["error"] == "unavailable", (path, answer.text)
                    assert int(answer.headers["Retry-After"]) > 0
                assert client.get("/conformance").status_code == 200
                assert client.get("/sparql", params={"query": "ASK {}"}).status_code == 200
    finally:
        stop.set()
        for s in held:
            s.close()
        hole.close()
