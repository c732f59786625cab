"""Signed webhooks: ``POST /hooks/{name}`` starts a run of a Prefect deployment.

Open-source Prefect has no webhooks (they are a Prefect Cloud feature); these are ours. Hooks are declared in a
YAML file (:class:`HooksConfig`; ``deployments/hooks.yaml``): each names a deployment, how the JSON body maps to
its parameters (JSON pointers), and where its secret is (an environment variable or a Prefect Secret block;
never in the file).

A delivery carries ``X-Esdl-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is HMAC-SHA256 with the hook's
secret over ``t + "." + the raw body`` (the scheme of Stripe's webhooks; several ``v1`` are allowed, for a
secret being rotated), compared in constant time and refused when ``t`` is more than ``tolerance_s`` (300) away
from the server's clock. Sign one by hand::

    t=$(date +%s); body='{"spec": "cubes/specs/demo.yaml"}'
    sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
    curl -H "X-Esdl-Signature: t=$t,v1=$sig" -H "Idempotency-Key: delivery-42" \\
         -H "Content-Type: application/json" --data "$body" http://127.0.0.1:8000/hooks/cube-input-landed

The ``Idempotency-Key`` header becomes the flow run's idempotency key (scoped by hook): a retried delivery gets
the run the first one made. Without the header the signature is the key, so a replayed request (same ``t``,
same body) makes no second run either. Deliveries of a key that arrive while its run is being created wait for
that creation (one request to Prefect) and answer its run as a duplicate.

The run's parameters (the deployment's own, updated with the delivery's) are checked here, with the validator
Prefect's server uses for a deployment that enforces its schema, read with the deployment (every
:data:`CACHE_S`); the run is then created with ``enforce_parameter_schema: false``, so that the server does not
check them a second time (that check is half of the server's CPU time for a run). Parameters holding a Prefect
placeholder (``__prefect_kind``), which only the server resolves, are left to the server's check.

Answers: 202 ``{"flow_run_id", "flow_run_name", "url", "state", "duplicate"}``; 400 ``request`` (a body that
is not a JSON object); 401 ``signature`` (missing, malformed, stale or wrong); 404 ``unknown-hook``; 413
``too-large``; 422 ``parameters`` (a pointer the body lacks, or parameters that fail the deployment's own
parameter schema: the field's path is in the message); 503 ``unavailable`` with ``Retry-After`` (the Prefect API
cannot be reached, or the deployment is not registered). No flow run is created for any rejected request. Each
accepted delivery emits the Prefect event ``esdl.webhook.accepted`` (the UI's event feed), related to its run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from esdl.api.errors import PayloadTooLarge
from esdl.api.http import read_body
from esdl.orchestrator import http_detail, ui_url

LOG = logging.getLogger("esdl.api.hooks")
SIGNATURE_HEADER = "X-Esdl-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT = "esdl.webhook.accepted"
CACHE_S = 30.0  # a deployment's id and parameter schema, and a secret, are read again after this long


class Secret(BaseModel):
    """Where a hook's secret is: an environment variable or a Prefect Secret block (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    env: str | None = None
    block: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Secret:
        if (self.env is None) == (self.block is None):
            raise ValueError("a hook's secret is `env: VARIABLE` or `block: NAME` (a Prefect Secret block)")
        return self


class Hook(BaseModel):
    """One hook: the deployment (``flow-name/deployment-name``) a delivery runs, the parameters from the body
    (name -> JSON pointer, ``""`` the whole body), fixed parameters, and the secret."""

    model_config = ConfigDict(extra="forbid")
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$")
    secret: Secret
    parameters: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    description: str = ""


class HooksConfig(BaseModel):
    """The hooks file."""

    model_config = ConfigDict(extra="forbid")
    tolerance_s: float = Field(default=300, gt=0)
    max_body_bytes: int = Field(default=65536, ge=64)
    # the longest a delivery waits for the Prefect API (its client retries a busy server for a minute and more)
    orchestrator_timeout_s: float = Field(default=10, gt=0)
    hooks: dict[str, Hook] = Field(default_factory=dict)


def load_hooks(path: Path) -> HooksConfig:
    """The hooks declared in ``path`` (YAML).

    Raises:
        ValueError: Not a valid hooks file (the message names the field).
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return HooksConfig.model_validate(data)


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Esdl-Signature`` value of ``body`` (for senders and tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class HookError(Exception):
    """A delivery refused: the HTTP status, the JSON ``error`` code and the message."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return JSONResponse({"error": self.code, "message": str(self)}, status_code=self.status, headers=headers)


def verify(secret: bytes, header: str | None, body: bytes, tolerance_s: float, now: float | None = None) -> str:
    """Check a delivery's signature header; the matching ``v1`` digest.

    Raises:
        HookError: 401 ``signature``: missing, malformed, outside the tolerance, or no ``v1`` matches.
    """
    if not header:
        raise HookError(401, "signature", f"no {SIGNATURE_HEADER} header")
    t: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            t = int(value)
        elif key == "v1" and value:
            digests.append(value.lower())
    if t is None or not digests:
        raise HookError(401, "signature", f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256>")
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        raise HookError(401, "signature", f"the signature's timestamp is more than {tolerance_s:g} s from now")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    for digest in digests:  # every one compared, in constant time each
        if hmac.compare_digest(expected, digest):
            return digest
    raise HookError(401, "signature", "the signature does not match")


_MISSING = object()


def pointer(document: Any, path: str) -> Any:
    """The value at JSON pointer ``path`` (RFC 6901) in ``document``, or a marker when absent."""
    if path == "":
        return document
    if not path.startswith("/"):
        return _MISSING
    node = document
    for raw in path[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def parameters_of(hook: Hook, body: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters: the hook's fixed ones, and those its pointers find in the body.

    Raises:
        HookError: 422 ``parameters``: a pointer the body lacks.
    """
    out = dict(hook.defaults)
    for name, path in hook.parameters.items():
        value = pointer(body, path)
        if value is _MISSING:
            raise HookError(422, "parameters", f"the body has nothing at {path!r} (parameter {name!r})")
        out[name] = value
    return out


def parameter_validator(schema: Any) -> Any | None:
    """The validator Prefect's server checks a deployment's runs with (its preprocessed schema, its validator
    class, no format assertions), built once; ``None`` when the schema is not one (the server then checks).

    Checked with it here, a delivery's run is created with ``enforce_parameter_schema: false``: the server does not
    check the same parameters again (that check costs it about half of its CPU time for a run).
    """
    if not isinstance(schema, dict):
        return None
    from jsonschema.exceptions import SchemaError
    from prefect.utilities.schema_tools.validation import _VALIDATOR, non_fetching_registry, preprocess_schema

    prepared = preprocess_schema(schema)
    try:
        _VALIDATOR.check_schema(prepared)
    except SchemaError:
        return None
    return _VALIDATOR(prepared, registry=non_fetching_registry())


def check_parameters(validator: Any, parameters: dict[str, Any]) -> None:
    """Validate a run's ``parameters`` (the deployment's own updated with the delivery's) with ``validator``.

    Raises:
        HookError: 422 ``parameters`` naming the first failing field's path.
    """
    errors = sorted(validator.iter_errors(parameters), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the parameters)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise HookError(422, "parameters", f"parameter {where}: {first.message[:300]}{more}")


def _placeholders(value: Any) -> bool:
    """Whether ``value`` holds a Prefect hydration placeholder (``__prefect_kind``: a variable, a template...),
    which only the server can resolve before it checks the parameters."""
    if isinstance(value, dict):
        return "__prefect_kind" in value or any(_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(_placeholders(v) for v in value)
    return False


@dataclass
class _Deployment:
    id: Any
    validator: Any | None  # None: the deployment does not enforce its schema, or the server checks it
    parameters: dict[str, Any]  # the deployment's own, which a run's update
    read_at: float


class HookService:
    """The hooks of a config, with a Prefect client (its API URL from Prefect's settings) and caches of each
    deployment's id and schema and each secret (:data:`CACHE_S`)."""

    def __init__(self, config: HooksConfig) -> None:
        self.config = config
        self._deployments: dict[str, _Deployment] = {}
        self._secrets: dict[str, tuple[bytes, float]] = {}
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._reading: dict[str, asyncio.Lock] = {}
        # the creation of a run under way, by idempotency key: a delivery of the same key meanwhile waits for it
        self._creating: dict[str, asyncio.Task[tuple[Any, int]]] = {}

    async def client(self) -> Any:
        async with self._lock:
            if self._client is None:
                from prefect.client.orchestration import get_client

                client = get_client()
                await client.__aenter__()
                self._client = client
            return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None

    async def secret(self, name: str, hook: Hook) -> bytes:
        hit = self._secrets.get(name)
        if hit is not None and time.monotonic() - hit[1] < CACHE_S:
            return hit[0]
        if hook.secret.env is not None:
            value = os.environ.get(hook.secret.env)
            if not value:
                LOG.error("hook %s: its secret variable %s is not set", name, hook.secret.env)
                raise HookError(503, "unavailable", f"hook {name!r} has no secret configured", retry_after=60)
        else:
            from prefect.blocks.system import Secret as SecretBlock

            try:
                block: Any = await SecretBlock.aload(str(hook.secret.block))
            except ValueError:
                LOG.error("hook %s: no Prefect Secret block %r", name, hook.secret.block)
                raise HookError(503, "unavailable", f"hook {name!r} has no secret configured", retry_after=60) from None
            value = block.get()
        secret = str(value).encode()
        self._secrets[name] = (secret, time.monotonic())
        return secret

    async def deployment(self, hook: Hook) -> _Deployment:
        hit = self._deployments.get(hook.deployment)
        if hit is not None and time.monotonic() - hit.read_at < CACHE_S:
            return hit
        lock = self._reading.setdefault(hook.deployment, asyncio.Lock())
        async with lock:  # one read for the deliveries that find it stale together
            hit = self._deployments.get(hook.deployment)
            if hit is not None and time.monotonic() - hit.read_at < CACHE_S:
                return hit
            from prefect.exceptions import ObjectNotFound

            client = await self.client()
            try:
                found = await client.read_deployment_by_name(hook.deployment)
            except ObjectNotFound:
                raise HookError(
                    503, "unavailable", f"the deployment {hook.deployment} is not registered", retry_after=30
                ) from None
            enforced = found.enforce_parameter_schema is not False
            validator = parameter_validator(found.parameter_openapi_schema) if enforced else None
            entry = _Deployment(found.id, validator, dict(found.parameters or {}), time.monotonic())
            self._deployments[hook.deployment] = entry
            return entry

    async def deliver(self, name: str, request: Request) -> JSONResponse:
        """Check and run one delivery (see the module's text)."""
        hook = self.config.hooks.get(name)
        if hook is None:
            raise HookError(404, "unknown-hook", f"no hook named {name!r}")
        try:
            body = await read_body(request, self.config.max_body_bytes)
        except PayloadTooLarge:
            raise HookError(413, "too-large", f"the body is over {self.config.max_body_bytes} bytes") from None
        secret = await self._bounded(name, self.secret(name, hook))
        digest = verify(secret, request.headers.get(SIGNATURE_HEADER), body, self.config.tolerance_s)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise HookError(400, "request", f"the body is not JSON: {err}") from None
        if not isinstance(payload, dict):
            raise HookError(400, "request", "the body must be a JSON object")
        parameters = parameters_of(hook, payload)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not (0 < len(key) <= 200):
            raise HookError(400, "request", f"{IDEMPOTENCY_HEADER} must be 1 to 200 characters")
        idempotency = f"hook:{name}:" + (f"key:{key}" if key is not None else f"sig:{digest}")
        return await self._bounded(name, self._run(name, hook, parameters, idempotency))

    async def _bounded(self, name: str, work: Any) -> Any:
        """``work`` (a call to the Prefect API), within ``orchestrator_timeout_s``; past it, 503 ``unavailable``."""
        limit = self.config.orchestrator_timeout_s
        try:
            return await asyncio.wait_for(work, limit)
        except TimeoutError:
            # (a run may still be created: a retry with the same key, or the same signed request, gets it)
            LOG.warning("hook %s: the Prefect API did not answer within %g s", name, limit)
            raise HookError(
                503, "unavailable", f"the orchestrator did not answer within {limit:g} s", retry_after=10
            ) from None

    async def _run(self, name: str, hook: Hook, parameters: dict[str, Any], idempotency: str) -> JSONResponse:
        """Check the parameters here, then create the run, or wait for the creation under way for the same key."""
        deployment = await self._orchestrator(name, self.deployment(hook))
        every = {**deployment.parameters, **parameters}  # what the server checks: the deployment's, updated
        checked = deployment.validator is not None and not _placeholders(every)
        if checked:
            check_parameters(deployment.validator, every)
        creating = self._creating.get(idempotency)
        joined = creating is not None
        if creating is None:
            creating = asyncio.ensure_future(self._create(name, hook, deployment.id, parameters, idempotency, checked))
            self._creating[idempotency] = creating
            creating.add_done_callback(lambda done: self._created(idempotency, done))
        # (shielded: a delivery that stops waiting leaves the creation to finish for the others and for retries)
        run, status = await asyncio.shield(creating)
        return JSONResponse(
            {
                "flow_run_id": str(run.id),
                "flow_run_name": run.name,
                "url": ui_url(run.id),
                "state": run.state.type.value if run.state is not None else None,
                "duplicate": joined or status != 201,
            },
            status_code=202,
        )

    def _created(self, idempotency: str, done: asyncio.Task[tuple[Any, int]]) -> None:
        if self._creating.get(idempotency) is done:
            del self._creating[idempotency]
        if not done.cancelled():
            done.exception()  # (retrieved: every delivery waiting for it may have stopped waiting)

    async def _create(
        self, name: str, hook: Hook, deployment_id: Any, parameters: dict[str, Any], idempotency: str, checked: bool
    ) -> tuple[Any, int]:
        """Create the run (or find the one of its key): the run and the API's status (201 new, 200 found); a new
        run's event emitted."""
        from prefect.client.schemas.actions import DeploymentFlowRunCreate
        from prefect.client.schemas.objects import FlowRun
        from prefect.states import Scheduled, to_state_create

        create = DeploymentFlowRunCreate(
            parameters=parameters,
            state=to_state_create(Scheduled()),
            tags=["webhook", f"hook:{name}", *hook.tags],
            idempotency_key=idempotency,
        )
        if checked:  # checked above with the server's own validator: not again there
            create.enforce_parameter_schema = False
        client = await self.client()
        # the API's own route, as the client's create_flow_run_from_deployment calls it, for its status:
        # 201 a new run, 200 the run an earlier delivery with the same key made
        response = await self._orchestrator(
            name,
            client.request(
                "POST",
                "/deployments/{id}/create_flow_run",
                path_params={"id": deployment_id},
                json=create.model_dump(mode="json", exclude_unset=True),
            ),
        )
        run = FlowRun.model_validate(response.json())
        if response.status_code == 201:
            _emit(name, hook, run, idempotency)
        return run, response.status_code

    async def _orchestrator(self, name: str, call: Any) -> Any:
        """``call`` to the Prefect API, its failures as the answers of a delivery."""
        import httpx
        from prefect.exceptions import PrefectHTTPStatusError

        try:
            return await call
        except (httpx.TransportError, OSError) as err:
            LOG.warning("hook %s: the Prefect API cannot be reached: %s", name, err)
            raise HookError(503, "unavailable", "the orchestrator cannot be reached", retry_after=10) from None
        except PrefectHTTPStatusError as err:
            status = err.response.status_code
            if status >= 500:
                raise HookError(503, "unavailable", "the orchestrator failed; try again", retry_after=10) from None
            if status in (409, 422):  # the server's own parameter check
                raise HookError(422, "parameters", http_detail(err)) from None
            raise


def _emit(name: str, hook: Hook, run: Any, idempotency: str) -> None:
    from prefect.events import emit_event

    try:
        emit_event(
            EVENT,
            resource={"prefect.resource.id": f"esdl.webhook.{name}", "prefect.resource.name": name},
            related=[
                {
                    "prefect.resource.id": f"prefect.flow-run.{run.id}",
                    "prefect.resource.role": "flow-run",
                    "prefect.resource.name": run.name,
                }
            ],
            payload={"deployment": hook.deployment, "idempotency_key": idempotency},
        )
    except Exception:  # an event lost is logged; the run stands
        LOG.exception("hook %s: the event of run %s could not be emitted", name, run.id)


def hooks_router(service: HookService) -> APIRouter:
    """``POST /hooks/{name}`` over ``service``."""
    router = APIRouter()

    @router.post(
        "/hooks/{name}",
        status_code=202,
        summary="Start a deployment's run from a signed delivery (HMAC-SHA256, X-Esdl-Signature)",
    )
    async def deliver(name: str, request: Request) -> JSONResponse:
        try:
            return await service.deliver(name, request)
        except HookError as err:
            return err.response()

    return router


__all__ = [
    "EVENT",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "Hook",
    "HookError",
    "HookService",
    "HooksConfig",
    "hooks_router",
    "load_hooks",
    "sign",
    "verify",
]
