"""The local stack (``esdl up``) in a temporary project folder: the folder, the ``esdl`` command run there, and the
Prefect server's REST API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from esdl_testing.paths import REPO_ROOT

BIN = Path(sys.executable).parent
"""The virtual environment's scripts (``esdl``, ``prefect``)."""

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
"""The state types a flow run ends in."""


def make_project(tmp_path: Path) -> Path:
    """A project folder: the repository's deployments, flows and notebooks (linked) and a copy of its cubes package."""
    project = tmp_path / "project"
    project.mkdir()
    # (the deployments' entry points, and the notebook catalogue's folder, are relative to the project)
    for part in ("deployments", "flows", "notebooks"):
        (project / part).symlink_to(REPO_ROOT / part)
    # the cubes package with its specs copied: the demo spec's output (../../out/esdl-demo.zarr) is relative to the
    # spec's own folder, so that a run of build-cube/demo-cube builds a fresh cube in the project
    shutil.copytree(REPO_ROOT / "cubes", project / "cubes", ignore=shutil.ignore_patterns("__pycache__"))
    return project


def project_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run in the project: its state in ``home``; the stack's own PostGIS and Prefect
    server even where this environment names others (so ``prefect.toml`` decides)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "ESDL_DATABASE_URL")}
    return env | {"ESDL_HOME": str(home), **extra}


def esdl_in(project: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``esdl ARGS`` run to its end in ``project`` (see :func:`project_env`; ``env``: more variables)."""
    return subprocess.run(
        [str(BIN / "esdl"), *args],
        cwd=project,
        env=project_env(home, **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def api(base: str, path: str, body: dict[str, Any] | None = None, retry_s: float = 0) -> Any:
    """The JSON answer of the Prefect API at ``base`` (the UI's address) to GET ``path``, or POST ``body``.

    ``retry_s``: for so long, a refused connection or a 503 (a restarting server, SQLite busy) is tried again.
    """
    deadline = time.monotonic() + retry_s
    while True:
        request = urllib.request.Request(
            base + path,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
        )
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError) as err:
            if (isinstance(err, urllib.error.HTTPError) and err.code != 503) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def wait_final(base: str, run_id: str, timeout_s: float = 300) -> str:
    """The state type flow run ``run_id`` ends in (its current one after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = api(base, f"/api/flow_runs/{run_id}", retry_s=60)["state"]["type"]
        if state in FINAL:
            return str(state)
        time.sleep(1)
    return str(state)
