"""OGC API - Processes (``esdl serve``) over a real Prefect server and a real process worker: OWSLib as the client,
every answer checked against the OGC's own OpenAPI schemas (``tests/api/ogcapi/``), jobs run to their end,
waited for synchronously, dismissed while they run, listed and paged; bad requests answered 400/404 with the OGC
exception body naming what is wrong, and no run made for them; starting and dismissing jobs only with the `run`
permission (an API key, or a token of the OIDC issuer served by the test); every route fuzzed with Schemathesis.
The stack: :mod:`esdl_testing.ogcapi`."""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from esdl_testing.auth import claims, sign
from esdl_testing.ogcapi import (
    Ogc,
    conforms,
    described,
    exception,
    fuzz,
    ogc_stack,
    runs_of,
    wait_status,
)
from esdl_testing.paths import REPO_ROOT


@pytest.fixture(scope="module")
def ogc(prefect_api: str, postgis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ogc]:
    with ogc_stack(prefect_api, postgis_server, tmp_path_factory.mktemp("ogc")) as stack:
        yield stack


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
    demo = yaml.safe_load((REPO_ROOT / "cubes" / "specs" / "demo.yaml").read_text())
    assert not list(validator.iter_errors(json.loads(json.dumps(demo, default=str))))  # (as JSON: dates as text)
    assert list(validator.iter_errors({"grid": 1}))
    assert {"result", "cube", "stac"} == set(description["outputs"])
    assert "path" in description["outputs"]["result"]["schema"]["properties"]  # BuildResult's fields


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
