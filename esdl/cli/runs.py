"""Runs of deployments from the command line: submit one, print where the UI shows it, follow it to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import click

from esdl.cli.root import console, fail
from esdl.orchestrator import http_detail, ui_url

POLL_S = 1.0
F = TypeVar("F", bound=Callable[..., Any])


def submit_options(deployment: str, what: str = "run") -> Callable[[F], F]:
    """The ``--submit``, ``--deployment`` and ``--watch`` options of a command that can hand its run to a worker."""

    def decorate(command: F) -> F:
        for option in reversed(
            [
                click.option("--submit", is_flag=True, help=f"Send the {what} to a deployment's worker instead."),
                click.option(
                    "--deployment", default=deployment, show_default=True, help="With --submit: the deployment to run."
                ),
                click.option(
                    "--watch", is_flag=True, help="With --submit: follow the run's state and logs to its end."
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


def submit_run(deployment: str, parameters: dict[str, Any], watch: bool) -> int:
    """Create a run of ``deployment`` with ``parameters``; print its name, id and UI address; with ``watch``,
    print its state changes and logs until it ends. The exit code: 0 when submitted (or, watched, Completed),
    1 when the watched run ended otherwise."""
    return asyncio.run(_submit(deployment, parameters, watch))


async def _submit(deployment: str, parameters: dict[str, Any], watch: bool) -> int:
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        fail("no Prefect server configured (PREFECT_API_URL); start one with `make server-start`")
    async with get_client() as client:
        try:
            found = await client.read_deployment_by_name(deployment)
            run = await client.create_flow_run_from_deployment(found.id, parameters=parameters, tags=["cli"])
        except ObjectNotFound:
            fail(f"no deployment {deployment} on {api}; register them with `make deployments`")
        except (httpx.TransportError, OSError):
            fail(f"no Prefect server answers at {api}; start one with `make server-start`")
        except PrefectHTTPStatusError as err:
            if err.response.status_code in (409, 422):
                fail(f"{deployment} refused the parameters: {http_detail(err)}")
            raise
        console.print(f"submitted [bold]{run.name}[/] ({run.id}) to {deployment}", highlight=False)
        url = ui_url(run.id)
        if url:
            console.print(f"follow it at {url}", highlight=False, soft_wrap=True)
        if not watch:
            return 0
        return await _watch(client, run.id)


async def _watch(client: Any, run_id: Any) -> int:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterTimestamp
    from prefect.client.schemas.sorting import LogSort

    shown_state = None
    after = None
    while True:
        run = await client.read_flow_run(run_id)
        logs = await client.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[run_id]),
                timestamp=LogFilterTimestamp(after_=after) if after is not None else None,
            ),
            sort=LogSort.TIMESTAMP_ASC,
        )
        for log in logs:
            if after is not None and log.timestamp <= after:
                continue
            console.print(f"  {log.timestamp:%H:%M:%S} {log.message}", highlight=False, markup=False, soft_wrap=True)
            after = log.timestamp
        state = run.state
        if state is not None and state.name != shown_state:
            shown_state = state.name
            console.print(f"state: [bold]{state.name}[/]", highlight=False)
        if state is not None and state.is_final():
            return 0 if state.is_completed() else 1
        await asyncio.sleep(POLL_S)


__all__ = ["submit_options", "submit_run"]
