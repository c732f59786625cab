"""OGC API - Processes on a real stack, for tests/api/test_processes.py: the deployments of a small flow (a process
worker runs it) and of build-cube (nothing runs it), API keys, an OIDC issuer, the real ``esdl serve``; the OGC's
own schemas (``tests/api/ogcapi/``) to check answers against; and the Schemathesis loop over the served routes."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from esdl_testing.auth import AUDIENCE, public_jwk, serve_issuer
from esdl_testing.database import fresh_database
from esdl_testing.paths import REPO_ROOT, TESTS_DIR
from esdl_testing.servers import running_server

BIN = Path(sys.executable).parent
OGC_DOCUMENT = TESTS_DIR / "api" / "ogcapi" / "ogcapi-processes.bundled.json"
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
    document = dict(json.loads(OGC_DOCUMENT.read_text()))
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


def register(folder: Path) -> None:
    """The work pool, and the deployments of the test's flow (a worker runs it) and of build-cube (none does)."""
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


@contextmanager
def ogc_stack(prefect_api: str, postgis_server: str, folder: Path) -> Iterator[Ogc]:
    """The deployments (:func:`register`), a process worker, API keys (`run`, `read`), an OIDC issuer on loopback,
    and the real ``esdl serve`` on a fresh catalogue, while the block runs."""
    (folder / "jobflow.py").write_text(textwrap.dedent(FLOW))
    register(folder)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONPATH": str(REPO_ROOT),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
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


def exception(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = dict(response.json())
    conforms(body, "exception")
    if kind is not None:
        assert body["type"] == f"http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/{kind}", body
    return body


FUZZ_EXAMPLES = 25  # per operation and mode (bounded: each case is a request to the real server)


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
