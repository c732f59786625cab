"""The flows' results: typed, JSON-serialisable, and the one shape the CLI, the artifacts and callers read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class VariableSummary(BaseModel):
    """Summary statistics of one variable of a built cube (``None`` where it has no valid value)."""

    name: str
    units: str
    valid_fraction: float
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    best_time_index: int


class CatalogLoadResult(BaseModel):
    """What a ``load-catalog`` run wrote."""

    cube_id: int = Field(description="Id of the cube's row in the catalogue")
    zonal_stats: int = Field(description="Zonal statistics rows written")
    features: int = Field(description="Feature rows written")
    regions_imported: list[dict[str, Any]] = Field(description="Region sets imported from files, with counts")
    load_seconds: float = Field(description="Time of the load transaction")
    rows_per_s: float = Field(description="Rows written per second by the load transaction")
    scheduler: str | None = Field(description="Address of the Dask scheduler that ran the array work, if any")


class BuildResult(BaseModel):
    """What a ``build-cube`` run published."""

    path: str = Field(description="The published cube's versioned folder")
    output: str = Field(description="The output location (a link to ``path``)")
    regions: int = Field(description="Regions of the cube")
    written: int = Field(description="Regions written in this run (0: the cube was up to date)")
    variables: list[str] = Field(description="Variables of the cube")
    stats: list[VariableSummary] = Field(description="Per-variable statistics (empty when nothing was built)")
    scheduler: str | None = Field(description="Address of the Dask scheduler that ran the array work, if any")
    catalog: CatalogLoadResult | None = Field(default=None, description="The catalogue load, when one was asked")


RESULT_ARTIFACT = "esdl-result"
"""The type of the artifact a deployment's run records its typed result as (served by OGC API - Processes as the
job's results, :mod:`esdl.api.processes`)."""


def _deployed_run() -> Any:
    """The flow run of the current context when it is a deployment's run (a job), else ``None``."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    return run if run is not None and run.deployment_id is not None else None


def record_result(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_completion`` hook of the flows served as processes: a deployment's run records its typed result as
    an ``esdl-result`` artifact (JSON), the job's results. Runs made outside a deployment record nothing."""
    if flow_run.deployment_id is None:
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from pydantic_core import to_jsonable_python

    data = to_jsonable_python(state.result(raise_on_failure=False), fallback=str)
    with get_client(sync_client=True) as client:
        client.create_artifact(
            ArtifactCreate(
                type=RESULT_ARTIFACT,
                data=data,
                flow_run_id=flow_run.id,
                description="the run's typed result (its job's results in OGC API - Processes)",
            )
        )


class Progress:
    """A deployment's run's progress (0-100), as Prefect's progress artifact (the UI shows it; so does the job's
    status in OGC API - Processes). Runs made outside a deployment report nothing (no API calls)."""

    def __init__(self, total: int, description: str) -> None:
        from prefect.artifacts import create_progress_artifact

        self.total, self.done = max(1, total), 0
        self.id: Any = None  # (a UUID: sync callers get the value, not a coroutine)
        if _deployed_run() is not None:
            self.id = create_progress_artifact(0.0, description=description)

    def advance(self, count: int, share: float = 95.0) -> None:
        """``count`` more of the total done; the total is ``share`` percent (the rest: what follows it)."""
        from prefect.artifacts import update_progress_artifact

        self.done += count
        if self.id is not None:
            update_progress_artifact(self.id, min(share, share * self.done / self.total))

    def finish(self) -> None:
        """All done: 100."""
        from prefect.artifacts import update_progress_artifact

        if self.id is not None:
            update_progress_artifact(self.id, 100.0)
