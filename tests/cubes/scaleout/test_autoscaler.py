"""The autoscaler on real local clusters (worker processes, the CPU fallback for the gpu group, short timeouts)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import pytest
from distributed import Client, wait

from cubes.errors import ResourceUnavailableError
from cubes.scaleout.cluster import ProfileCluster, open_cluster
from cubes.scaleout.devices import DEVICES_ENV
from cubes.scaleout.profiles import ClusterProfile
from esdl_testing.scaleout import marked, two_groups, wait_until, where

GPU = {"GPU": 1}


@pytest.fixture(autouse=True)
def _no_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICES_ENV, "")  # the CPU fallback, whatever the machine has


@pytest.fixture
def logs() -> list[str]:
    return []


@contextmanager
def _open(profile: ClusterProfile, logs: list[str]) -> Iterator[tuple[ProfileCluster, Client]]:
    with open_cluster(profile, log=logs.append) as cluster, Client(cluster.scheduler_address) as client:
        yield cluster, client


def _sizes(cluster: ProfileCluster, group: str) -> int:
    return cluster.group_sizes()[group]


def test_gpu_work_scales_the_gpu_group_from_zero_runs_only_there_and_it_goes_back_to_zero(logs: list[str]) -> None:
    # default pinned at one worker: the CPU tasks beside the GPU ones must not make anything but gpu move
    with _open(two_groups(gpu_max=2, default_max=1), logs) as (cluster, client):
        assert cluster.group_sizes() == {"default": 1, "gpu": 0}
        with dask.annotate(resources=GPU):  # as the ML flow marks its graph
            tasks = [dask.delayed(where, pure=False)(1.0, i) for i in range(4)]
        gpu_futures = client.compute(tasks)
        cpu_futures = client.map(where, [0.1] * 4, range(4), pure=False)
        ran_gpu = client.gather(gpu_futures)
        ran_cpu = client.gather(cpu_futures)
        assert ran_gpu and all(name.startswith("gpu-") for name in ran_gpu)
        assert set(ran_cpu) <= {"default-0", "gpu-0", "gpu-1"}
        assert max(e.after for e in cluster.events if e.group == "gpu") == 2  # four tasks, at most two workers
        wait_until(lambda: _sizes(cluster, "gpu") == 0, 60, "the idle gpu group to shrink to zero")
        events = [(e.group, e.direction) for e in cluster.events]
        assert events[0] == ("gpu", "up") and events[-1] == ("gpu", "down")
        assert "default" not in {g for g, _ in events}  # the CPU group was never touched
        metrics = cluster.metrics()
        assert 'esdl_scale_events_total{profile="test-groups",group="gpu",direction="up"} 1' in metrics
        assert 'esdl_group_workers{profile="test-groups",group="gpu"} 0' in metrics
    assert any("autoscaler: group gpu 0 -> " in m for m in logs)


def test_cpu_load_scales_the_default_group_on_its_own(logs: list[str]) -> None:
    with _open(two_groups(default_max=2, default_min=0), logs) as (cluster, client):
        assert cluster.group_sizes() == {"default": 0, "gpu": 0}
        ran = client.gather(client.map(where, [0.5] * 8, range(8), pure=False))
        assert set(ran) <= {"default-0", "default-1"}
        assert [(e.group, e.before, e.after) for e in cluster.events][:1] == [("default", 0, 2)]
        wait_until(lambda: _sizes(cluster, "default") == 0, 60, "the idle default group to shrink to its minimum")
        assert {e.group for e in cluster.events} == {"default"}


def test_a_gpu_worker_killed_mid_task_is_replaced_and_the_task_completes(logs: list[str], tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with _open(two_groups(gpu_max=1), logs) as (cluster, client):
        backend = cluster.backend
        future = client.submit(marked, str(marker), 3.0, pure=False, resources=GPU)
        wait_until(marker.exists, 60, "the GPU task to start")
        assert marker.read_text() == "gpu-0\n"
        os.kill(backend.processes()["gpu-0"], signal.SIGKILL)  # type: ignore[attr-defined]
        assert future.result(timeout=120) == "gpu-1"  # rerun on the worker the autoscaler started
        assert marker.read_text() == "gpu-0\ngpu-1\n"
        ups = [(e.before, e.after) for e in cluster.events if e.group == "gpu" and e.direction == "up"]
        assert ups == [(0, 1), (0, 1)]
    assert any("worker gpu-0 exited unexpectedly" in m for m in logs)


def test_a_task_needing_a_resource_nobody_offers_fails_naming_it(logs: list[str]) -> None:
    with _open(two_groups(resource_wait_timeout_s=1.0), logs) as (cluster, client):
        future = client.submit(where, 0.0, resources={"TPU": 1}, pure=False)
        after = client.submit(len, [future])  # a dependent fails with it
        with pytest.raises(ResourceUnavailableError, match=r"TPU=1: no worker group offers it \(groups offer: GPU\)"):
            future.result(timeout=60)
        with pytest.raises(ResourceUnavailableError):
            after.result(timeout=60)
        assert cluster.autoscaler is not None and cluster.autoscaler.failed_tasks == 1
        assert "esdl_tasks_unavailable_total" in cluster.metrics()
        # the cluster itself carries on
        assert client.submit(where, 0.0, pure=False).result(timeout=60) == "default-0"
    assert any("failed 1 task(s) needing TPU=1" in m for m in logs)


def test_retiring_an_idle_gpu_worker_keeps_the_results_only_it_held(logs: list[str]) -> None:
    with _open(two_groups(gpu_max=1), logs) as (cluster, client):
        future = client.submit(where, 0.1, pure=False, resources=GPU)
        wait([future])
        assert client.who_has([future])[future.key] != ()
        wait_until(lambda: _sizes(cluster, "gpu") == 0, 60, "the gpu group to retire its worker")
        # the result moved to the default worker before gpu-0 went: nothing is recomputed
        assert future.result(timeout=30) == "gpu-0"
        holders = client.who_has([future])[future.key]
        names = {w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if a in holders}
        assert names == {"default-0"}


def test_bursty_gpu_load_starts_the_group_once_and_stops_it_once(logs: list[str]) -> None:
    # bursts of short GPU tasks every second for 8 s, pauses shorter than the idle timeout
    with _open(two_groups(gpu_max=1, idle_timeout_s=3.0, cooldown_s=2.0), logs) as (cluster, client):
        for burst in range(8):
            client.gather(client.map(where, [0.05] * 3, range(3 * burst, 3 * burst + 3), pure=False, resources=GPU))
            time.sleep(1.0)
        wait_until(lambda: _sizes(cluster, "gpu") == 0, 60, "the gpu group to stop after the last burst")
        assert [(e.group, e.before, e.after) for e in cluster.events] == [("gpu", 0, 1), ("gpu", 1, 0)]
