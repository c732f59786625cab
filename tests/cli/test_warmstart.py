"""Warm starts (``esdl/warmstart/``) with real processes: a Prefect server, a process worker whose pool runs the
launcher, and a zygote that preloaded the test flow. A run through the zygote completes with its parameters and
its logs in Prefect, in a child of the zygote with fresh random state; a failing flow fails; its exit code
reaches the worker; cancelling a run cancels it and ends its process and that process's subprocess; a run whose
process is SIGKILLed, or whose launcher is, does not complete (and leaves no process); a changed module is
imported afresh; a run with another environment, or with no zygote, starts cold and completes; a zygote whose
flows started a thread starts every run cold.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from esdl import warmstart

BIN = Path(sys.executable).parent
POOL = "esdl-warmstart-test"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

FLOW = '''
"""The test flow: it writes what it sees to ``out`` (its process, parameters, working folder, random draws and
the helper module's value), logs, prints, then sleeps, fails or ends its process as told."""
import json
import os
import random
import subprocess
import sys
import time

import numpy
import warmhelper
from prefect import flow, get_run_logger


@flow(name="warm-probe", log_prints=True, persist_result=False)
def probe(
    out: str, seconds: float = 0.0, fail: bool = False, exit_code: int = -1, label: str = "", child: bool = False
) -> str:
    get_run_logger().info("probe says hello to %s", label)
    print(f"probe prints for {label}")
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "label": label,
        "cwd": os.getcwd(),
        "random": random.random(),
        "numpy": float(numpy.random.random()),
        "helper": warmhelper.VALUE,
        "argv0": sys.argv[0],
        "main": sys.modules["__main__"].__name__,
        "child": subprocess.Popen(["sleep", "300"]).pid if child else None,
    }
    with open(out + ".tmp", "w") as fh:
        json.dump(facts, fh)
    os.replace(out + ".tmp", out)
    time.sleep(seconds)
    if exit_code >= 0:
        os._exit(exit_code)
    if fail:
        raise RuntimeError("the probe was told to fail")
    return label
'''


@dataclass
class Stack:
    folder: Path
    socket: Path
    zygote: subprocess.Popen[bytes] | None
    worker: subprocess.Popen[bytes]
    deployment: str
    cold_deployment: str  # the same flow, with an environment variable the zygote was not started with

    @property
    def worker_log(self) -> str:
        return (self.folder / "worker.log").read_text(errors="replace")

    def ended(self, pid: int, timeout_s: float = 30) -> str:
        """How the zygote's log says its child ``pid`` ended (``exited N`` or ``killed by signal N``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in (self.folder / "zygote.log").read_text(errors="replace").splitlines():
                if f" run {pid} " in line and " after " in line:
                    return line.split(f" run {pid} ", 1)[1].rsplit(" after ", 1)[0]
            assert time.monotonic() < deadline, f"the zygote's log does not say how run {pid} ended"
            time.sleep(0.2)


def start_zygote(
    folder: Path, sock: Path, env: dict[str, str], preload: str = "warmflow.py"
) -> subprocess.Popen[bytes]:
    with open(folder / "zygote.log", "ab") as log:
        proc = subprocess.Popen(
            warmstart.zygote_command(sock, [str(folder / preload)]),
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while not sock.exists():
        assert proc.poll() is None, (folder / "zygote.log").read_text()
        assert time.monotonic() < deadline, "the zygote did not listen within 180 s"
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def register(folder: Path, sock: Path) -> tuple[str, str]:
    """A process pool whose job runs the launcher, and two deployments of the probe (one with an environment
    variable the zygote lacks), their entry point relative to ``folder`` (a pull step changes there)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.utilities.callables import parameter_schema
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = warmstart.launcher_command(sock)

    async def create() -> tuple[str, str]:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process", base_job_template=template))
            flow_id = await client.create_flow_from_name("warm-probe")
            ids = []
            for name, env in (("warm", {}), ("other-env", {"PYTHONWARMSTARTTEST": "1"})):
                ids.append(
                    str(
                        await client.create_deployment(
                            flow_id=flow_id,
                            name=name,
                            entrypoint="warmflow.py:probe",
                            work_pool_name=POOL,
                            pull_steps=[
                                {"prefect.deployments.steps.set_working_directory": {"directory": str(folder)}}
                            ],
                            job_variables={"env": env} if env else {},
                            parameter_openapi_schema=parameter_schema(_probe_fn(folder)).model_dump_for_openapi(),
                        )
                    )
                )
            return ids[0], ids[1]

    return asyncio.run(create())


def _probe_fn(folder: Path) -> Any:
    from prefect.utilities.importtools import load_script_as_module

    before = list(sys.path)
    try:
        return load_script_as_module(str(folder / "warmflow.py")).probe.fn
    finally:
        sys.path[:] = before


@pytest.fixture(scope="module")
def stack(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("warmstart")
    (folder / "warmflow.py").write_text(textwrap.dedent(FLOW))
    (folder / "warmhelper.py").write_text('VALUE = "first"\n')
    sock = folder / warmstart.SOCKET
    # one environment for both, as `esdl up` gives them (this process's changes while the test runs: none)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    zygote = start_zygote(folder, sock, env)
    worker = None
    try:
        warm, cold = register(folder, sock)
        with open(folder / "worker.log", "ab") as log:
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
                cwd=folder,
                env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield Stack(folder, sock, zygote, worker, warm, cold)
    finally:
        stop(worker)
        stop(zygote)


# -- helpers ------------------------------------------------------------------------------------------------------


def run(deployment: str, **parameters: Any) -> str:
    from prefect.client.orchestration import get_client

    async def create() -> str:
        async with get_client() as client:
            return str((await client.create_flow_run_from_deployment(UUID(deployment), parameters=parameters)).id)

    return asyncio.run(create())


def state(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            found = await client.read_flow_run(run_id)  # type: ignore[arg-type]
            return found.state.type.value if found.state is not None else "NONE"

    return asyncio.run(read())


def wait_state(run_id: str, states: tuple[str, ...] = FINAL, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = state(run_id)
        if now in states:
            return now
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} not in {states} within {timeout_s:g} s (it is {state(run_id)})")


def facts(out: Path, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while not out.exists():
        assert time.monotonic() < deadline, f"the probe wrote nothing to {out}"
        time.sleep(0.2)
    return dict(json.loads(out.read_text()))


def logs(run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def read() -> list[str]:
        async with get_client() as client:
            found = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))  # type: ignore[list-item]
            return [entry.message for entry in found]

    return asyncio.run(read())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- tests --------------------------------------------------------------------------------------------------------


def test_a_warm_run_completes_with_its_parameters_and_logs(stack: Stack) -> None:
    assert stack.zygote is not None
    assert stat.S_IMODE(stack.socket.stat().st_mode) == 0o600
    outs = [stack.folder / f"first-{i}.json" for i in range(2)]
    ids = [run(stack.deployment, out=str(out), label=f"first-{i}") for i, out in enumerate(outs)]
    for run_id in ids:
        assert wait_state(run_id) == "COMPLETED"
    seen = [facts(out) for out in outs]
    for i, f in enumerate(seen):
        assert f["ppid"] == stack.zygote.pid  # forked by the zygote: a warm start
        assert f["label"] == f"first-{i}" and f["cwd"] == str(stack.folder)
        assert f["main"] == "__main__" and f["argv0"].endswith(os.path.join("prefect", "engine.py"))
        assert f["helper"] == "first"
    assert seen[0]["random"] != seen[1]["random"] and seen[0]["numpy"] != seen[1]["numpy"]
    wanted = {"probe says hello to first-0", "probe prints for first-0", "Finished in state Completed()"}
    deadline = time.monotonic() + 60  # (a run's logs are sent in batches, also after it ended)
    while not wanted <= set(logs(ids[0])):
        assert time.monotonic() < deadline, logs(ids[0])
        time.sleep(0.5)
    assert "cold start" not in stack.worker_log


def test_a_failing_warm_run_fails(stack: Stack) -> None:
    run_id = run(stack.deployment, out=str(stack.folder / "fails.json"), fail=True)
    assert wait_state(run_id) == "FAILED"
    assert facts(stack.folder / "fails.json")["ppid"] == stack.zygote.pid  # type: ignore[union-attr]


def test_a_warm_runs_exit_code_reaches_the_worker(stack: Stack) -> None:
    run_id = run(stack.deployment, out=str(stack.folder / "exits.json"), exit_code=3)
    assert wait_state(run_id) == "CRASHED"
    assert facts(stack.folder / "exits.json")["ppid"] == stack.zygote.pid  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while f"Reported flow run '{run_id}' as crashed: Process exited with status code: 3" not in stack.worker_log:
        assert time.monotonic() < deadline, stack.worker_log[-3000:]
        time.sleep(0.5)


def test_cancelling_a_warm_run_cancels_it_and_ends_its_process(stack: Stack) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    out = stack.folder / "cancelled.json"
    run_id = run(stack.deployment, out=str(out), seconds=300, child=True)
    pid, child = facts(out)["pid"], facts(out)["child"]
    assert wait_state(run_id, ("RUNNING",)) == "RUNNING"

    async def cancel() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(run_id, Cancelling(), force=True)  # type: ignore[arg-type]

    asyncio.run(cancel())
    assert wait_state(run_id, timeout_s=90) == "CANCELLED"
    assert gone_within(pid, 30), f"the cancelled run's process {pid} still runs"
    assert gone_within(child, 30), f"the cancelled run's subprocess {child} still runs"  # (its process group)
    # the launcher passed Prefect's SIGTERM on: the engine ended by itself (not killed with its launcher)
    assert stack.ended(pid) == "exited 0"


def test_a_warm_run_whose_process_is_killed_does_not_complete(stack: Stack) -> None:
    out = stack.folder / "killed.json"
    run_id = run(stack.deployment, out=str(out), seconds=300)
    pid = facts(out)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_state(run_id, timeout_s=90) == "CRASHED"
    # the launcher ended as its child did: killed by SIGKILL
    assert f"Reported flow run '{run_id}' as crashed: Process exited with status code: -9" in stack.worker_log


def test_a_warm_run_whose_launcher_is_killed_ends_too(stack: Stack) -> None:
    from prefect.client.orchestration import get_client

    out = stack.folder / "orphan.json"
    run_id = run(stack.deployment, out=str(out), seconds=300, child=True)
    pid, child = facts(out)["pid"], facts(out)["child"]

    async def launcher() -> int:
        async with get_client() as client:
            found = await client.read_flow_run(run_id)  # type: ignore[arg-type]
            return int(str(found.infrastructure_pid).rsplit(":", 1)[-1])

    launcher_pid = asyncio.run(launcher())
    assert launcher_pid != pid
    os.kill(launcher_pid, signal.SIGKILL)
    assert gone_within(pid, 30), "the zygote did not end the run of a launcher that died"
    assert gone_within(child, 30), "the zygote did not end the run's subprocess"
    assert wait_state(run_id, timeout_s=90) == "CRASHED"
    assert stack.ended(pid) == "killed by signal 9"


def test_a_run_with_another_environment_starts_cold(stack: Stack) -> None:
    out = stack.folder / "other-env.json"
    run_id = run(stack.cold_deployment, out=str(out))
    assert wait_state(run_id, timeout_s=180) == "COMPLETED"
    assert facts(out)["ppid"] == stack.worker.pid  # the launcher became `python -m prefect.engine`
    refused = "the warm-start process refused: an environment it was not started with: PYTHONWARMSTARTTEST"
    assert f"cold start ({refused})" in stack.worker_log


def test_a_changed_module_is_imported_afresh(stack: Stack) -> None:
    time.sleep(0.01)
    (stack.folder / "warmhelper.py").write_text('VALUE = "second"\n')
    cold = stack.folder / "changed-cold.json"
    assert wait_state(run(stack.deployment, out=str(cold)), timeout_s=180) == "COMPLETED"
    assert facts(cold)["helper"] == "second"
    assert facts(cold)["ppid"] == stack.worker.pid  # the zygote refused while its code was stale
    # it re-executes itself (the same process) with the new code: the next runs are warm again
    zygote_log = stack.folder / "zygote.log"
    deadline = time.monotonic() + 180
    while zygote_log.read_text().count("listening on") < 2:
        assert time.monotonic() < deadline, zygote_log.read_text()[-3000:]
        time.sleep(0.5)
    warm = stack.folder / "changed-warm.json"
    assert wait_state(run(stack.deployment, out=str(warm))) == "COMPLETED"
    assert facts(warm)["helper"] == "second" and facts(warm)["ppid"] == stack.zygote.pid  # type: ignore[union-attr]


def test_without_the_zygote_a_run_starts_cold(stack: Stack) -> None:
    stop(stack.zygote)
    assert not stack.socket.exists()
    out = stack.folder / "no-zygote.json"
    assert wait_state(run(stack.deployment, out=str(out)), timeout_s=180) == "COMPLETED"
    assert facts(out)["ppid"] == stack.worker.pid
    assert "cold start (no warm-start process is listening)" in stack.worker_log


def test_a_zygote_whose_flows_start_a_thread_starts_every_run_cold(tmp_path: Path) -> None:
    """Forking a process with threads is not safe: such a zygote refuses every run, and each starts cold."""
    (tmp_path / "threaded.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='sleeper', daemon=True).start()\n"
    )
    sock = tmp_path / "z.sock"
    env = dict(os.environ)
    zygote = start_zygote(tmp_path, sock, env, preload="threaded.py")
    try:
        said = (tmp_path / "zygote.log").read_text()
        assert "importing the flows started threads (sleeper): no run can start warm" in said, said
        # a launcher with no flow run to start: refused, it becomes `python -m prefect.engine`, which says so
        launched = subprocess.run(
            [sys.executable, "-m", "esdl.warmstart", "launch", str(sock)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop(zygote)
    refused = "the warm-start process refused: it has threads (sleeper), and a fork of it would not be safe"
    assert f"cold start ({refused})" in launched.stderr, launched.stderr[-3000:]
    assert "Invalid flow run id" in launched.stderr and launched.returncode == 1, launched.stderr[-3000:]


def test_differences_allow_run_time_settings_only() -> None:
    base = {"PATH": "/bin", "PREFECT_API_URL": "a", "PYTHONPATH": "x", "PREFECT_LOGGING_LEVEL": "INFO"}
    same = {**base, "PREFECT_API_URL": "b", "PREFECT__FLOW_RUN_ID": "1", "ESDL_X": "1", "PWD": "/tmp"}
    assert warmstart.differences(base, same) == []
    assert warmstart.differences(base, {**base, "PYTHONPATH": "y", "PREFECT_LOGGING_LEVEL": "DEBUG"}) == [
        "PREFECT_LOGGING_LEVEL",
        "PYTHONPATH",
    ]
    assert warmstart.differences(base, {**base, "OMP_NUM_THREADS": "1"}) == ["OMP_NUM_THREADS"]


def test_the_launcher_imports_the_standard_library_only() -> None:
    # it is what each run's job starts: anything more would add its import time to every warm start
    probe = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)
        import esdl.warmstart.launcher
        print("\\n".join(sorted(set(sys.modules) - before)))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    foreign = [m for m in done.stdout.split() if m.split(".")[0] not in sys.stdlib_module_names]
    assert foreign == ["esdl", "esdl.warmstart", "esdl.warmstart.launcher", "esdl.warmstart.protocol"]
