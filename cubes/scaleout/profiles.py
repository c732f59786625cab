"""Cluster profiles: named sets of Dask worker groups, each scaled on its own (no Prefect here).

A profile says which backend runs the cluster (``local``: worker processes on this machine; ``kubernetes``: the
dask-kubernetes operator) and which worker groups it has. Every group has its own bounds, threads, memory and Dask
worker *resources*; the ``gpu`` group's workers advertise ``GPU=1`` (Dask does not detect devices) so that only
tasks annotated with ``dask.annotate(resources={"GPU": 1})`` run there.

The same model is saved as the Prefect block ``esdl-cluster-profile`` (:mod:`blocks.cluster_profile`) and ships
as built-in profiles (:data:`BUILTIN_PROFILES`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cubes.errors import SpecError

GPU_RESOURCE = "GPU"
"""The Dask worker resource a GPU worker advertises, one unit per device it was given."""

GROUP_NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"
"""Group names are DNS labels: they name DaskWorkerGroup resources and pods on Kubernetes."""


class Toleration(BaseModel):
    """A Kubernetes toleration for a group's pods (GPU nodes are usually tainted)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Taint key, e.g. nvidia.com/gpu")
    operator: Literal["Exists", "Equal"] = Field(default="Exists", description="Exists or Equal")
    value: str | None = Field(default=None, description="Taint value (operator Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default="NoSchedule", description="Taint effect; None tolerates every effect"
    )


class WorkerGroup(BaseModel):
    """One group of identical Dask workers, scaled between ``min_workers`` and ``max_workers`` on its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=GROUP_NAME_PATTERN, description="Group name (a DNS label): default, gpu, ...")
    min_workers: int = Field(default=0, ge=0, description="Workers kept even when idle")
    max_workers: int = Field(default=1, ge=0, description="Upper bound of the group's workers")
    threads: int = Field(default=1, ge=1, description="Threads of each worker")
    memory: str = Field(default="4GiB", description="Memory limit of each worker (Dask syntax: 4GiB, 500MB)")
    gpus: int = Field(
        default=0,
        ge=0,
        description="Devices per worker: advertised as the Dask resource GPU, assigned locally through "
        "CUDA_VISIBLE_DEVICES, requested on Kubernetes as nvidia.com/gpu",
    )
    resources: dict[str, float] = Field(
        default_factory=dict, description="Other Dask worker resources the workers advertise (name → amount)"
    )
    idle_timeout_s: float = Field(
        default=60.0, gt=0, description="A group above its minimum with no work for this long shrinks to it"
    )
    # Kubernetes only (the local backend ignores them)
    node_selector: dict[str, str] = Field(default_factory=dict, description="Kubernetes node selector of the pods")
    tolerations: list[Toleration] = Field(default_factory=list, description="Kubernetes tolerations of the pods")
    cpu_request: str | None = Field(default=None, description="Kubernetes CPU request per worker (default: threads)")

    @model_validator(mode="after")
    def _check(self) -> WorkerGroup:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({self.min_workers}) is above max_workers ({self.max_workers})")
        if GPU_RESOURCE in self.resources:
            raise ValueError(f"resources: set gpus instead of the {GPU_RESOURCE} resource by hand")
        return self

    def worker_resources(self) -> dict[str, float]:
        """The Dask resources every worker of the group advertises (``GPU`` included when it has devices)."""
        out = dict(self.resources)
        if self.gpus:
            out[GPU_RESOURCE] = float(self.gpus)
        return out


class AutoscalerConfig(BaseModel):
    """How often the autoscaler looks and how cautiously it acts (hysteresis against flapping load)."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(default=1.0, gt=0, description="Seconds between two looks at the scheduler")
    scale_up_after_s: float = Field(
        default=0.0, ge=0, description="Work must have been waiting this long before a group grows"
    )
    scale_down_cooldown_s: float = Field(
        default=10.0, ge=0, description="A group that grew does not shrink again before this many seconds"
    )
    resource_wait_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Tasks waiting this long for a resource no group can offer fail with the resource named",
    )


class KubernetesOptions(BaseModel):
    """Where and how the ``kubernetes`` backend creates the DaskCluster."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="esdl", description="Namespace of the DaskCluster and its worker groups")
    image: str = Field(default="ghcr.io/esdl/esdl:latest", description="Image of the scheduler and workers")
    gpu_image: str | None = Field(default=None, description="Image of GPU workers (a CUDA build); default: image")
    service_account: str | None = Field(default=None, description="Service account of the pods")
    scheduler_memory: str = Field(default="2Gi", description="Memory limit of the scheduler pod (Kubernetes)")
    cluster_name: str | None = Field(
        default=None,
        description="Attach to this existing DaskCluster (the standing one infra/kubernetes applies) instead of "
        "creating one per run; it keeps running afterwards, its groups back at their minimum",
    )


class ClusterProfile(BaseModel):
    """A named cluster: its backend and worker groups. A group named ``default`` is required."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=GROUP_NAME_PATTERN, description="Profile name")
    backend: Literal["local", "kubernetes"] = Field(default="local", description="local or kubernetes")
    groups: list[WorkerGroup] = Field(min_length=1, description="Worker groups; one must be named default")
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig, description="Autoscaler settings")
    on_missing_gpu: Literal["error", "cpu"] = Field(
        default="error",
        description="Local backend on a machine without CUDA devices: error (refuse to start) or cpu (start the "
        "GPU group's workers anyway, without devices, and say so in the log)",
    )
    kubernetes: KubernetesOptions = Field(default_factory=KubernetesOptions, description="Kubernetes options")

    @model_validator(mode="after")
    def _check(self) -> ClusterProfile:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"group names repeat: {names}")
        if "default" not in names:
            raise ValueError(f"a group named default is required (groups: {names})")
        return self

    def group(self, name: str) -> WorkerGroup:
        """The group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise SpecError(f"profile {self.name!r} has no worker group {name!r} (groups: {[g.name for g in self.groups]})")


BUILTIN_PROFILES: dict[str, ClusterProfile] = {
    p.name: p
    for p in (
        ClusterProfile(
            name="local-cpu",
            groups=[WorkerGroup(name="default", min_workers=1, max_workers=2, threads=1, memory="3GiB")],
        ),
        ClusterProfile(
            name="local-gpu",
            groups=[
                WorkerGroup(name="default", min_workers=1, max_workers=2, threads=1, memory="3GiB"),
                WorkerGroup(name="gpu", min_workers=0, max_workers=1, threads=1, memory="6GiB", gpus=1),
            ],
            on_missing_gpu="cpu",
        ),
        ClusterProfile(
            name="k8s-gpu",
            backend="kubernetes",
            groups=[
                WorkerGroup(name="default", min_workers=1, max_workers=8, threads=2, memory="8GiB"),
                WorkerGroup(
                    name="gpu",
                    min_workers=0,
                    max_workers=2,
                    threads=4,
                    memory="24GiB",
                    gpus=1,
                    node_selector={"nvidia.com/gpu.present": "true"},
                    tolerations=[Toleration(key="nvidia.com/gpu")],
                ),
            ],
        ),
    )
}
"""Profiles that need no saved block: ``local-cpu``, ``local-gpu`` (falls back to CPU without devices, saying so)
and ``k8s-gpu`` (the profile ``infra/kubernetes`` deploys)."""
