"""``esdl up`` / ``esdl status`` / ``esdl down`` start and stop the real local stack (PostGIS, Prefect server, work
pool and deployments, process worker, esdl serve) in a project folder: idempotent, Prefect commands there use
the server (prefect.toml), a taken port is exit 2 with nothing left started, and down stops everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import free_port

BIN = Path(sys.executable).parent


def esdl(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"ESDL_HOME": str(home)}
    return subprocess.run(
        [str(BIN / "esdl"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_up_status_down(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for part in ("deployments", "flows", "cubes"):  # (the deployments' entry points are relative to the project)
        (project / part).symlink_to(REPO_ROOT / part)
    home = tmp_path / "state"
    ports = ["--prefect-port", str(free_port()), "--serve-port", str(free_port())]
    try:
        first = esdl(project, home, "up", *ports)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout + first.stderr
        for part in ("PostGIS", "Prefect server", "4 deployments", "process worker", "SPARQL endpoint"):
            assert part in out, out
        assert "(started)" in out and (project / "prefect.toml").is_file()

        status = json.loads(esdl(project, home, "status", *ports).stdout)
        assert all(c["running"] for c in status.values()), status

        again = esdl(project, home, "up", *ports)
        assert again.returncode == 0 and "nothing changed" in again.stdout + again.stderr, again.stdout + again.stderr

        # a Prefect command run in the project talks to this server (no PREFECT_API_URL in its environment)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        listed = subprocess.run(
            [str(BIN / "prefect"), "deployment", "ls"], cwd=project, env=env, capture_output=True, text=True
        )
        assert "build-cube/demo-cube" in listed.stdout, listed.stdout + listed.stderr

        # another stack whose Prefect port is taken (by this one's server): exit 2, nothing left started
        other = tmp_path / "other-state"
        taken = ["--prefect-port", ports[1], "--serve-port", str(free_port())]
        refused = esdl(project, other, "up", *taken)
        assert refused.returncode == 2 and "in use" in refused.stdout + refused.stderr
        assert not json.loads(esdl(project, other, "status", *taken).stdout)["postgis"]["running"]
    finally:
        down = esdl(project, home, "down", *ports)
    assert down.returncode == 0 and "stopped" in down.stdout + down.stderr, down.stdout + down.stderr
    status = json.loads(esdl(project, home, "status", *ports).stdout)
    assert not any(c["running"] for c in status.values()), status
    assert not (project / "prefect.toml").exists()
