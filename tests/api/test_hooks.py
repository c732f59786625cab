"""Signed webhooks (``esdl/api/hooks/``) against a real Prefect server: a delivery starts one run of the hook's
deployment with the body's parameters; repeated idempotency keys and replays give the same run (also 20 senders
at once); forged, stale, oversized, unknown, non-JSON and ill-typed deliveries give a 4xx and no run; the
orchestrator unreachable gives 503 with Retry-After; signatures made with ``openssl`` are accepted."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from esdl.api.hooks import HooksConfig, HookService, hooks_router, load_hooks, sign, verify

SECRET = "s3cret-for-tests"
DEPLOYMENT = "build-cube/hook-test"


def config(**hooks: Any) -> HooksConfig:
    base = {
        "deployment": DEPLOYMENT,
        "secret": {"env": "ESDL_TEST_HOOK_SECRET"},
        "parameters": {"spec": "/spec", "resume": "/resume"},
        "defaults": {"output": "out/hook-test.zarr"},
    }
    return HooksConfig.model_validate({"max_body_bytes": 4096, "hooks": {"landed": base, **hooks}})


@pytest.fixture(scope="module")
def deployment_id(prefect_api: str) -> str:
    """A deployment of the real build-cube flow (its parameter schema, enforced); no worker: runs stay
    scheduled."""
    from prefect.client.orchestration import get_client
    from prefect.utilities.callables import parameter_schema

    from flows.build_cube import build_cube

    schema = parameter_schema(build_cube.fn).model_dump_for_openapi()

    async def create() -> str:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("build-cube")
            return str(
                await client.create_deployment(
                    flow_id=flow_id, name="hook-test", parameter_openapi_schema=schema, enforce_parameter_schema=True
                )
            )

    return asyncio.run(create())


def runs(deployment_id: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[UUID(deployment_id)]))
            )

    return asyncio.run(read())


@pytest.fixture
def client(deployment_id: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("ESDL_TEST_HOOK_SECRET", SECRET)
    app = FastAPI()
    app.include_router(hooks_router(HookService(config())))
    with TestClient(app) as c:
        yield c


def deliver(
    c: TestClient, body: bytes, *, name: str = "landed", key: str | None = None, signature: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json", "X-Esdl-Signature": signature or sign(SECRET.encode(), body)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return c.post(f"/hooks/{name}", content=body, headers=headers)


def body(**values: Any) -> bytes:
    return json.dumps({"spec": "cubes/specs/demo.yaml", "resume": True, **values}).encode()


def test_a_delivery_starts_one_run_with_the_bodys_parameters(client: TestClient, deployment_id: str) -> None:
    before = {r.id for r in runs(deployment_id)}
    r = deliver(client, body(resume=False), key="first-delivery")
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["duplicate"] is False and answer["state"] == "SCHEDULED"
    assert answer["url"].endswith(f"/runs/flow-run/{answer['flow_run_id']}")
    new = [run for run in runs(deployment_id) if run.id not in before]
    assert [str(run.id) for run in new] == [answer["flow_run_id"]]
    (run,) = new
    assert run.parameters == {"spec": "cubes/specs/demo.yaml", "resume": False, "output": "out/hook-test.zarr"}
    assert {"webhook", "hook:landed"} <= set(run.tags)
    assert run.idempotency_key == "hook:landed:key:first-delivery"
    again = deliver(client, body(resume=False), key="first-delivery")  # a retried delivery: the same run
    assert again.status_code == 202 and again.json()["flow_run_id"] == answer["flow_run_id"]
    assert again.json()["duplicate"] is True
    assert len(runs(deployment_id)) == len(before) + 1


def test_an_accepted_delivery_emits_an_event_related_to_its_run(client: TestClient, prefect_api: str) -> None:
    import httpx

    r = deliver(client, body(), key="evented")
    assert r.status_code == 202, r.text
    run_id = r.json()["flow_run_id"]
    query = {"filter": {"event": {"name": ["esdl.webhook.accepted"]}, "resource": {"id": ["esdl.webhook.landed"]}}}
    deadline = time.monotonic() + 30
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        events = httpx.post(f"{prefect_api}/events/filter", json=query, timeout=10).json()["events"]
        found = [e for e in events if any(rel["prefect.resource.id"].endswith(run_id) for rel in e["related"])]
        time.sleep(0.3)
    assert found, "no esdl.webhook.accepted event related to the run"
    assert found[0]["payload"]["deployment"] == DEPLOYMENT


def test_a_replayed_request_makes_no_second_run(client: TestClient, deployment_id: str) -> None:
    payload = body(spec="cubes/specs/replayed.yaml")
    signature = sign(SECRET.encode(), payload)
    first = deliver(client, payload, signature=signature)
    count = len(runs(deployment_id))
    replay = deliver(client, payload, signature=signature)  # the same request, captured and sent again
    assert first.status_code == replay.status_code == 202
    assert replay.json()["flow_run_id"] == first.json()["flow_run_id"] and replay.json()["duplicate"] is True
    assert len(runs(deployment_id)) == count


def test_a_flood_of_deliveries_gives_one_run_per_key(client: TestClient, deployment_id: str) -> None:
    keys = [f"flood-{i}" for i in range(40)]
    sends = [k for k in keys for _ in range(5)]  # each key five times, interleaved, 20 senders at once
    before = len(runs(deployment_id))

    def sender(key: str) -> Any:
        """A sender as the docs describe one: on 503 (the orchestrator busy past the hook's time limit, which a
        loaded test server can be) it sends the same delivery again, with the same key (1 s, not Retry-After's
        10, to keep the test short); a run the first try made after its 503 is then the answer."""
        for _ in range(20):
            answer = deliver(client, body(spec=f"cubes/specs/{key}.yaml"), key=key)
            if answer.status_code != 503:
                return answer
            assert answer.json()["error"] == "unavailable" and int(answer.headers["Retry-After"]) > 0
            time.sleep(1)
        return answer

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(sender, sends))
    assert [a.status_code for a in answers] == [202] * len(sends), [a.text for a in answers if a.status_code != 202]
    by_key: dict[str, set[str]] = {}
    for k, a in zip(sends, answers, strict=True):
        by_key.setdefault(k, set()).add(a.json()["flow_run_id"])
    assert all(len(ids) == 1 for ids in by_key.values()), by_key  # every send of a key: the same run
    assert len(runs(deployment_id)) == before + len(keys)  # no run lost, none twice
    new = Counter(k for k, a in zip(sends, answers, strict=True) if a.json()["duplicate"] is False)
    assert max(new.values()) == 1, new  # no key answered "a new run" twice


def with_defaults(name: str, parameters: dict[str, Any]) -> str:
    """Another deployment of the build-cube flow (schema enforced) with its own ``parameters``; its id."""
    from prefect.client.orchestration import get_client
    from prefect.utilities.callables import parameter_schema

    from flows.build_cube import build_cube

    async def create() -> str:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("build-cube")
            return str(
                await client.create_deployment(
                    flow_id=flow_id,
                    name=name,
                    parameters=parameters,
                    parameter_openapi_schema=parameter_schema(build_cube.fn).model_dump_for_openapi(),
                    enforce_parameter_schema=True,
                )
            )

    return asyncio.run(create())


PLACEHOLDER_TRUE = {"__prefect_kind": "json", "value": "true"}  # hydrated by the server, which then checks it
PLACEHOLDER_BAD = {"__prefect_kind": "json", "value": '"sometimes"'}


@pytest.mark.parametrize(
    ("case", "resume", "status"),
    [
        ("plain", True, 202),
        ("ill-typed", "sometimes", 422),
        ("placeholder", PLACEHOLDER_TRUE, 202),
        ("ill-typed-placeholder", PLACEHOLDER_BAD, 422),
    ],
)
def test_the_parameters_are_checked_as_the_server_checks_them(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, case: str, resume: Any, status: int
) -> None:
    """The run's parameters are the deployment's updated with the delivery's (the hook maps no spec: the
    deployment's completes them), refused when Prefect would refuse them: checked here with Prefect's own
    validator, or by the server when a parameter is a placeholder only it can resolve."""
    monkeypatch.setenv("ESDL_TEST_HOOK_SECRET", SECRET)
    deployment = with_defaults(f"hook-own-{case}", {"spec": "cubes/specs/own.yaml"})
    hook = {"deployment": f"build-cube/hook-own-{case}", "secret": {"env": "ESDL_TEST_HOOK_SECRET"}}
    app = FastAPI()
    app.include_router(hooks_router(HookService(config(own={**hook, "parameters": {"resume": "/resume"}}))))
    with TestClient(app) as c:
        r = deliver(c, json.dumps({"resume": resume}).encode(), name="own")
    assert r.status_code == status, r.text
    made = runs(deployment)
    if status == 422:
        assert "resume" in r.json()["message"] and not made
    else:
        assert [str(run.id) for run in made] == [r.json()["flow_run_id"]]
        assert made[0].parameters == {"spec": "cubes/specs/own.yaml", "resume": True}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no signature", 401, "signature"),
        ("malformed", 401, "signature"),
        ("wrong secret", 401, "signature"),
        ("stale", 401, "signature"),
        ("from the future", 401, "signature"),
        ("body changed", 401, "signature"),
        ("unknown hook", 404, "unknown-hook"),
        ("too large", 413, "too-large"),
        ("not JSON", 400, "request"),
        ("a JSON array", 400, "request"),
        ("missing field", 422, "parameters"),
        ("wrong type", 422, "parameters"),
        ("long idempotency key", 400, "request"),
    ],
)
def test_a_rejected_delivery_makes_no_run(
    client: TestClient, deployment_id: str, case: str, status: int, code: str
) -> None:
    good = body(spec=f"cubes/specs/{case}.yaml")
    secret = SECRET.encode()
    now = int(time.time())
    name, key = "landed", None
    sent, signature = good, sign(secret, good)
    if case == "no signature":
        signature = ""
    elif case == "malformed":
        signature = "v1=abc,t=soon"
    elif case == "wrong secret":
        signature = sign(b"not-the-secret", good)
    elif case == "stale":
        signature = sign(secret, good, now - 600)  # (well past the 300 s: the test takes time too)
    elif case == "from the future":
        signature = sign(secret, good, now + 600)
    elif case == "body changed":
        sent = good.replace(b"cubes", b"other")
    elif case == "unknown hook":
        name = "nope"
    elif case == "too large":
        sent = body(spec="x" * 5000)
        signature = sign(secret, sent)
    elif case == "not JSON":
        sent = b"spec=cubes/specs/demo.yaml"
        signature = sign(secret, sent)
    elif case == "a JSON array":
        sent = b"[1, 2]"
        signature = sign(secret, sent)
    elif case == "missing field":
        sent = json.dumps({"resume": True}).encode()
        signature = sign(secret, sent)
    elif case == "wrong type":
        sent = body(resume="sometimes")
        signature = sign(secret, sent)
    elif case == "long idempotency key":
        key = "k" * 201
    before = len(runs(deployment_id))
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Esdl-Signature"] = signature
    if key is not None:
        headers["Idempotency-Key"] = key
    r = client.post(f"/hooks/{name}", content=sent, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["message"]
    if case == "wrong type":
        assert "parameter resume" in r.json()["message"]  # the field's path
    if case == "missing field":
        assert "/spec" in r.json()["message"]
    assert len(runs(deployment_id)) == before


def test_the_orchestrator_unreachable_is_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from esdl_testing.servers import free_port

    monkeypatch.setenv("ESDL_TEST_HOOK_SECRET", SECRET)
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        app = FastAPI()
        app.include_router(hooks_router(HookService(config())))
        with TestClient(app) as c:
            r = deliver(c, body())
    assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
    assert int(r.headers["Retry-After"]) > 0


def test_a_deployment_not_registered_is_503(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv("ESDL_TEST_HOOK_SECRET", SECRET)
    cfg = config(other={"deployment": "build-cube/not-registered", "secret": {"env": "ESDL_TEST_HOOK_SECRET"}})
    app = FastAPI()
    app.include_router(hooks_router(HookService(cfg)))
    with TestClient(app) as c:
        r = deliver(c, body(), name="other")
    assert r.status_code == 503 and "not registered" in r.json()["message"]


def test_a_hook_without_its_secret_accepts_nothing(deployment_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESDL_TEST_HOOK_SECRET", raising=False)
    app = FastAPI()
    app.include_router(hooks_router(HookService(config())))
    with TestClient(app) as c:
        r = deliver(c, body())
    assert r.status_code == 503 and "secret" in r.json()["message"]


def test_a_delivery_signed_with_openssl_is_accepted(client: TestClient) -> None:
    payload = body(spec="cubes/specs/openssl.yaml")
    t = str(int(time.time()))
    digest = (
        subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", SECRET, "-r"],
            input=t.encode() + b"." + payload,
            capture_output=True,
            check=True,
        )
        .stdout.split()[0]
        .decode()
    )
    assert sign(SECRET.encode(), payload, int(t)) == f"t={t},v1={digest}"
    r = deliver(client, payload, signature=f"t={t},v1={digest}")
    assert r.status_code == 202, r.text


def test_signatures_verify_by_the_scheme() -> None:
    payload = b'{"a": 1}'
    now = 1_800_000_000
    good = sign(b"k", payload, now)
    assert verify(b"k", good, payload, 300, now=now + 300)
    assert verify(b"k", f"t={now},v1=00,v1={good.split('v1=')[1]}", payload, 300, now=now)  # a rotated secret
    for header in ("", "t=1", "v1=ab", f"t={now}", good.upper(), f"t=-{now},v1=ab"):
        with pytest.raises(Exception, match=r"X-Esdl-Signature|does not match"):
            verify(b"k", header, payload, 300, now=now)


def test_the_shipped_hooks_file_is_valid() -> None:
    shipped = load_hooks(Path(__file__).resolve().parents[2] / "deployments" / "hooks.yaml")
    assert shipped.hooks and all("/" in h.deployment for h in shipped.hooks.values())
    import yaml

    prefect = yaml.safe_load((Path(__file__).resolve().parents[2] / "deployments" / "prefect.yaml").read_text())
    # (a flow's name is its function's, with dashes: build_cube -> build-cube)
    registered = {f"{d['entrypoint'].split(':')[1].replace('_', '-')}/{d['name']}" for d in prefect["deployments"]}
    assert {h.deployment for h in shipped.hooks.values()} <= registered


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no hooks file"),
        ("hooks:\n  x: {deployment: nodash, secret: {env: S}}\n", "not a valid hooks file"),
        ("hooks:\n  x: {deployment: a/b, secret: {env: S, block: B}}\n", "exactly|env: VARIABLE"),
        ("hooks:\n  x: {deployment: a/b, secret: {env: S}, extra: 1}\n", "extra"),
    ],
)
def test_esdl_serve_refuses_a_bad_hooks_file_with_exit_2(tmp_path: Path, content: str | None, says: str) -> None:
    import re

    from esdl_testing.cli import run_esdl

    path = tmp_path / "hooks.yaml"
    if content is not None:
        path.write_text(content)
    done = run_esdl("serve", "--hooks", str(path), "--port", "0")
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(says, done.stdout + done.stderr), done.stdout + done.stderr


def test_an_orchestrator_that_does_not_answer_is_503_within_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Prefect API that accepts connections and never answers (an overloaded or hung server): Prefect's client
    would retry for a minute and more; the delivery is 503 at ``orchestrator_timeout_s``."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from esdl_testing.servers import silent_port

    monkeypatch.setenv("ESDL_TEST_HOOK_SECRET", SECRET)
    cfg = HooksConfig.model_validate({**config().model_dump(), "orchestrator_timeout_s": 1})
    with silent_port() as port, temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        app = FastAPI()
        app.include_router(hooks_router(HookService(cfg)))
        with TestClient(app) as c:
            start = time.monotonic()
            r = deliver(c, body())
            took = time.monotonic() - start
    assert r.status_code == 503 and "did not answer within 1 s" in r.json()["message"], r.text
    assert int(r.headers["Retry-After"]) > 0 and took < 10
