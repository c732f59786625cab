"""``esdl up`` / ``esdl status`` / ``esdl down`` start and stop the real local stack (PostGIS, Prefect server, work
pool and deployments, process worker, esdl serve) in a project folder: idempotent, Prefect commands there use
the server (prefect.toml), a taken port is exit 2 with nothing left started, and down stops everything.

And the Prefect UI is the console, in headless Chromium: the Deployments page lists every deployment with the
nightly schedule; "Quick run" of build-cube/demo-cube makes a run that the stack's worker completes and whose
page shows the build's artifacts; a run started by a signed webhook shows up on the Runs page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esdl.api.hooks import sign
from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BIN = Path(sys.executable).parent


SECRET = "stack-test-secret"


def esdl(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"ESDL_HOME": str(home), "ESDL_HOOK_SECRET": SECRET}
    return subprocess.run(
        [str(BIN / "esdl"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def api(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        base + path, data=None if body is None else json.dumps(body).encode(), method="GET" if body is None else "POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def wait_final(base: str, run_id: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = api(base, f"/api/flow_runs/{run_id}")["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return str(state)
        time.sleep(1)
    return str(state)


def console(page: Page, ui: str) -> None:
    """The checks in the browser (see the module's text)."""
    page.goto(f"{ui}/deployments", wait_until="networkidle")
    page.get_by_text("4 Deployments").wait_for()
    body = page.inner_text("body")
    for name in ("build", "demo-catalog", "demo-cube", "load"):
        assert name in body.split(), body
    assert "At 03:00 AM every day" in body, body

    before = {r["id"] for r in api(ui, "/api/flow_runs/filter", {})}
    page.get_by_role("link", name="demo-cube").first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Quick run", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="CubeSpec", exact=True).wait_for()  # the spec: a CubeSpec form or a path
    dialog.get_by_role("button", name="Run", exact=True).click()
    deadline = time.monotonic() + 60
    started: list[Any] = []
    while not started and time.monotonic() < deadline:
        started = [r for r in api(ui, "/api/flow_runs/filter", {}) if r["id"] not in before]
        time.sleep(0.5)
    (run,) = started
    assert wait_final(ui, run["id"]) == "COMPLETED"
    page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="networkidle")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text("cube-esdl-demo-stats", exact=True).first.wait_for()
    shown = page.inner_text("body")
    for artifact in ("cube-esdl-demo", "cube-esdl-demo-stats", "cube-esdl-demo-sst"):  # summary, table, quicklook
        assert artifact in shown.split(), shown


def test_up_status_down(tmp_path: Path, browser: Browser) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for part in ("deployments", "flows"):  # (the deployments' entry points are relative to the project)
        (project / part).symlink_to(REPO_ROOT / part)
    # the cubes package with its specs copied: the demo spec's output (../../out/esdl-demo.zarr) is relative to the
    # spec's own folder, so that the UI's run builds a fresh cube in the project (and shows the build's artifacts)
    shutil.copytree(REPO_ROOT / "cubes", project / "cubes", ignore=shutil.ignore_patterns("__pycache__"))
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

        ui = f"http://127.0.0.1:{ports[1]}"
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            console(page, ui)
            # a run started by a signed webhook shows up on the Runs page
            body = json.dumps({"spec": "cubes/specs/demo.yaml"}).encode()
            delivery = urllib.request.Request(
                f"http://127.0.0.1:{ports[3]}/hooks/cube-input-landed",
                data=body,
                headers={"Content-Type": "application/json", "X-Esdl-Signature": sign(SECRET.encode(), body)},
            )
            with urllib.request.urlopen(delivery, timeout=60) as r:
                accepted = json.loads(r.read())
            assert r.status == 202 and accepted["url"].startswith(ui), accepted
            page.goto(f"{ui}/runs", wait_until="networkidle")
            page.get_by_text(accepted["flow_run_name"]).first.wait_for()
            assert wait_final(ui, accepted["flow_run_id"]) == "COMPLETED"  # (up to date: it builds nothing)
        finally:
            page.close()

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
