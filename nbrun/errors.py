"""Domain errors of the notebook runner.

Every error :mod:`nbrun` raises on purpose derives from :class:`NotebookError`; the CLI and the flows translate
them at the boundary (exit code 2 for bad input, a failed run for a failed notebook).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbrun.results import CellFailure, NotebookRun


class NotebookError(Exception):
    """Base class of every error raised on purpose by :mod:`nbrun`."""


class NotebookNotFound(NotebookError):
    """No notebook of that name in the catalogue, and no notebook file at that path."""


class NotebookInvalid(NotebookError):
    """The file is not a notebook: not JSON, not nbformat 4, or catalogue metadata of the wrong shape."""


class ParameterError(NotebookError):
    """A parameter the notebook does not declare, or a value of the wrong type; the message names it."""


class KernelNotFound(NotebookError):
    """The named Jupyter kernel is not installed where this Python looks for kernels."""


class OutputExists(NotebookError):
    """The run's result location already holds a run: runs never overwrite one another."""


class NotebookFailed(NotebookError):
    """The notebook ran and failed: a cell raised, timed out, or the kernel died.

    Attributes:
        failure: Which cell, what was raised, and why the run stopped.
        run: The run as far as it went; its result notebook (the partial one) is kept.
    """

    def __init__(self, failure: CellFailure, run: NotebookRun) -> None:
        super().__init__(failure.describe())
        self.failure = failure
        self.run = run

    def __reduce__(self) -> tuple[type[NotebookFailed], tuple[CellFailure, NotebookRun]]:
        return type(self), (self.failure, self.run)  # pickled with both (Prefect keeps a failed task's exception)
