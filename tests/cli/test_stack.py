"""``esdl up`` / ``esdl status`` / ``esdl down`` start and stop the real local stack (PostGIS, Prefect server, work
pool and deployments, process worker, esdl serve) in a project folder: idempotent, Prefect commands there use
the server (prefect.toml), a taken port is exit 2 with nothing left started, and down stops everything.

And the Prefect UI is the console, in headless Chromium: the Deployments page lists every deployment with the
nightly schedule; "Quick run" of build-cube/demo-cube makes a run that the stack's worker completes and whose
page shows the build's artifacts; a run started by a signed webhook shows up on the Runs page. A run of the
run-notebook/notebook deployment is run by the stack's worker and keeps its result notebook.

With ``--prefect-db postgres`` the Prefect server's data is in the database ``prefect`` of the stack's PostgreSQL (its
tables, a run made through the API is a row there, no SQLite file), which the catalogue's read-only role may not
reach; a deployment's run completes; asking for SQLite while it runs is one line, exit 2, nothing changed; an up
without the flag keeps it; the role's password is in no output and no log; down stops everything and the data stays.
The role and database are made once (again: no error, the password set anew, the data kept)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import yaml
from psycopg import sql

from esdl.api.hooks import sign
from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import free_port
from esdl_testing.stack import BIN, api, esdl_in, make_project, wait_final

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

SECRET = "stack-test-secret"
DECLARED = [d["name"] for d in yaml.safe_load((REPO_ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]]


def esdl(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return esdl_in(project, home, *args, ESDL_HOOK_SECRET=SECRET)


def console(page: Page, ui: str) -> None:
    """The checks in the browser (see the module's text)."""
    page.goto(f"{ui}/deployments", wait_until="networkidle")
    page.get_by_text(f"{len(DECLARED)} Deployments").wait_for()
    body = page.inner_text("body")
    for name in DECLARED:
        assert name in body.split(), body
    assert "At 03:00 AM every day" in body, body

    before = {r["id"] for r in api(ui, "/api/flow_runs/filter", {}, retry_s=60)}
    page.get_by_role("link", name="demo-cube").first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Quick run", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="CubeSpec", exact=True).wait_for()  # the spec: a CubeSpec form or a path
    submit(page, dialog)
    deadline = time.monotonic() + 120
    started: list[Any] = []
    while not started and time.monotonic() < deadline:
        started = [r for r in api(ui, "/api/flow_runs/filter", {}, retry_s=60) if r["id"] not in before]
        time.sleep(0.5)
    (run,) = started
    assert wait_final(ui, run["id"]) == "COMPLETED"
    page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="networkidle")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text("cube-esdl-demo-stats", exact=True).first.wait_for()
    shown = page.inner_text("body")
    for artifact in ("cube-esdl-demo", "cube-esdl-demo-stats", "cube-esdl-demo-sst"):  # summary, table, quicklook
        assert artifact in shown.split(), shown


def submit(page: Page, dialog: Locator) -> None:
    """Click the dialog's Run until the UI sends the parameters to the server for checking (its first step; on a
    loaded machine a click on a form still settling was seen lost, the dialog open for minutes with nothing sent), then
    wait for the dialog to close. A click is repeated only while nothing was sent, so it never makes a second run."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    traffic: list[str] = []
    page.on("request", lambda r: traffic.append(f"{r.method} {r.url}"))
    page.on("response", lambda r: traffic.append(f"{r.status} {r.url}"))
    for _ in range(4):
        dialog.get_by_role("button", name="Run", exact=True).click()
        deadline = time.monotonic() + 15
        while not any("/schemas/validate" in t for t in traffic) and time.monotonic() < deadline:
            page.wait_for_timeout(250)  # (the page's events arrive only while Playwright waits)
        if any("/schemas/validate" in t for t in traffic):
            break
    # the server checks the parameters, then makes the run: slow on a loaded machine. A 503 to the run's creation
    # is Prefect's SQLite answering "database is locked" (its client would retry; the UI does not): no run was made,
    # so the user's next click is what a user does (the fresh-clone run at 93d0ba9 met it once)
    deadline = time.monotonic() + 120
    retried = 0
    while time.monotonic() < deadline:
        try:
            dialog.wait_for(state="hidden", timeout=2_000)
            return
        except PlaywrightTimeout:
            refused = sum(1 for t in traffic if t.startswith("503 ") and t.endswith("/create_flow_run"))
            if refused > retried and retried < 3:
                retried += 1
                dialog.get_by_role("button", name="Run", exact=True).click()
    sent = "\n".join(traffic) or "(nothing)"
    raise AssertionError(f"the Quick run dialog stayed open; sent:\n{sent}\n{dialog.inner_text()[-800:]}")


def deliver(url: str, payload: dict[str, Any]) -> Any:
    """A signed delivery's 202 answer, sent as a webhook sender does: again after a 503 (a busy Prefect server on the
    loaded machine), as its Retry-After says, with the same idempotency key, so that a retry makes no second run."""
    body, key = json.dumps(payload).encode(), uuid.uuid4().hex
    for _ in range(5):
        delivery = urllib.request.Request(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                "X-Esdl-Signature": sign(SECRET.encode(), body),
            },
        )
        try:
            with urllib.request.urlopen(delivery, timeout=60) as r:
                assert r.status == 202
                return json.loads(r.read())
        except urllib.error.HTTPError as refused:
            if refused.code != 503:
                raise
            time.sleep(float(refused.headers.get("Retry-After") or 1))
    raise AssertionError(f"{url}: 503 five times")


# Prefect's API calls of these tests are tried again after a 503 (its SQLite answering "database is locked", which
# makes no run: Prefect's own client retries them the same way); two fresh-clone runs met one each
def notebook_on_the_worker(project: Path, ui: str) -> None:
    """A run of the run-notebook/notebook deployment, made through the API as the UI's form makes one, is run by the
    stack's worker: the catalogue's cube report on the cube the console's run built, its result notebook kept."""
    (deployment,) = api(ui, "/api/deployments/filter", {"deployments": {"name": {"any_": ["notebook"]}}}, retry_s=60)
    parameters = {"notebook": "cube-report", "parameters": {"variable": "sst"}}  # (its verification parameters)
    run = api(ui, f"/api/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters}, retry_s=60)
    final = wait_final(ui, run["id"])
    assert final == "COMPLETED", api(ui, f"/api/flow_runs/{run['id']}", retry_s=60)["state"]["message"]
    # (the run's folder: <UTC time>-<the flow run id's first 8 characters>)
    (folder,) = [p for p in (project / "out" / "notebooks" / "cube-report").iterdir() if run["id"][:8] in p.name]
    result = json.loads((folder / "result.ipynb").read_text())
    assert not any(o.get("output_type") == "error" for c in result["cells"] for o in c.get("outputs", []))
    assert (folder / "result.html").is_file()


def test_up_status_down(tmp_path: Path, browser: Browser) -> None:
    project = make_project(tmp_path)
    home = tmp_path / "state"
    ports = ["--prefect-port", str(free_port()), "--serve-port", str(free_port())]
    try:
        first = esdl(project, home, "up", *ports)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout + first.stderr
        for part in ("PostGIS", "Prefect server", f"{len(DECLARED)} deployments", "process worker", "SPARQL endpoint"):
            assert part in out, out
        assert "(started)" in out and (project / "prefect.toml").is_file()

        status = json.loads(esdl(project, home, "status", *ports).stdout)
        assert all(c["running"] for c in status.values()), status
        assert status["prefect-server"]["database"] == "sqlite" and (home / "prefect" / "prefect.db").is_file()

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
            hook = f"http://127.0.0.1:{ports[3]}/hooks/cube-input-landed"
            accepted = deliver(hook, {"spec": "cubes/specs/demo.yaml"})
            assert accepted["url"].startswith(ui), accepted
            page.goto(f"{ui}/runs", wait_until="networkidle")
            page.get_by_text(accepted["flow_run_name"]).first.wait_for()
            assert wait_final(ui, accepted["flow_run_id"]) == "COMPLETED"  # (up to date: it builds nothing)
        finally:
            page.close()
        notebook_on_the_worker(project, ui)

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


@pytest.mark.db  # (both start their own PostgreSQL and Prefect server through `esdl up`)
@pytest.mark.prefect
@pytest.mark.slow
def test_up_with_prefect_on_postgres(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    home = tmp_path / "state"
    ports = ["--prefect-port", str(free_port()), "--serve-port", str(free_port())]
    ui = f"http://127.0.0.1:{ports[1]}"
    said = []  # every output of esdl, to look for the password in
    try:
        first = esdl(project, home, "up", "--prefect-db", "postgres", *ports)
        said.append(first.stdout + first.stderr)
        assert first.returncode == 0, said[-1]
        assert f"Prefect server {ui}/api on postgres" in said[-1], said[-1]

        recorded = json.loads((home / "prefect-db.json").read_text())
        assert recorded["backend"] == "postgres" and oct((home / "prefect-db.json").stat().st_mode & 0o777) == "0o600"
        cluster = json.loads((home / "postgres.json").read_text())
        prefect_dsn = f"postgresql://prefect:{recorded['password']}@127.0.0.1:{cluster['port']}/prefect"
        status = json.loads(esdl(project, home, "status", *ports).stdout)["prefect-server"]
        assert status["running"] and status["database"] == "postgres", status
        assert status["database_url"] == f"postgresql+asyncpg://prefect:***@127.0.0.1:{cluster['port']}/prefect"

        # the server's data is in PostgreSQL: its tables (and the deployments esdl up registered), and a run made
        # through the API is a row there; no SQLite file was made
        with psycopg.connect(prefect_dsn, autocommit=True) as conn:
            tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert {"flow_run", "deployment", "work_pool", "alembic_version"} <= tables, tables
            assert conn.execute("SELECT count(*) FROM deployment").fetchone() == (len(DECLARED),)
            deployment = api(ui, "/api/deployments/name/build-cube/demo-cube", retry_s=60)
            run = api(ui, f"/api/deployments/{deployment['id']}/create_flow_run", {}, retry_s=60)
            row = conn.execute("SELECT name, deployment_id FROM flow_run WHERE id = %s", (run["id"],)).fetchone()
            assert row == (run["name"], uuid.UUID(deployment["id"])), row
        assert not (home / "prefect" / "prefect.db").exists()
        # the esdl catalogue's read-only role may not even connect to it
        reader = f"postgresql://esdl_reader:{cluster['reader_password']}@127.0.0.1:{cluster['port']}/prefect"
        with pytest.raises(psycopg.OperationalError, match="CONNECT"):
            psycopg.connect(reader)

        assert wait_final(ui, run["id"]) == "COMPLETED"  # the stack's worker ran the deployment's run

        # asking for SQLite while it runs on PostgreSQL: one line, exit 2, nothing changed
        refused = esdl(project, home, "up", "--prefect-db", "sqlite", *ports)
        said.append(refused.stdout + refused.stderr)
        assert refused.returncode == 2 and len(said[-1].strip().splitlines()) == 1, said[-1]
        assert "runs on postgres, not sqlite" in said[-1] and "nothing changed" in said[-1], said[-1]
        # without the flag: what runs
        again = esdl(project, home, "up", *ports)
        said.append(again.stdout + again.stderr)
        assert again.returncode == 0 and "on postgres (already running)" in said[-1], said[-1]
        assert "nothing changed" in said[-1], said[-1]
        assert json.loads((home / "prefect-db.json").read_text()) == recorded
    finally:
        down = esdl(project, home, "down", *ports)
    assert down.returncode == 0 and "prefect-server, postgis" in down.stdout + down.stderr, down.stdout + down.stderr
    status = json.loads(esdl(project, home, "status", *ports).stdout)
    assert not any(c["running"] for c in status.values()), status
    assert status["prefect-server"]["database"] == "postgres"  # (what the next esdl up uses)

    # the password was never printed nor logged
    logs = [*(home / "logs").glob("*.log"), Path(cluster["data_dir"]).parent / "server.log"]
    assert logs[-1].exists()
    for text in [*said, status, *(log.read_text(errors="replace") for log in logs)]:
        assert recorded["password"] not in str(text)

    # the data stays: the run is still there once the cluster runs again
    assert esdl(project, home, "db", "up").returncode == 0
    try:
        with psycopg.connect(prefect_dsn) as conn:
            state = conn.execute("SELECT state_type FROM flow_run WHERE id = %s", (run["id"],)).fetchone()
        assert state == ("COMPLETED",)
    finally:
        assert esdl(project, home, "db", "down").returncode == 0


def test_prefect_database_made_once(postgis_server: str) -> None:
    """ensure_postgres makes the role and the database it owns, and again is no error: the password is set anew,
    the data stays; only the owner (and superusers) may connect."""
    import sqlalchemy as sa

    from esdl.prefectdb import ensure_postgres

    name = f"prefect_test_{uuid.uuid4().hex[:8]}"
    admin = sa.make_url(postgis_server).set(drivername="postgresql", database="postgres")
    admin_dsn = admin.render_as_string(hide_password=False)
    try:
        url = ensure_postgres(admin_dsn, "first", role=name, database=name)
        expected = admin.set(drivername="postgresql+asyncpg", username=name, password="first", database=name)
        assert sa.make_url(url) == expected
        dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")  # (as the owner: the database is its own)
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() == (1,)
        assert sa.make_url(ensure_postgres(admin_dsn, "second", role=name, database=name)).password == "second"
        with psycopg.connect(dsn.replace(":first@", ":second@")) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(dsn)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'other'").format(sql.Identifier(name + "_other")))
        other = sa.make_url(dsn).set(username=name + "_other", password="other").render_as_string(hide_password=False)
        with pytest.raises(psycopg.OperationalError, match="CONNECT"):
            psycopg.connect(other)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for role in (name, name + "_other"):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
