"""The hooks' service (:class:`HookService`: a delivery checked, its run created once, its event emitted) and
its router."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from esdl.api.errors import PayloadTooLarge, error_response
from esdl.api.hooks.config import Hook, HooksConfig
from esdl.api.hooks.delivery import HookError, check_parameters, checkable, parameter_validator, parameters_of
from esdl.api.hooks.signature import SIGNATURE_HEADER, verify
from esdl.api.http import read_body
from esdl.api.metrics import WEBHOOK_DELIVERIES
from esdl.orchestrator import LazyClient, http_detail, ui_url

LOG = logging.getLogger("esdl.api.hooks")
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT = "esdl.webhook.accepted"
CACHE_S = 30.0  # a deployment's id and parameter schema, and a secret, are read again after this long


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
        self._prefect = LazyClient()
        self._reading: dict[str, asyncio.Lock] = {}
        # the creation of a run under way, by idempotency key: a delivery of the same key meanwhile waits for it
        self._creating: dict[str, asyncio.Task[tuple[Any, int]]] = {}

    async def client(self) -> Any:
        return await self._prefect.get()

    async def close(self) -> None:
        await self._prefect.close()

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
        checked = checkable(deployment.validator, every)
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


def hook_operation() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /hooks/{name}``: the signature header, the JSON body, the answers."""
    from esdl.api.openapi import error_answer as error

    run = {
        "type": "object",
        "required": ["flow_run_id", "flow_run_name", "state", "duplicate"],
        "properties": {
            "flow_run_id": {"type": "string"},
            "flow_run_name": {"type": "string"},
            "url": {"type": ["string", "null"]},
            "state": {"type": ["string", "null"]},
            "duplicate": {"type": "boolean"},
        },
    }
    return {
        "parameters": [
            {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": IDEMPOTENCY_HEADER, "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "202": {
                "description": "the run (a new one, or the one of the key)",
                "content": {"application/json": {"schema": run}},
            },
            "400": error("request: the body is not a JSON object"),
            "401": error("signature: missing, malformed, stale or wrong"),
            "404": error("unknown-hook"),
            "413": error("too-large"),
            "422": error("parameters: a pointer the body lacks, or parameters the deployment's schema refuses"),
            "503": error("unavailable: the orchestrator, or the hook's secret; Retry-After"),
        },
    }


def hooks_router(service: HookService) -> APIRouter:
    """``POST /hooks/{name}`` over ``service``."""
    router = APIRouter()

    @router.post(
        "/hooks/{name}",
        status_code=202,
        summary="Start a deployment's run from a signed delivery (HMAC-SHA256, X-Esdl-Signature)",
        openapi_extra=hook_operation(),
    )
    async def deliver(name: str, request: Request) -> JSONResponse:
        try:
            answer = await service.deliver(name, request)
        except HookError as err:
            answer = error_response(err)
        hook = name if name in service.config.hooks else "unknown"
        WEBHOOK_DELIVERIES.labels(hook=hook, status=str(answer.status_code)).inc()
        return answer

    return router
