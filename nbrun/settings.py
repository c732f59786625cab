"""Settings of notebook runs: environment variables ``ESDL_NOTEBOOK_*`` (or a ``.env`` file)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class NotebookSettings(BaseSettings):
    """Where the catalogue is, where results go, which kernel runs them, and their limits."""

    model_config = SettingsConfigDict(env_prefix="ESDL_NOTEBOOK_", env_file=".env", extra="ignore")

    catalogue: Path = Field(default=Path("notebooks"), description="folder of the catalogue's notebooks")
    output: str = Field(
        default="out/notebooks",
        description="where result notebooks go: a local folder or an fsspec URL; each run writes a folder of its own "
        "under it (<notebook>/<UTC time>-<run id>/)",
    )
    kernel: str = Field(default="esdl", description="the Jupyter kernel that runs the notebooks")
    cell_timeout_s: float = Field(default=600, gt=0, description="longest a single cell may run")
    run_timeout_s: float = Field(default=3600, gt=0, description="longest a whole run may take, kernel start included")
    save_every_s: float = Field(
        default=1.0,
        ge=0,
        description="while cells run, the local result notebook is written at most this often (at a cell's start or "
        "end; always when a cell fails and at the end); 0: after every cell, as papermill does",
    )
    start_timeout_s: float = Field(default=60, gt=0, description="longest the kernel may take to start")
    concurrency: int = Field(
        default_factory=_cores, ge=1, description="notebooks verify-notebooks runs at once (default: the CPU cores)"
    )
