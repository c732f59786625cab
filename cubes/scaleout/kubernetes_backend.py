"""The ``kubernetes`` backend: a profile's groups as the dask-kubernetes operator's DaskCluster and DaskWorkerGroups.

It implements :class:`cubes.scaleout.backend.GroupBackend`: the cluster is created with dask-kubernetes'
``KubeCluster(custom_cluster_spec=...)`` from :func:`cubes.scaleout.kubernetes.render_profile`, the other groups as
DaskWorkerGroup resources beside it, and :meth:`KubernetesBackend.scale_group` sends what
:func:`cubes.scaleout.kubernetes.scale_plan` says (retire through the scheduler, delete the named workers'
Deployments, patch the group's replicas). The operator's own ``DaskAutoscaler`` is never created: it would only
scale the default group (dask-kubernetes issue 933) and fight our autoscaler, which drives every group.

dask-kubernetes (extra ``k8s``) is imported only here, when the backend starts. Nothing in this module has run
against a real cluster on the development machine (there is none); see ``docs/scale-out.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from cubes.errors import KubernetesError
from cubes.scaleout.kubernetes import (
    group_of_worker,
    render_profile,
    scale_plan,
    worker_group_name,
)
from cubes.scaleout.profiles import ClusterProfile


def unique_cluster_name(profile: ClusterProfile) -> str:
    """A DaskCluster name for one run of ``profile``: its name and 8 random hex digits (runs never collide)."""
    return f"{profile.name[:40]}-{uuid.uuid4().hex[:8]}"


class KubernetesBackend:
    """A profile's worker groups on Kubernetes, through the dask-kubernetes operator.

    Args:
        profile: A profile with ``backend: kubernetes``.
        name: The DaskCluster's name (default: :func:`unique_cluster_name`).
        log: Where to say what it does (default: nowhere).
        start_timeout_s: How long to wait for the operator and the scheduler pod.

    Raises:
        KubernetesError: dask-kubernetes is not installed, no Kubernetes credentials were found, or the cluster
            could not be created (the message names the cluster and namespace).
    """

    def __init__(
        self,
        profile: ClusterProfile,
        *,
        name: str | None = None,
        log: Callable[[str], None] | None = None,
        start_timeout_s: int = 300,
    ) -> None:
        self.profile = profile
        self.namespace = profile.kubernetes.namespace
        self.attached = name is None and profile.kubernetes.cluster_name is not None
        self.name = name or profile.kubernetes.cluster_name or unique_cluster_name(profile)
        self._log = log or (lambda _msg: None)
        self._groups = [g.name for g in profile.groups]
        manifests = render_profile(profile, self.name, namespace=self.namespace)
        try:
            import kr8s
            from dask_kubernetes.operator import KubeCluster
        except ImportError as exc:
            raise KubernetesError("the kubernetes backend needs dask-kubernetes: pip install 'esdl[k8s]'") from exc
        where = f"DaskCluster {self.name!r} in namespace {self.namespace!r}"
        doing = "attach to" if self.attached else "create"
        try:
            # credentials first: KubeCluster would register itself for closing at exit before failing on them
            kr8s.api(namespace=self.namespace)
        except Exception as exc:
            raise KubernetesError(f"cannot {doing} {where}: no Kubernetes credentials ({exc})") from exc
        self._log(f"{'attaching to' if self.attached else 'creating'} {where}")
        try:
            if self.attached:
                # the standing cluster and its groups exist (kubectl apply -k infra/kubernetes); it outlives the run
                self._cluster: Any = KubeCluster.from_name(self.name, namespace=self.namespace, quiet=True)
                self._cluster.sync(self._replicas)  # every group's DaskWorkerGroup must be there
            else:
                self._cluster = KubeCluster(
                    custom_cluster_spec=manifests.cluster,
                    namespace=self.namespace,
                    shutdown_on_close=True,
                    resource_timeout=start_timeout_s,
                    quiet=True,
                )
        except Exception as exc:
            raise KubernetesError(f"cannot {doing} {where}: {exc}") from exc
        if not self.attached:
            try:
                for group, manifest in manifests.worker_groups.items():
                    self._cluster.sync(self._create, manifest)
                    self._log(f"worker group {group}: DaskWorkerGroup {manifest['metadata']['name']} created")
            except Exception as exc:
                self._cluster.close()
                raise KubernetesError(f"cannot create the worker groups of {where}: {exc}") from exc
        self.scheduler_address: str = self._cluster.scheduler_address

    async def _create(self, manifest: dict[str, Any]) -> None:
        from dask_kubernetes.operator._objects import DaskWorkerGroup

        await (await DaskWorkerGroup(manifest, namespace=self.namespace)).create()

    def group_of(self, worker_name: str) -> str | None:
        """The group of a worker of this cluster, from the name the operator gave it; None for any other."""
        return group_of_worker(self.name, self._groups, worker_name)

    def group_sizes(self) -> dict[str, int]:
        """Each group's desired replicas, as its DaskWorkerGroup says (the operator makes the pods follow)."""
        return self._cluster.sync(self._replicas)  # type: ignore[no-any-return]

    async def _replicas(self) -> dict[str, int]:
        from dask_kubernetes.operator._objects import DaskWorkerGroup

        out = {}
        for group in self._groups:
            wg = await DaskWorkerGroup.get(worker_group_name(self.name, group), namespace=self.namespace)
            out[group] = int(wg.spec["worker"]["replicas"])
        return out

    def scale_group(self, group: str, n: int, retire: Sequence[str] = ()) -> None:
        """Resize ``group`` to ``n`` workers: retire and delete the named workers first, then patch its replicas.

        See :func:`cubes.scaleout.kubernetes.scale_plan` for why the named workers' Deployments are deleted by
        this backend rather than left to the operator, and what happens when fewer are named than the shrink.
        """
        self._cluster.sync(self._scale, group, n, tuple(retire))

    async def _scale(self, group: str, n: int, retire: tuple[str, ...]) -> None:
        from dask_kubernetes.operator._objects import DaskWorkerGroup
        from kr8s import NotFoundError
        from kr8s.asyncio.objects import Deployment

        wg_name = worker_group_name(self.name, group)
        deployments = await self._deployments(group)
        info = await self._cluster.scheduler_comm.identity()
        registered = {w.get("name") for w in info.get("workers", {}).values()}
        plan = scale_plan(
            self.name, self._groups, group, n, deployments=deployments, registered=registered, retire=retire
        )
        if plan.note:
            self._log(plan.note)
        if plan.retire:
            # as the operator does before it deletes a worker: move results the worker alone holds elsewhere
            await self._cluster.scheduler_comm.retire_workers(names=list(plan.retire), close_workers=True)
        for deployment in plan.delete_deployments:
            # background propagation: the Deployment is gone from the API at once, its pod follows
            with suppress(NotFoundError):  # gone already (its pod failed, someone deleted it): nothing to do
                await (await Deployment.get(deployment, namespace=self.namespace)).delete(
                    propagation_policy="Background"
                )
        wg = await DaskWorkerGroup.get(wg_name, namespace=self.namespace)
        await wg.patch(plan.patch)
        self._log(f"worker group {group}: replicas {len(deployments)} -> {plan.replicas}")

    def close(self) -> None:
        """Delete the run's DaskCluster (its worker groups and pods go with it, by owner references); a standing
        cluster it attached to is left running, each group shrunk back to its minimum (the run's work is done, so
        any of its workers may go)."""
        try:
            if self.attached:
                for group in self.profile.groups:
                    self._cluster.sync(self._release, group.name, group.min_workers)
        finally:
            self._cluster.close()

    async def _release(self, group: str, n: int) -> None:
        names = await self._deployments(group)
        if len(names) > n:
            await self._scale(group, n, tuple(names))

    async def _deployments(self, group: str) -> list[str]:
        """The names of a group's worker Deployments (the operator labels them with their worker group)."""
        from kr8s.asyncio.objects import Deployment

        label = {"dask.org/workergroup-name": worker_group_name(self.name, group)}
        return [
            d.name if isinstance(d, Deployment) else d["metadata"]["name"]
            async for d in Deployment.list(namespace=self.namespace, label_selector=label)
        ]
