"""The worker command lines the Kubernetes resources carry, run for real on this machine.

There is no cluster here, so each rendered worker container is started the way its pod would start it: the
Deployment the operator's own code builds from our DaskWorkerGroup, its ``$(VAR)`` arguments expanded from the
container's environment as the kubelet does, the scheduler address the operator injects pointed at a local
scheduler. The workers must join with the group's threads, memory limit and resources, be placed in their group by
name, take only the tasks their resources allow, and the scale plan must remove exactly the workers named.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask.utils import parse_bytes
from dask_kubernetes.operator.controller.controller import build_worker_deployment_spec
from distributed import Client, LocalCluster

from cubes.scaleout.kubernetes import GPU_LIMIT, group_of_worker, render_profile, scale_plan
from cubes.scaleout.profiles import ClusterProfile, WorkerGroup
from esdl_testing.builds import wait_for
from esdl_testing.k8s import expand_env

CLUSTER = "esdl-run"
NAMESPACE = "esdl"

PROFILE = ClusterProfile(
    name="small-gpu",
    backend="kubernetes",
    groups=[
        WorkerGroup(name="default", min_workers=1, max_workers=2, threads=2, memory="600MiB"),
        WorkerGroup(name="gpu", max_workers=2, threads=1, memory="700MiB", gpus=1, resources={"VRAM": 16}),
    ],
)
GROUPS = [g.name for g in PROFILE.groups]


def pod_command(group: str, uid: str, scheduler: str) -> tuple[list[str], str]:
    """The command a worker pod of ``group`` runs, and the worker's (Deployment's) name."""
    manifests = render_profile(PROFILE, CLUSTER)
    worker = (
        manifests.cluster["spec"]["worker"] if group == "default" else manifests.worker_groups[group]["spec"]["worker"]
    )
    deployment = build_worker_deployment_spec(f"{CLUSTER}-{group}", NAMESPACE, CLUSTER, uid, worker["spec"], {}, {})
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://{CLUSTER}-scheduler.{NAMESPACE}.svc.cluster.local:8786"
    env["DASK_SCHEDULER_ADDRESS"] = scheduler  # the Service's DNS name does not resolve here
    args = [expand_env(a, env) for a in container["args"]]
    assert args[:2] == ["dask", "worker"]
    # the image's `dask` is this environment's; the dashboard port is the pod's own, any free one here
    args[0] = str(Path(sys.executable).parent / "dask")
    args[args.index("--dashboard-address") + 1] = ":0"
    return [*args, "--no-nanny", scheduler], deployment["metadata"]["name"]


@pytest.fixture
def scheduler() -> Iterator[Client]:
    # a real TCP scheduler (the workers are other processes), no workers of its own
    with (
        LocalCluster(
            n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def start_pod(scheduler: Client) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(group: str, uid: str) -> str:
        command, name = pod_command(group, uid, str(scheduler.scheduler_info()["address"]))
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return name

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def workers_by_name(client: Client) -> dict[str, dict]:
    """The scheduler's workers by Dask name, each with its ``address``."""
    return {w["name"]: w | {"address": a} for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}


def test_rendered_workers_join_with_their_groups_resources(scheduler: Client, start_pod) -> None:
    cpu = start_pod("default", "00000000aa")
    gpu = start_pod("gpu", "00000000bb")
    wait_for(lambda: {cpu, gpu} <= set(workers_by_name(scheduler)), timeout=90)
    workers = workers_by_name(scheduler)

    assert group_of_worker(CLUSTER, GROUPS, cpu) == "default" and group_of_worker(CLUSTER, GROUPS, gpu) == "gpu"
    assert workers[cpu]["nthreads"] == 2 and workers[gpu]["nthreads"] == 1
    assert workers[cpu]["memory_limit"] == parse_bytes("600MiB")
    assert workers[gpu]["memory_limit"] == parse_bytes("700MiB")
    assert workers[cpu]["resources"] == {}
    assert workers[gpu]["resources"] == {"GPU": 1, "VRAM": 16}
    gpu_container = render_profile(PROFILE, CLUSTER).worker_groups["gpu"]["spec"]["worker"]["spec"]["containers"][0]
    assert gpu_container["resources"]["limits"][GPU_LIMIT] == "1"

    # GPU-annotated work runs on the gpu group's worker only, the rest anywhere
    addresses = {name: w["address"] for name, w in workers.items()}
    on_gpu = [scheduler.submit(os.getpid, pure=False, key=f"gpu-{i}", resources={"GPU": 1}) for i in range(8)]
    scheduler.gather(on_gpu)
    assert set(scheduler.who_has(on_gpu).values()) == {(addresses[gpu],)}
    anywhere = [scheduler.submit(os.getpid, pure=False, key=f"cpu-{i}") for i in range(4)]
    assert set(scheduler.gather(anywhere)) <= set(scheduler.run(os.getpid).values())


def test_scale_plan_removes_exactly_the_named_workers(scheduler: Client, start_pod) -> None:
    """Three gpu pods, one never joins: shrinking to one retires the named worker (its results move) and drops
    the pod that never joined; the worker not named keeps running and keeps its results."""
    a = start_pod("gpu", "00000000a1")
    b = start_pod("gpu", "00000000b2")
    never_joined = f"{CLUSTER}-gpu-worker-00000000c3"  # a Pending pod: its Deployment exists, its worker never came
    wait_for(lambda: {a, b} <= set(workers_by_name(scheduler)), timeout=90)
    addr = {name: w["address"] for name, w in workers_by_name(scheduler).items()}
    on_a = scheduler.submit(lambda: 42, key="on-a", workers=[addr[a]])
    on_b = scheduler.submit(lambda: 43, key="on-b", workers=[addr[b]])
    scheduler.gather([on_a, on_b])

    plan = scale_plan(
        CLUSTER,
        GROUPS,
        "gpu",
        1,
        deployments=[a, b, never_joined],
        registered=set(workers_by_name(scheduler)),
        retire=[a],
    )
    assert plan.retire == (a,) and plan.delete_deployments == (a, never_joined) and plan.replicas == 1
    # what the backend does first: retire through the scheduler, as the operator does before deleting a worker
    scheduler.retire_workers(names=list(plan.retire), close_workers=True)
    wait_for(lambda: set(workers_by_name(scheduler)) == {b}, timeout=60)
    assert scheduler.gather(on_a) == 42  # its result moved to the worker that stays
    assert scheduler.who_has([on_a])[on_a.key] == (addr[b],)
    assert scheduler.gather(on_b) == 43
