"""The local backend on real worker processes: names, resources, devices, the missing-GPU rules, exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from distributed import Client

from cubes.errors import ScaleOutError
from cubes.scaleout.backend import GroupBackend
from cubes.scaleout.devices import DEVICES_ENV, detect_gpus
from cubes.scaleout.local import LocalBackend
from esdl_testing.paths import REPO_ROOT
from esdl_testing.scaleout import device_env, two_groups, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_device_detection_can_be_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "2, 3")
    assert detect_gpus() == ["2", "3"]
    monkeypatch.setenv(DEVICES_ENV, "")
    assert detect_gpus() == []
    monkeypatch.delenv(DEVICES_ENV)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert detect_gpus() == ["1"]  # a process limited to some devices hands out only those


def test_groups_run_as_named_processes_with_their_resources_and_own_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "4,7")
    logs: list[str] = []
    backend = LocalBackend(two_groups(gpu_max=2), log=logs.append)
    try:
        assert isinstance(backend, GroupBackend)
        assert backend.group_sizes() == {"default": 1, "gpu": 0}  # each group at its minimum
        backend.scale_group("gpu", 2)
        assert backend.group_sizes() == {"default": 1, "gpu": 2}
        with Client(backend.scheduler_address) as client:
            client.wait_for_workers(3, timeout=60)
            info = {w["name"]: w for w in client.scheduler_info(n_workers=-1)["workers"].values()}
            seen = sorted(client.run(device_env).values())
        assert sorted(info) == ["default-0", "gpu-0", "gpu-1"]
        assert info["gpu-0"]["resources"] == {"GPU": 1.0} and info["default-0"]["resources"] == {}
        assert {backend.group_of(n) for n in info} == {"default", "gpu"} and backend.group_of("stranger") is None
        # each GPU worker sees its own device, CPU workers none
        assert seen == [("default-0", "default", ""), ("gpu-0", "gpu", "4"), ("gpu-1", "gpu", "7")]
        assert any("started worker gpu-1" in m and "device(s) 7" in m for m in logs)
    finally:
        backend.close()


def test_a_gpu_group_without_devices_fails_at_start_when_asked_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "")
    profile = two_groups().model_copy(update={"on_missing_gpu": "error"})
    with pytest.raises(ScaleOutError, match=r"GPU groups gpu .* need CUDA devices and this machine has none"):
        LocalBackend(profile)


def test_too_few_devices_for_the_gpu_groups_bounds_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "0")
    with pytest.raises(ScaleOutError, match="need up to 3 CUDA devices and this machine has 1"):
        LocalBackend(two_groups(gpu_max=3))


def test_the_cpu_fallback_says_so_and_gives_workers_no_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "")
    logs: list[str] = []
    backend = LocalBackend(two_groups(), log=logs.append)
    try:
        backend.scale_group("gpu", 1)
        with Client(backend.scheduler_address) as client:
            client.wait_for_workers(2, timeout=60)
            seen = sorted(client.run(device_env).values())
    finally:
        backend.close()
    assert "no CUDA device on this machine" in logs[0] and "on_missing_gpu: cpu" in logs[0]
    assert seen == [("default-0", "default", ""), ("gpu-0", "gpu", "")]


def test_a_dead_worker_is_no_longer_counted_and_close_stops_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "")
    logs: list[str] = []
    backend = LocalBackend(two_groups(default_max=2), log=logs.append)
    try:
        backend.scale_group("default", 2)
        pids = backend.processes()
        os.kill(pids["default-0"], signal.SIGKILL)
        wait_until(lambda: backend.group_sizes()["default"] == 1, 30, "the dead worker to be reaped")
        assert any("worker default-0 exited unexpectedly" in m for m in logs)
        backend.scale_group("default", 2)  # replaced by a new name, never a reused one
        assert sorted(backend.processes()) == ["default-1", "default-2"]
        # shrinking without names stops the newest first
        backend.scale_group("default", 1)
        wait_until(lambda: list(backend.processes()) == ["default-1"], 30, "default-2 to stop")
        pids = backend.processes()
    finally:
        backend.close()
    assert not any(_alive(pid) for pid in pids.values())
    assert all(stopped is not None for _, _, _, stopped in backend.lifetimes())


def test_a_group_whose_workers_die_at_start_stops_starting_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "")
    base = two_groups()
    broken = base.model_copy(update={"groups": [base.groups[0], base.groups[1].model_copy(update={"memory": "lots"})]})
    backend = LocalBackend(broken)
    try:
        with pytest.raises(ScaleOutError, match=r"group 'gpu': its last 3 workers died within 10 s of starting"):
            for _ in range(4):  # three deaths, then the fourth start is refused
                backend.scale_group("gpu", 1)
                wait_until(lambda: backend.group_sizes()["gpu"] == 0, 30, "the broken worker to die")
        assert backend.group_sizes() == {"default": 1, "gpu": 0}
    finally:
        backend.close()


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    # multiprocessing would import the main module in each worker: a script that opens a cluster at its top level
    # would run itself again there (and a flow run's workers would import prefect.engine, its main module)
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            from distributed import Client
            from cubes.scaleout import BUILTIN_PROFILES
            from cubes.scaleout.cluster import open_cluster

            print("script body", flush=True)
            with open_cluster(BUILTIN_PROFILES["local-cpu"]) as cluster, Client(cluster.scheduler_address) as c:
                def double(x):
                    return 2 * x
                print("answer", c.submit(double, 21).result(), flush=True)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["script body", "answer 42"], done.stdout
