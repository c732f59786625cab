"""Scale-out: cluster profiles with worker groups, their backends (local processes, Kubernetes) and an autoscaler
per group. Plain library code: no Prefect."""

from cubes.scaleout.profiles import (
    BUILTIN_PROFILES,
    GPU_RESOURCE,
    AutoscalerConfig,
    ClusterProfile,
    KubernetesOptions,
    Toleration,
    WorkerGroup,
)

__all__ = [
    "BUILTIN_PROFILES",
    "GPU_RESOURCE",
    "AutoscalerConfig",
    "ClusterProfile",
    "KubernetesOptions",
    "Toleration",
    "WorkerGroup",
]
