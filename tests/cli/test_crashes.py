"""A run whose process dies is marked Crashed by the project's automation (deployments/automations.yaml), and the
next run continues its build; a run outlives a restart of its Prefect server. All on the real local stack
(``esdl up`` in a temporary project, whose flow runs send heartbeats), with real builds on Dask:

- a CLI build killed with SIGKILL: Crashed, with the automation's message, at most ``within`` and a minute after
  the kill and no sooner than ``within`` after its last heartbeat; its writer lock is free at once;
  ``esdl cube build --resume`` writes only the missing regions, and its cube is a clean build's;
- the worker killed with SIGKILL together with its run's processes (a machine that dies): the run is Crashed;
  ``esdl up`` starts a worker again; the deployment's next run (``resume: true``) writes only the missing regions
  and publishes the clean build's cube, once;
- a CLI build frozen with SIGSTOP past ``within`` (a network partition, a machine that stalls): Crashed although its
  process lives. A ``--resume`` started meanwhile waits for the writer lock the frozen build holds. Once thawed, the
  frozen build carries on, publishes and ends Completed (the behaviour docs/operations.md describes); the resume then
  finds the cube up to date and builds nothing: one publication. The waiting run lived longer than ``within``
  without being Crashed;
- the Prefect server stopped and started again while a deployment's run builds: the run completes, publishes once,
  and its event reaches the server.

The victims are disturbed first, in a module fixture, so that the waits for the automation overlap.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import xarray as xr
import yaml

from esdl.automations import AUTOMATIONS_FILE, HEARTBEAT_S, declared
from esdl.stack import Stack as LocalStack
from esdl_testing.builds import REGIONS, data_of, staging_build, synthetic_spec, versions, wait_for
from esdl_testing.paths import REPO_ROOT
from esdl_testing.servers import free_port
from esdl_testing.stack import BIN, api, esdl_in, make_project, project_env, wait_final
from flows.locks import one_writer

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.prefect]  # (esdl up starts PostgreSQL and Prefect)


def _automation() -> tuple[str, float, str | None]:
    """The name, ``within`` (seconds) and message of the project's automation that crashes silent runs."""
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger

    (automation,) = declared(REPO_ROOT / AUTOMATIONS_FILE)
    trigger, (action,) = automation.trigger, automation.actions
    assert isinstance(trigger, EventTrigger) and isinstance(action, ChangeFlowRunState)
    return automation.name, trigger.within.total_seconds(), action.message


NAME, WITHIN_S, MESSAGE = _automation()
SLACK_S = 60  # the server evaluates the automation every 5 s: a minute more is generous, even on a busy machine
DASK = {"ESDL_DASK_MIN_WORKERS": "2", "ESDL_DASK_MAX_WORKERS": "2"}


@dataclass
class Build:
    """A CLI build running in the project, in a session of its own."""

    proc: subprocess.Popen[str]
    out: Path  # its stdout

    def finish(self, timeout_s: float = 600) -> dict[str, Any]:
        """Its result (the last line of its output), once it exits with 0."""
        assert self.proc.wait(timeout=timeout_s) == 0, self.out.with_suffix(".err").read_text()[-3000:]
        return dict(json.loads(self.out.read_text().strip().splitlines()[-1]))


@dataclass
class Stack:
    """The stack ``esdl up`` started in ``root``, with helpers for its builds and its Prefect server."""

    root: Path
    home: Path
    prefect_port: int
    serve_port: int
    tmp: Path

    @property
    def ports(self) -> list[str]:
        return ["--prefect-port", str(self.prefect_port), "--serve-port", str(self.serve_port)]

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}"

    def esdl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return esdl_in(self.root, self.home, *args, **DASK)

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return api(self.ui, path, body, retry_s=120)

    def spec(self, name: str) -> tuple[dict[str, Any], Path]:
        """The synthetic spec with output ``out/NAME.zarr``, and its file."""
        spec = synthetic_spec(self.tmp / "out" / f"{name}.zarr")
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return spec, path

    def build(self, spec_path: Path, *args: str, name: str) -> Build:
        """``esdl cube build SPEC ARGS`` in the project (its prefect.toml: the stack's server), in the background."""
        out = self.tmp / f"{name}.out"
        with out.open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
            proc = subprocess.Popen(
                [str(BIN / "esdl"), "cube", "build", str(spec_path), "--no-progress", *args],
                cwd=self.root,
                env=project_env(self.home, **DASK),
                stdout=stdout,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        return Build(proc, out)

    def run_deployment(self, spec_path: Path) -> str:
        """A run of ``build-cube/build`` (``resume: true``) for the spec at ``spec_path``; its id."""
        deployment = self.api("/api/deployments/name/build-cube/build")
        return str(
            self.api(f"/api/deployments/{deployment['id']}/create_flow_run", {"parameters": {"spec": str(spec_path)}})[
                "id"
            ]
        )

    def runs_of(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The build runs of ``spec``'s output, oldest first (its spec: fields from the CLI, a deployment's a path)."""

        def output(run: dict[str, Any]) -> Any:
            given = run["parameters"].get("spec")
            if isinstance(given, str):
                given = yaml.safe_load(Path(given).read_text())
            return given.get("output") if isinstance(given, dict) else None

        runs = [r for r in self.api("/api/flow_runs/filter", {}) if output(r) == spec["output"]]
        return sorted(runs, key=lambda r: r["created"])

    def states(self, run_id: str) -> list[dict[str, Any]]:
        return sorted(self.api(f"/api/flow_run_states/?flow_run_id={run_id}"), key=lambda s: s["timestamp"])

    def events(self, name: str, resource: str | None = None) -> list[dict[str, Any]]:
        """The events called ``name`` (about ``resource``), oldest first."""
        spec: dict[str, Any] = {"event": {"name": [name]}, "order": "ASC"}
        if resource:
            spec["resource"] = {"id": [resource]}
        return list(self.api("/api/events/filter", {"filter": spec, "limit": 50})["events"])

    def published(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The payloads of the ``esdl.cube.published`` events of ``spec``'s cube, once there is one (the server stores
        events a few seconds after they arrive)."""
        found: list[dict[str, Any]] = []

        def stored() -> bool:
            found[:] = [
                e["payload"] for e in self.events("esdl.cube.published") if e["payload"]["output"] == spec["output"]
            ]
            return bool(found)

        wait_for(stored, timeout=60, interval=1)
        return found

    def logs(self, run_id: str) -> str:
        return "\n".join(
            log["message"] for log in self.api("/api/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
        )


@dataclass
class Victim:
    """A build disturbed by the fixture: its spec, its run, the regions written when it was stopped, and when."""

    spec: dict[str, Any]
    spec_path: Path
    run_id: str
    done: int
    at: float  # time.time() of the kill


@dataclass
class Victims:
    killed_cli: Victim
    killed_worker: Victim
    frozen: Victim
    frozen_build: Build
    waiting: Build  # the --resume of the frozen build
    reference: Build  # a clean build
    reference_spec: dict[str, Any]


def when(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def kill(pids: list[int]) -> None:
    """SIGKILL these processes at once, and wait until none is left but zombies."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
            os.kill(pid, signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass

    def gone() -> bool:
        return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)

    wait_for(gone, timeout=30)


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]


def started_run(stack: Stack, spec: dict[str, Any]) -> str:
    """The id of the (only) build run of ``spec``'s output, once it exists."""
    wait_for(lambda: stack.runs_of(spec), timeout=120, interval=0.5)
    (run,) = stack.runs_of(spec)
    return str(run["id"])


def stopped_at(spec: dict[str, Any], enough: int = 3) -> None:
    """Return once the build of ``spec`` has recorded ``enough`` regions (each test checks it had not all then)."""
    build = staging_build(spec)
    wait_for(lambda: len(build.done_regions()) >= enough, timeout=300)


def wait_crashed(stack: Stack, victim: Victim) -> float:
    """Wait for the victim's run to leave Running; check it is Crashed by the automation, no sooner than ``within``
    after its last heartbeat and at most ``within`` and a minute after the kill; the seconds from kill to Crashed."""
    run = stack.api(f"/api/flow_runs/{victim.run_id}")
    while run["state"]["type"] == "RUNNING" and time.time() < victim.at + WITHIN_S + SLACK_S:
        time.sleep(1)
        run = stack.api(f"/api/flow_runs/{victim.run_id}")
    state = run["state"]
    assert (state["type"], state["message"]) == ("CRASHED", MESSAGE), state
    beats = stack.events("prefect.flow-run.heartbeat", f"prefect.flow-run.{victim.run_id}")
    assert beats, "the run sent no heartbeat"
    assert when(state["timestamp"]) - when(beats[-1]["occurred"]) >= WITHIN_S - 1, (state, beats[-1])
    assert when(state["timestamp"]) - victim.at <= WITHIN_S + SLACK_S, state
    return when(state["timestamp"]) - victim.at


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack in a temporary project, its automation applied; stopped at the end."""
    tmp = tmp_path_factory.mktemp("crashes")
    st = Stack(make_project(tmp), tmp / "state", free_port(), free_port(), tmp)
    try:
        # Prefect on PostgreSQL, as a production install runs it: on SQLite (one writer at a time) four builds,
        # their heartbeats and the automation's evaluation made the server answer "database is locked" and then
        # nothing for minutes on a loaded machine (the fresh-clone run at 8ca2380), which is not what this tests
        up = st.esdl("up", *st.ports, "--prefect-db", "postgres")
        said = up.stdout + up.stderr
        assert up.returncode == 0, said
        assert f"automation {NAME} (created)" in said, said
        assert f"heartbeat_frequency = {HEARTBEAT_S}" in (st.root / "prefect.toml").read_text()
        yield st
    finally:
        down = st.esdl("down", *st.ports)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def victims(stack: Stack) -> Iterator[Victims]:
    """Kill a CLI build; kill the worker with its run's processes; freeze a CLI build and start its --resume (each
    once it recorded 3 of its 23 regions); then start a clean build."""
    builds: list[Build] = []
    try:
        spec, path = stack.spec("killed-cli")
        builds.append(stack.build(path, name="killed-cli"))
        stopped_at(spec)
        run_id = started_run(stack, spec)
        kill(tree(builds[-1].proc.pid))
        killed_cli = Victim(spec, path, run_id, len(staging_build(spec).done_regions()), time.time())

        spec, path = stack.spec("killed-worker")
        run_id = stack.run_deployment(path)
        stopped_at(spec)
        # as when its machine dies: the worker and what runs below it, and the warm-start process (esdl.warmstart)
        # with the runs forked from it
        local = LocalStack(stack.root, stack.home, stack.prefect_port, stack.serve_port)
        victims = [pid for name in ("worker", "zygote") if (top := local.pid(name)) for pid in tree(top)]
        assert len(victims) >= 2, victims  # the worker and the run's process at least
        kill(victims)
        killed_worker = Victim(spec, path, run_id, len(staging_build(spec).done_regions()), time.time())

        spec, path = stack.spec("frozen")
        builds.append(frozen_build := stack.build(path, name="frozen"))
        stopped_at(spec)
        run_id = started_run(stack, spec)
        os.killpg(frozen_build.proc.pid, signal.SIGSTOP)
        frozen = Victim(spec, path, run_id, len(staging_build(spec).done_regions()), time.time())
        builds.append(waiting := stack.build(path, "--resume", name="waiting"))

        reference_spec, path = stack.spec("reference")
        builds.append(reference := stack.build(path, name="reference"))
        yield Victims(killed_cli, killed_worker, frozen, frozen_build, waiting, reference, reference_spec)
    finally:
        for build in builds:
            if build.proc.poll() is None:
                os.killpg(build.proc.pid, signal.SIGCONT)
                os.killpg(build.proc.pid, signal.SIGKILL)
                build.proc.wait()


@pytest.fixture(scope="module")
def reference(stack: Stack, victims: Victims) -> xr.Dataset:
    """The clean build's data (a run never Crashed)."""
    result = victims.reference.finish()
    assert result["written"] == result["regions"] == REGIONS
    (run,) = stack.runs_of(victims.reference_spec)
    states = [s["type"] for s in stack.states(run["id"])]
    assert states[-1] == "COMPLETED" and "CRASHED" not in states, states
    return data_of(Path(victims.reference_spec["output"]))


def killed(victim: Victim) -> Path:
    """Check the victim was killed mid-build: nothing published, its writer lock free (the kernel freed it)."""
    out = Path(victim.spec["output"])
    assert 3 <= victim.done < REGIONS, "the build ended before it was killed"
    assert not out.exists() and not out.is_symlink()
    with one_writer(str(out), wait_s=0):
        pass
    return out


def test_killed_cli_build_is_crashed_and_resumes(stack: Stack, victims: Victims, reference: xr.Dataset) -> None:
    victim = victims.killed_cli
    out = killed(victim)

    print(f"killed CLI build: Crashed {wait_crashed(stack, victim):.1f} s after the kill")

    resumed = stack.build(victim.spec_path, "--resume", name="killed-cli-resumed").finish()
    assert resumed["regions"] == REGIONS
    assert resumed["written"] == REGIONS - victim.done  # only the regions the killed build had not written
    xr.testing.assert_identical(data_of(out), reference)
    assert len(versions(out)) == 1
    first, second = stack.runs_of(victim.spec)
    assert first["id"] == victim.run_id and first["state"]["type"] == "CRASHED"
    assert "CRASHED" not in [s["type"] for s in stack.states(second["id"])]


def test_killed_worker_run_is_crashed_and_the_next_run_resumes(
    stack: Stack, victims: Victims, reference: xr.Dataset
) -> None:
    victim = victims.killed_worker
    out = killed(victim)

    print(f"killed worker: its run Crashed {wait_crashed(stack, victim):.1f} s after the kill")

    up = stack.esdl("up", *stack.ports)  # a worker again (the rest still runs)
    assert up.returncode == 0 and re.search(r"process worker of esdl-local\b.*\(started\)", up.stderr), up.stderr
    run_id = stack.run_deployment(victim.spec_path)  # the deployment's next run, as the schedule or a user would
    assert wait_final(stack.ui, run_id, timeout_s=600) == "COMPLETED", stack.logs(run_id)
    assert f"{REGIONS} regions, {REGIONS - victim.done} to write (resuming)" in stack.logs(run_id)
    (published,) = stack.published(victim.spec)  # once
    assert (published["regions"], published["written"]) == (REGIONS, REGIONS - victim.done)
    xr.testing.assert_identical(data_of(out), reference)
    assert len(versions(out)) == 1
    assert "CRASHED" not in [s["type"] for s in stack.states(run_id)]


def test_frozen_build_is_crashed_and_its_lock_holds_the_resume(
    stack: Stack, victims: Victims, reference: xr.Dataset
) -> None:
    victim = victims.frozen
    out = Path(victim.spec["output"])
    assert 3 <= victim.done < REGIONS, "the build ended before it was frozen"

    print(f"frozen CLI build: Crashed {wait_crashed(stack, victim):.1f} s after it froze")

    # the resume waits for the frozen build's writer lock; nothing is published meanwhile
    (waiting,) = [r for r in stack.runs_of(victim.spec) if r["id"] != victim.run_id]
    assert victims.waiting.proc.poll() is None and waiting["state"]["type"] == "RUNNING", waiting["state"]
    assert not out.exists()

    # thawed, the frozen build carries on: it publishes and ends Completed (docs/operations.md)
    os.killpg(victims.frozen_build.proc.pid, signal.SIGCONT)
    assert victims.frozen_build.finish()["regions"] == REGIONS
    assert [s["type"] for s in stack.states(victim.run_id)][-2:] == ["CRASHED", "COMPLETED"]
    # then the resume finds the cube up to date: it builds and publishes nothing
    resumed = victims.waiting.finish()
    assert resumed["written"] == 0
    assert len(versions(out)) == 1 and len(stack.published(victim.spec)) == 1
    xr.testing.assert_identical(data_of(out), reference)

    # the waiting run lived longer than `within`, sending heartbeats, and was never Crashed
    run = stack.api(f"/api/flow_runs/{waiting['id']}")
    lived = when(run["end_time"]) - when(run["start_time"])
    assert lived > WITHIN_S, lived
    assert [s["type"] for s in stack.states(waiting["id"])][-2:] == ["RUNNING", "COMPLETED"]
    assert "CRASHED" not in [s["type"] for s in stack.states(waiting["id"])]
    beats = stack.events("prefect.flow-run.heartbeat", f"prefect.flow-run.{waiting['id']}")
    assert len(beats) >= WITHIN_S // HEARTBEAT_S, len(beats)


def test_run_outlives_a_restart_of_its_server(stack: Stack, reference: xr.Dataset) -> None:
    spec, path = stack.spec("server-restart")
    out = Path(spec["output"])
    run_id = stack.run_deployment(path)
    stopped_at(spec)
    local = LocalStack(stack.root, stack.home, stack.prefect_port, stack.serve_port)
    stopped = time.monotonic()
    assert local.stop(["prefect-server"]) == ["prefect-server"]
    assert not out.exists(), "the build was published before the server stopped"
    time.sleep(15)
    up = stack.esdl("up", *stack.ports)
    assert up.returncode == 0 and re.search(r"Prefect server [^()]*\(started\)", up.stderr), up.stderr
    print(f"the Prefect server was away {time.monotonic() - stopped:.1f} s")

    assert wait_final(stack.ui, run_id, timeout_s=600) == "COMPLETED", stack.logs(run_id)
    assert "CRASHED" not in [s["type"] for s in stack.states(run_id)]
    (published,) = stack.published(spec)  # its event arrived, once
    assert (published["regions"], published["written"]) == (REGIONS, REGIONS)
    assert len(versions(out)) == 1
    xr.testing.assert_identical(data_of(out), reference)


def test_a_job_dismissed_while_it_builds_publishes_nothing_and_the_next_resumes(
    stack: Stack, reference: xr.Dataset
) -> None:
    """OGC API - Processes on the stack's `esdl serve`: a build started as a job and dismissed while it writes ends
    Cancelled with nothing published; the next job (``resume`` is the deployment's default) writes only the missing
    regions, publishes the clean build's cube once, and its results link the cube and its STAC collection."""
    import httpx

    made = stack.esdl("keys", "create", "crash-tests", "--permission", "run")
    assert made.returncode == 0, made.stderr
    headers = {"X-API-Key": made.stdout.strip()}
    base = f"http://127.0.0.1:{stack.serve_port}"
    spec, path = stack.spec("dismissed")
    out = Path(spec["output"])
    job = httpx.post(f"{base}/processes/build/execution", json={"inputs": {"spec": str(path)}}, headers=headers)
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    stopped_at(spec)
    dismissed = httpx.delete(f"{base}/jobs/{job_id}", headers=headers, timeout=30)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed", dismissed.text
    assert wait_final(stack.ui, job_id, timeout_s=120) == "CANCELLED", stack.logs(job_id)
    done = len(staging_build(spec).done_regions())
    assert 3 <= done < REGIONS, "the build ended before it was dismissed"
    assert not out.exists() and not out.is_symlink()
    assert httpx.get(f"{base}/jobs/{job_id}/results", timeout=30).status_code == 404

    again = httpx.post(f"{base}/processes/build/execution", json={"inputs": {"spec": str(path)}}, headers=headers)
    assert again.status_code == 201, again.text
    again_id = again.json()["id"]
    assert wait_final(stack.ui, again_id, timeout_s=600) == "COMPLETED", stack.logs(again_id)
    assert f"{REGIONS} regions, {REGIONS - done} to write (resuming)" in stack.logs(again_id)
    status = httpx.get(f"{base}/jobs/{again_id}", timeout=30).json()
    assert (status["status"], status["progress"]) == ("successful", 100), status
    results = httpx.get(f"{base}/jobs/{again_id}/results", timeout=30).json()
    result = results["result"]["value"]
    assert (result["regions"], result["written"]) == (REGIONS, REGIONS - done)
    assert Path(results["cube"]["href"]) == out.resolve()
    assert Path(results["stac"]["href"]).is_file()
    assert len(stack.published(spec)) == 1  # published once
    xr.testing.assert_identical(data_of(out), reference)
