"""Kubernetes resources of a cluster profile and the requests that scale them (pure functions, no cluster needed).

A profile with ``backend: kubernetes`` becomes the dask-kubernetes operator's custom resources: one ``DaskCluster``
(the scheduler and the ``default`` group as its worker spec) and one ``DaskWorkerGroup`` per other group. The
operator turns every worker of a group into a ``Deployment`` named ``<cluster>-<group>-worker-<10 hex>`` and passes
that name to the worker as its Dask name, so a worker's group is read back from its name (:func:`group_of_worker`).

Scaling is a merge patch of a group's ``spec.worker.replicas``. The operator, asked to shrink, retires workers the
scheduler chooses among *all* workers, whichever group they are in, and its own autoscaler only scales the default
group (dask-kubernetes issue 933); so our autoscaler names the workers to remove: their Deployments are deleted
before the patch, which then leaves the operator nothing to choose (:func:`scale_plan`).
The backend that sends these requests is :mod:`cubes.scaleout.kubernetes_backend`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from dask.utils import parse_bytes

from cubes.errors import KubernetesError
from cubes.scaleout.profiles import ClusterProfile, WorkerGroup

API_VERSION = "kubernetes.dask.org/v1"
"""Group and version of the operator's custom resources (the CRDs shipped with dask-kubernetes)."""

DEFAULT_GROUP = "default"
"""The group that is the DaskCluster's own worker spec; the operator names it ``<cluster>-default``."""

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788

MAX_CLUSTER_NAME = 63 - len("-scheduler")
"""The scheduler's Service, ``<cluster>-scheduler``, must be a DNS label of at most 63 characters."""

GPU_LIMIT = "nvidia.com/gpu"
"""The extended resource the NVIDIA device plugin offers; one unit per device."""

PROFILE_LABEL = "esdl.dev/profile"
GROUP_LABEL = "esdl.dev/group"

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_WORKER_SUFFIX = r"-worker-[0-9a-f]{10}"  # the operator: f"{worker_group_name}-worker-{uuid4().hex[:10]}"


def check_cluster_name(name: str) -> str:
    """Return ``name`` if it can name a DaskCluster whose groups' resources are all valid Kubernetes names.

    Raises:
        KubernetesError: the name is not a DNS label short enough for ``<name>-scheduler``.
    """
    if len(name) > MAX_CLUSTER_NAME or not _DNS_LABEL.match(name):
        raise KubernetesError(
            f"cluster name {name!r} is not a lowercase DNS label of at most {MAX_CLUSTER_NAME} characters "
            "(letters, digits and '-', starting with a letter)"
        )
    return name


def worker_group_name(cluster: str, group: str) -> str:
    """The DaskWorkerGroup of ``group`` in ``cluster``: ``<cluster>-<group>`` (as the operator and KubeCluster name it).

    Raises:
        KubernetesError: the name would be longer than a label value may be (it labels every worker pod).
    """
    name = f"{cluster}-{group}"
    if len(name) > 63:
        raise KubernetesError(f"worker group name {name!r} is longer than 63 characters: shorten the cluster name")
    return name


def k8s_quantity(dask_memory: str) -> str:
    """A Dask memory string (``8GiB``, ``500MB``) as a Kubernetes quantity (``8Gi``, ``500M``).

    Raises:
        KubernetesError: the string is not a size Dask understands.
    """
    try:
        n = int(parse_bytes(dask_memory))
    except (ValueError, TypeError) as exc:
        raise KubernetesError(f"memory {dask_memory!r} is not a size (e.g. 8GiB, 500MB)") from exc
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("G", 10**9), ("M", 10**6), ("Ki", 2**10)):
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def worker_args(group: WorkerGroup) -> list[str]:
    """The ``dask worker`` command line (``dask-worker`` is gone from distributed) of a group's workers.

    The name is the operator's ``$(DASK_WORKER_NAME)`` (its Deployment's name, which :func:`group_of_worker`
    parses); resources are passed explicitly because Dask does not detect devices.
    """
    args = [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--nthreads",
        str(group.threads),
        "--memory-limit",
        group.memory,
        "--dashboard",
        "--dashboard-address",
        str(WORKER_DASHBOARD_PORT),
    ]
    resources = group.worker_resources()
    if resources:
        args += ["--resources", " ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))]
    return args


def _labels(profile: ClusterProfile, group: str | None) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": "esdl", PROFILE_LABEL: profile.name}
    if group is not None:
        labels[GROUP_LABEL] = group
    return labels


def worker_spec(profile: ClusterProfile, group: WorkerGroup) -> dict[str, Any]:
    """The operator's ``DaskWorker`` spec of one group: replicas (the group's minimum), labels and the pod.

    The pod asks for ``threads`` CPUs (or ``cpu_request``) and the Dask memory limit, as requests and limits (the
    memory limit equals Dask's: its nanny restarts a worker at 95 % of it, before the kernel would kill the pod),
    plus ``gpus`` NVIDIA devices as a limit (extended resources take no separate request), with the group's node
    selector and tolerations. Quantities are strings: the CRD types them so.
    """
    cpu = group.cpu_request or str(group.threads)
    memory = k8s_quantity(group.memory)
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu, "memory": memory},
    }
    if group.gpus:
        resources["limits"][GPU_LIMIT] = str(group.gpus)
    options = profile.kubernetes
    image = (options.gpu_image or options.image) if group.gpus else options.image
    pod: dict[str, Any] = {
        "containers": [
            {
                "name": "worker",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": worker_args(group),
                "resources": resources,
                "ports": [{"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}],
            }
        ]
    }
    if group.node_selector:
        pod["nodeSelector"] = dict(group.node_selector)
    if group.tolerations:
        pod["tolerations"] = [t.model_dump(exclude_none=True) for t in group.tolerations]
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    return {"replicas": group.min_workers, "metadata": {"labels": _labels(profile, group.name)}, "spec": pod}


def _health() -> dict[str, Any]:
    return {"httpGet": {"port": "http-dashboard", "path": "/health"}}


def scheduler_spec(profile: ClusterProfile, cluster: str) -> dict[str, Any]:
    """The operator's ``DaskScheduler`` spec: the scheduler pod (probes on ``/health``) and its ClusterIP Service."""
    memory = k8s_quantity(profile.kubernetes.scheduler_memory)
    pod: dict[str, Any] = {
        "containers": [
            {
                "name": "scheduler",
                "image": profile.kubernetes.image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["dask", "scheduler", "--host", "0.0.0.0"],
                "resources": {"requests": {"cpu": "1", "memory": memory}, "limits": {"memory": memory}},
                "ports": [
                    {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
                    {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
                ],
                "readinessProbe": {**_health(), "initialDelaySeconds": 0, "periodSeconds": 1, "timeoutSeconds": 300},
                "livenessProbe": {**_health(), "initialDelaySeconds": 15, "periodSeconds": 20},
            }
        ]
    }
    if profile.kubernetes.service_account:
        pod["serviceAccountName"] = profile.kubernetes.service_account
    return {
        "metadata": {"labels": _labels(profile, None)},
        "spec": pod,
        "service": {
            "type": "ClusterIP",
            "selector": {"dask.org/cluster-name": cluster, "dask.org/component": "scheduler"},
            "ports": [
                {"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT, "targetPort": "tcp-comm"},
                {"name": "http-dashboard", "protocol": "TCP", "port": DASHBOARD_PORT, "targetPort": "http-dashboard"},
            ],
        },
    }


@dataclass(frozen=True)
class ProfileManifests:
    """The custom resources of one profile: the DaskCluster and the DaskWorkerGroups of its other groups."""

    cluster: dict[str, Any]
    worker_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Group name → its DaskWorkerGroup (every group but ``default``)."""

    def all(self) -> list[dict[str, Any]]:
        """Every resource, the DaskCluster first (the operator adopts worker groups into an existing cluster)."""
        return [self.cluster, *self.worker_groups.values()]


def render_profile(profile: ClusterProfile, name: str | None = None, namespace: str | None = None) -> ProfileManifests:
    """The DaskCluster and DaskWorkerGroups of ``profile``, named ``name`` (default: the profile's name).

    ``namespace`` is written into the resources' metadata when given (the committed manifests leave it to
    kustomize; the backend passes the profile's).

    Raises:
        KubernetesError: the profile is not for the kubernetes backend, or a name or size is invalid.
    """
    if profile.backend != "kubernetes":
        raise KubernetesError(f"profile {profile.name!r} is for the {profile.backend} backend, not kubernetes")
    cluster = check_cluster_name(name or profile.name)
    meta_ns = {"namespace": namespace} if namespace else {}
    default = profile.group(DEFAULT_GROUP)
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "metadata": {"name": cluster, **meta_ns, "labels": _labels(profile, None)},
        # idleTimeout 0: the cluster lives as long as the flow run that opened it; our autoscaler, not the
        # operator's DaskAutoscaler, sizes every group
        "spec": {
            "idleTimeout": 0,
            "worker": worker_spec(profile, default),
            "scheduler": scheduler_spec(profile, cluster),
        },
    }
    groups = {}
    for group in profile.groups:
        if group.name == DEFAULT_GROUP:
            continue
        groups[group.name] = {
            "apiVersion": API_VERSION,
            "kind": "DaskWorkerGroup",
            "metadata": {
                "name": worker_group_name(cluster, group.name),
                **meta_ns,
                "labels": _labels(profile, group.name),
            },
            "spec": {"cluster": cluster, "worker": worker_spec(profile, group)},
        }
    worker_group_name(cluster, DEFAULT_GROUP)  # the operator creates it: check its name fits too
    return ProfileManifests(cluster=manifest, worker_groups=groups)


def group_of_worker(cluster: str, groups: Sequence[str], worker_name: str) -> str | None:
    """The group a worker of ``cluster`` belongs to, from its Dask name (``<cluster>-<group>-worker-<10 hex>``).

    Group names may contain ``-``, so every known group is tried against the whole name; ``None`` for a worker
    that is not one of this cluster's (a client's local worker, another cluster's).
    """
    for group in groups:
        if re.fullmatch(re.escape(f"{cluster}-{group}") + _WORKER_SUFFIX, worker_name):
            return group
    return None


@dataclass(frozen=True)
class ScalePlan:
    """What the backend sends to resize one group, in this order.

    1. ``retire``: named workers the scheduler still has, to retire gracefully first (their results move to other
       workers; the autoscaler normally retired them already, so this is usually empty);
    2. ``delete_deployments``: the Deployments to delete, those of the named workers (the operator gives a worker
       its Deployment's name) and of workers that never joined the scheduler (pending pods: they hold nothing);
    3. ``patch``: a JSON merge patch of the DaskWorkerGroup ``worker_group`` setting ``spec.worker.replicas``.

    After 1-2 the group has exactly ``replicas`` Deployments, so the operator has nothing to retire on its own.
    """

    worker_group: str
    replicas: int
    retire: tuple[str, ...]
    delete_deployments: tuple[str, ...]
    patch: dict[str, Any]
    note: str = ""


def replicas_patch(n: int) -> dict[str, Any]:
    """The JSON merge patch that sets a DaskWorkerGroup's (or DaskCluster's) ``spec.worker.replicas`` to ``n``."""
    return {"spec": {"worker": {"replicas": n}}}


def scale_plan(
    cluster: str,
    groups: Sequence[str],
    group: str,
    n: int,
    *,
    deployments: Sequence[str],
    registered: Collection[str],
    retire: Sequence[str] = (),
) -> ScalePlan:
    """Plan resizing ``group`` of ``cluster`` to ``n`` workers.

    Args:
        cluster: The DaskCluster's name.
        groups: Every group of the cluster.
        group: The group to resize.
        n: Its desired size.
        deployments: The group's worker Deployments now (their names are the workers' Dask names).
        registered: The names of the workers the scheduler knows now (of any group).
        retire: When shrinking, the workers the autoscaler chose to remove (holding no unique results).

    Growing ignores ``retire``. Shrinking by ``k = len(deployments) - n`` removes, in this order, the named
    workers and workers whose pods never joined the scheduler (pending, starting: they hold nothing); if that
    makes fewer than ``k``, the group shrinks only that far and the note says so, because the operator would
    choose the rest among *every* group's workers, without regard to the results they hold.

    Raises:
        KubernetesError: an unknown group, a negative size, or a named worker that is not a worker of the group.
    """
    if group not in groups:
        raise KubernetesError(f"cluster {cluster!r} has no worker group {group!r} (groups: {list(groups)})")
    if n < 0:
        raise KubernetesError(f"worker group {group!r}: the desired size must not be negative (got {n})")
    name = worker_group_name(cluster, group)
    current = len(deployments)
    if n >= current:
        return ScalePlan(name, n, (), (), replicas_patch(n))
    strangers = [w for w in retire if w not in deployments]
    if strangers:
        raise KubernetesError(f"workers {strangers} are not workers of group {group!r} of cluster {cluster!r}")
    shrink = current - n
    named = tuple(dict.fromkeys(retire))[:shrink]
    unjoined = tuple(d for d in deployments if d not in registered and d not in named)[: shrink - len(named)]
    replicas = current - len(named) - len(unjoined)
    note = ""
    if replicas != n:
        note = (
            f"{group}: asked for {n} of {current} workers, but only {len(named)} were named to retire and "
            f"{len(unjoined)} had not joined; shrinking to {replicas}"
        )
    still_there = tuple(w for w in named if w in registered)
    return ScalePlan(name, replicas, still_there, named + unjoined, replicas_patch(replicas), note)
