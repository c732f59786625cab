"""The processes' side of Prefect (:class:`ProcessService`): deployments as processes, flow runs as jobs.

A process is a deployment: its id is the deployment's name (``flow-name.deployment-name`` where two flows have
deployments of one name), its inputs the deployment's parameter schema, its defaults the deployment's parameters.
A job is a flow run of one of those deployments, whoever started it (an execute request, the UI, a schedule, a
webhook): its id is the flow run's id. Every call to the Prefect API is bounded by ``orchestrator_timeout_s``; an
API that cannot be reached, fails or does not answer in time makes the request answer 503 ``unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from esdl.api.errors import NoSuchJob, NoSuchProcess, Unavailable
from esdl.api.hooks.delivery import parameter_validator
from esdl.api.processes.settings import ProcessesSettings
from esdl.orchestrator import LazyClient

LOG = logging.getLogger("esdl.api.processes")
PREFECT_PAGE = 200  # the most flow runs Prefect's API answers in one call (its default PREFECT_API_DEFAULT_LIMIT)
RESULT_ARTIFACT = "esdl-result"  # the artifact type a flow run's typed result is recorded as (flows.results)


@dataclass(frozen=True)
class Process:
    """A deployment served as a process."""

    id: str
    deployment_id: uuid.UUID
    deployment: str
    flow: str
    description: str
    version: str
    schema: dict[str, Any]  # the deployment's parameter schema (OpenAPI/JSON Schema, with its definitions)
    defaults: dict[str, Any]  # the deployment's own parameters, which a run's update
    validator: Any | None  # the server's validator for the schema; None: the server checks (or nothing does)


@dataclass(frozen=True)
class JobQuery:
    """The filters and page of ``GET /jobs``."""

    process_ids: list[str] | None = None
    states: list[str] | None = None  # Prefect state types
    created_after: Any = None
    created_before: Any = None
    limit: int = 10
    offset: int = 0


class ProcessService:
    """The Prefect client of the processes' routes, with the deployments kept for ``cache_s``."""

    def __init__(self, settings: ProcessesSettings | None = None) -> None:
        self.settings = settings or ProcessesSettings()
        self._prefect = LazyClient()
        self._processes: dict[str, Process] = {}
        self._by_deployment: dict[uuid.UUID, Process] = {}
        self._read_at = -1e9
        self._reading = asyncio.Lock()

    async def client(self) -> Any:
        return await self._prefect.get()

    async def close(self) -> None:
        await self._prefect.close()

    async def call(self, work: Any) -> Any:
        """``work`` (a call to the Prefect API), its failures as 503 ``unavailable``."""
        import httpx
        from prefect.exceptions import PrefectHTTPStatusError

        limit = self.settings.orchestrator_timeout_s
        try:
            return await asyncio.wait_for(work, limit)
        except TimeoutError:
            LOG.warning("the Prefect API did not answer within %g s", limit)
            raise Unavailable(f"the orchestrator did not answer within {limit:g} s") from None
        except (httpx.TransportError, OSError) as err:
            LOG.warning("the Prefect API cannot be reached: %s", err)
            raise Unavailable("the orchestrator cannot be reached") from None
        except PrefectHTTPStatusError as err:
            if err.response.status_code >= 500:
                raise Unavailable("the orchestrator failed; try again") from None
            raise

    async def processes(self) -> dict[str, Process]:
        """The processes by id (the deployments, read again every ``cache_s``)."""
        if time.monotonic() - self._read_at < self.settings.cache_s:
            return self._processes
        async with self._reading:  # one read for the requests that find the list stale together
            if time.monotonic() - self._read_at < self.settings.cache_s:
                return self._processes
            client = await self.client()
            deployments = await self._all(client.read_deployments)
            flows = {f.id: f.name for f in await self._all(client.read_flows)}
            return self._keep(deployments, flows)

    async def _all(self, read: Any) -> list[Any]:
        """Every object a paged read of the API returns (``read(limit=, offset=)``)."""
        found: list[Any] = []
        while True:
            page = await self.call(read(limit=PREFECT_PAGE, offset=len(found)))
            found += page
            if len(page) < PREFECT_PAGE:
                return found

    def _keep(self, deployments: list[Any], flows: dict[Any, str]) -> dict[str, Process]:
        names: dict[str, int] = {}
        for d in deployments:
            names[d.name] = names.get(d.name, 0) + 1
        found: dict[str, Process] = {}
        for d in deployments:
            flow = flows.get(d.flow_id, "unknown")
            pid = d.name if names[d.name] == 1 else f"{flow}.{d.name}"
            schema = dict(d.parameter_openapi_schema or {"type": "object", "properties": {}})
            enforced = d.enforce_parameter_schema is not False
            found[pid] = Process(
                id=pid,
                deployment_id=d.id,
                deployment=d.name,
                flow=flow,
                description=(d.description or "").strip(),
                version=d.version or (d.updated.strftime("%Y%m%dT%H%M%SZ") if d.updated else "1"),
                schema=schema,
                defaults=dict(d.parameters or {}),
                validator=parameter_validator(schema) if enforced else None,
            )
        self._processes = found
        self._by_deployment = {p.deployment_id: p for p in found.values()}
        self._read_at = time.monotonic()
        return found

    async def process(self, process_id: str) -> Process:
        """The process ``process_id``.

        Raises:
            NoSuchProcess: No deployment is served under that id.
        """
        found = (await self.processes()).get(process_id)
        if found is None:
            raise NoSuchProcess(f"no process {process_id!r} (GET /processes lists them)")
        return found

    async def of_run(self, run: Any) -> Process | None:
        """The process a flow run is a job of (``None``: none served)."""
        if run.deployment_id is None:
            return None
        await self.processes()
        found = self._by_deployment.get(run.deployment_id)
        if found is None:  # a deployment made since the last read
            self._read_at = -1e9
            await self.processes()
            found = self._by_deployment.get(run.deployment_id)
        return found

    async def execute(
        self, process: Process, parameters: dict[str, Any], checked: bool, idempotency_key: str | None = None
    ) -> tuple[Any, bool]:
        """Create the job: a flow run of the process's deployment with ``parameters`` (``checked``: by the caller
        with :attr:`Process.validator`, so not again by the server). The run, and whether it is new (``False``: the
        run an earlier request with the same idempotency key made)."""
        from prefect.client.schemas.actions import DeploymentFlowRunCreate
        from prefect.client.schemas.objects import FlowRun
        from prefect.states import Scheduled, to_state_create

        create = DeploymentFlowRunCreate(
            parameters=parameters,
            state=to_state_create(Scheduled()),
            tags=[self.settings.job_tag, f"process:{process.id}"],
            idempotency_key=f"ogc:{process.id}:{idempotency_key}" if idempotency_key else None,
        )
        if checked:
            create.enforce_parameter_schema = False
        client = await self.client()
        response = await self.call(
            client.request(
                "POST",
                "/deployments/{id}/create_flow_run",
                path_params={"id": process.deployment_id},
                json=create.model_dump(mode="json", exclude_unset=True),
            )
        )
        return FlowRun.model_validate(response.json()), response.status_code == 201

    async def job(self, job_id: str) -> tuple[Any, Process]:
        """The flow run ``job_id`` and its process.

        Raises:
            NoSuchJob: No flow run of that id, or one that is not a run of a served deployment.
        """
        from prefect.exceptions import ObjectNotFound

        try:
            run_id = uuid.UUID(job_id)
        except ValueError:
            raise NoSuchJob(f"no job {job_id!r}") from None
        client = await self.client()
        try:
            run = await self.call(client.read_flow_run(run_id))
        except ObjectNotFound:
            raise NoSuchJob(f"no job {job_id!r}") from None
        process = await self.of_run(run)
        if process is None:
            raise NoSuchJob(f"no job {job_id!r} (flow run {job_id} is not a run of a served process)")
        return run, process

    async def jobs(self, query: JobQuery) -> list[tuple[Any, Process]]:
        """The jobs that match ``query``, newest first, one page (``limit`` from ``offset``)."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        processes = await self.processes()
        chosen = [processes[p] for p in (query.process_ids or processes) if p in processes]
        if not chosen:
            return []
        run_filter = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in query.states]))
            if query.states
            else None,
            expected_start_time=FlowRunFilterExpectedStartTime(after_=query.created_after, before_=query.created_before)
            if query.created_after is not None or query.created_before is not None
            else None,
        )
        client = await self.client()
        runs: list[Any] = []
        while len(runs) < query.limit:  # (in pages: the API answers at most PREFECT_PAGE runs a call)
            asked = min(PREFECT_PAGE, query.limit - len(runs))
            page = await self.call(
                client.read_flow_runs(
                    flow_run_filter=run_filter,
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[p.deployment_id for p in chosen])),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=asked,
                    offset=query.offset + len(runs),
                )
            )
            runs += page
            if len(page) < asked:
                break
        known = self._by_deployment
        return [(run, known[run.deployment_id]) for run in runs if run.deployment_id in known]

    async def dismiss(self, run: Any) -> Any:
        """Cancel a job: a run not started yet ends Cancelled at once, a running one goes Cancelling (its worker
        stops it, and it ends Cancelled). A finished run is left as it is. The run as it is now."""
        from prefect.client.schemas.objects import StateType
        from prefect.states import Cancelled, Cancelling

        kind = run.state.type if run.state is not None else None
        if kind in (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
            return run
        state: Any = Cancelling() if kind in (StateType.RUNNING, StateType.CANCELLING) else Cancelled()
        client = await self.client()
        if kind != StateType.CANCELLING:
            await self.call(client.set_flow_run_state(run.id, state, force=True))
        return await self.call(client.read_flow_run(run.id))

    async def recorded(self, run: Any) -> tuple[Any, float | None]:
        """The run's recorded result (the ``esdl-result`` artifact's data; ``None`` when none was recorded) and its
        latest progress (0-100; ``None`` when the flow reports none)."""
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
        from prefect.client.schemas.sorting import ArtifactSort

        client = await self.client()
        artifacts = await self.call(
            client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])),
                sort=ArtifactSort.CREATED_DESC,
            )
        )
        result = next((a.data for a in artifacts if a.type == RESULT_ARTIFACT), None)
        progress = next((a.data for a in artifacts if a.type == "progress"), None)
        return result, float(progress) if isinstance(progress, int | float) else None


__all__ = ["RESULT_ARTIFACT", "JobQuery", "Process", "ProcessService"]
