"""``esdl up``, ``esdl down``, ``esdl status``: the local stack (see :mod:`esdl.stack`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from esdl.cli.root import console, fail, guard, main
from esdl.prefectdb import BACKENDS, Backend

if TYPE_CHECKING:
    from esdl.stack import Stack

F = TypeVar("F", bound=Callable[..., Any])


def _stack(prefect_port: int, serve_port: int, prefect_db: Backend | None = None) -> Stack:
    from esdl.stack import Stack

    root = Path.cwd()
    if not (root / "deployments" / "prefect.yaml").is_file():
        fail(f"{root} is not an esdl project (no deployments/prefect.yaml): run esdl up from the project folder")
    home = Path(os.environ.get("ESDL_HOME", ".esdl")).absolute()
    return Stack(
        root,
        home,
        prefect_port,
        serve_port,
        say=lambda line: console.print(line, highlight=False),
        prefect_db=prefect_db,
    )


_ports = [
    click.option("--prefect-port", default=4200, show_default=True, type=click.IntRange(1, 65535)),
    click.option("--serve-port", default=8000, show_default=True, type=click.IntRange(1, 65535)),
]


def ports(func: F) -> F:
    for option in reversed(_ports):
        func = option(func)
    return func


@main.command("up")
@ports
@click.option(
    "--prefect-db",
    type=click.Choice(BACKENDS),
    default=None,
    help="the Prefect server's database: sqlite (in .esdl/prefect) or postgres (the database prefect of the "
    "project's PostgreSQL, with a role of its own)  [default: the one it last ran on, else sqlite]",
)
@guard
def up(prefect_port: int, serve_port: int, prefect_db: Backend | None) -> None:
    """Start the local stack: PostGIS, the Prefect server, the work pool and its deployments, the automations (a run
    whose process died is marked Crashed), the warm-start process the runs start from, a process worker and esdl
    serve (SPARQL endpoint and webhooks); write prefect.toml so that Prefect commands here use the server.
    Components already running are left as they are. Stop it with `esdl down`."""
    from esdl.stack import StackError

    stack = _stack(prefect_port, serve_port, prefect_db)
    try:
        stack.up()
    except StackError as err:
        fail(f"{err} (what this start started has been stopped)" if stack.started else str(err))
    if not stack.started:
        console.print("the stack was already up: nothing changed", highlight=False)
    console.print(f"Prefect UI (operations console): http://127.0.0.1:{prefect_port}", highlight=False)


@main.command("down")
@ports
@guard
def down(prefect_port: int, serve_port: int) -> None:
    """Stop every component of the local stack and remove prefect.toml."""
    stopped = _stack(prefect_port, serve_port).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running", highlight=False)


@main.command("status")
@ports
@guard
def status(prefect_port: int, serve_port: int) -> None:
    """Print each component of the local stack, whether it runs, and its address (JSON)."""
    click.echo(json.dumps(_stack(prefect_port, serve_port).status(), indent=1))
