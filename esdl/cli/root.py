"""The root of the ``esdl`` command line: the group every command module registers with, and the shared helpers.

Errors the user can fix (a bad spec, an unreadable source, a cube that fails verification) print one line on
stderr and exit with code 2 (:func:`fail`); :func:`guard` translates the libraries' domain errors so.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from cubes.errors import CubeError
from nbrun.errors import NotebookError
from semantic.errors import SemanticError

console = Console(stderr=True)
"""Messages, progress and errors go to stderr; results go to stdout."""

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 2 (an error the user can fix)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    sys.exit(2)


def guard(func: F) -> F:
    """Translate the libraries' domain errors raised by a command into :func:`fail`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CubeError, SemanticError, NotebookError) as err:
            fail(str(err))

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="esdl")
def main() -> None:
    """esdl: Earth System Data Cubes and their knowledge graph."""
