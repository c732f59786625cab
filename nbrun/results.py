"""What a notebook run produced: typed, JSON-serialisable, the one shape the flows, the CLI and callers read."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

FailureKind = Literal["error", "cell-timeout", "run-timeout", "kernel-died", "kernel-start"]


class CellFailure(BaseModel):
    """Why a run stopped before its last cell.

    ``cell_index`` counts the cells of the notebook as its author wrote it (0-based, markdown cells included, as
    nbformat and Jupyter's own tools count), not the result notebook's, which has the injected parameters cell.
    """

    kind: FailureKind = Field(description="error: a cell raised; the timeouts; the kernel died or never started")
    cell_index: int | None = Field(description="the failing cell in the notebook as written (None: before any cell)")
    execution_count: int | None = Field(default=None, description="its execution count in the result notebook")
    ename: str = Field(description="the exception's type")
    evalue: str = Field(description="the exception's message")
    source: str = Field(default="", description="the failing cell's first line")

    def describe(self) -> str:
        """One line: which cell, and what happened."""
        where = "before the first cell" if self.cell_index is None else f"cell {self.cell_index}"
        if self.source:
            where += f" ({self.source})"
        if self.kind == "error":
            return f"{where} raised {self.ename}: {self.evalue}".rstrip(": ")
        if self.kind == "kernel-died":
            return f"{where}: the kernel died ({self.ename}: {self.evalue})"
        return f"{where}: {self.evalue} ({self.ename})"


class NotebookRun(BaseModel):
    """One run of a notebook: what ran, with what, and where its results are."""

    notebook: str = Field(description="the notebook's path")
    name: str = Field(description="the notebook's name (its file's stem)")
    parameters: dict[str, Any] = Field(description="the parameters injected (after validation)")
    kernel: str = Field(description="the Jupyter kernel that ran it")
    run_id: str = Field(description="the run's id (the flow run's, inside a flow)")
    location: str = Field(description="the run's own folder (local path or fsspec URL)")
    result: str = Field(description="the result notebook (every cell's output; partial when the run failed)")
    html: str | None = Field(default=None, description="the result notebook rendered as HTML")
    figures: list[str] = Field(default_factory=list, description="the figures the notebook displayed, as PNG files")
    records: dict[str, Any] = Field(default_factory=dict, description="the values recorded with nbrun.record")
    started: dt.datetime = Field(description="when the run started (UTC)")
    duration_s: float = Field(description="wall time of the run, kernel start and rendering included")
    status: Literal["completed", "failed"]
    failure: CellFailure | None = Field(default=None, description="why it failed, when it did")
