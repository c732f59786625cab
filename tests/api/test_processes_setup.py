"""OGC API - Processes without the stack: the output schemas' table against the flows' return types, ``esdl serve``
refusing bad settings in one line, and the routes' answers when the Prefect API is down or silent."""

from __future__ import annotations

import os
import time
from typing import Any
from uuid import uuid4

import pytest


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
    from fastapi.testclient import TestClient
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from esdl.api.app import create_app
    from esdl.api.auth.keys import create_key
    from esdl.api.processes import ProcessesSettings
    from esdl.api.settings import SparqlSettings
    from esdl_testing.servers import silent_port

    _, key = create_key(catalog_engine, "down", "run")
    settings = ProcessesSettings(_env_file=None, orchestrator_timeout_s=1)  # type: ignore[call-arg]
    with (
        silent_port(listening=kind == "silent") as port,
        temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}),
    ):
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
