"""The Kubernetes resources of a profile and the requests that scale them, checked without a cluster.

The DaskCluster and DaskWorkerGroups are validated against the CRDs shipped in the dask-kubernetes wheel; the
Deployments the operator makes of them (built by the operator's own code) against Kubernetes' OpenAPI schemas;
scale patches are applied as the API server applies a merge patch and the result validated again.
"""

from __future__ import annotations

import copy

import pytest
from dask_kubernetes.operator.controller.controller import (
    build_default_worker_group_spec,
    build_scheduler_deployment_spec,
    build_scheduler_service_spec,
    build_worker_deployment_spec,
)

from cubes.errors import KubernetesError
from cubes.scaleout.backend import GroupBackend
from cubes.scaleout.kubernetes import (
    GPU_LIMIT,
    check_cluster_name,
    group_of_worker,
    k8s_quantity,
    render_profile,
    scale_plan,
    worker_group_name,
)
from cubes.scaleout.kubernetes_backend import KubernetesBackend, unique_cluster_name
from cubes.scaleout.profiles import BUILTIN_PROFILES, ClusterProfile, KubernetesOptions, Toleration, WorkerGroup
from esdl_testing.k8s import InvalidManifest, merge_patch, validate, validate_builtin, validate_custom

K8S_GPU = BUILTIN_PROFILES["k8s-gpu"]


def three_groups() -> ClusterProfile:
    """A profile whose group names share prefixes (gpu, gpu-big), with a service account and a CUDA image."""
    return ClusterProfile(
        name="three",
        backend="kubernetes",
        groups=[
            WorkerGroup(name="default", min_workers=2, max_workers=4, threads=1, memory="500MB", cpu_request="500m"),
            WorkerGroup(name="gpu", max_workers=2, threads=2, memory="6GiB", gpus=1, resources={"MEM": 6e9}),
            WorkerGroup(
                name="gpu-big",
                max_workers=1,
                threads=8,
                memory="64GiB",
                gpus=4,
                node_selector={"gpu": "a100"},
                tolerations=[Toleration(key="dedicated", operator="Equal", value="ml", effect=None)],
            ),
        ],
        kubernetes=KubernetesOptions(
            namespace="science", gpu_image="ghcr.io/esdl/esdl:cuda", service_account="esdl-dask"
        ),
    )


def container(worker: dict) -> dict:
    (c,) = worker["spec"]["containers"]
    return c


@pytest.mark.parametrize("profile", [K8S_GPU, three_groups()], ids=["k8s-gpu", "three-groups"])
def test_every_resource_validates_against_the_crds(profile: ClusterProfile) -> None:
    manifests = render_profile(profile, "esdl-run-1", namespace="science")
    for resource in manifests.all():
        validate_custom(resource)
        assert resource["metadata"]["namespace"] == "science"
    assert [r["kind"] for r in manifests.all()] == ["DaskCluster"] + ["DaskWorkerGroup"] * (len(profile.groups) - 1)
    for group, wg in manifests.worker_groups.items():
        assert wg["metadata"]["name"] == f"esdl-run-1-{group}"
        assert wg["spec"]["cluster"] == "esdl-run-1"


@pytest.mark.parametrize("profile", [K8S_GPU, three_groups()], ids=["k8s-gpu", "three-groups"])
def test_the_deployments_the_operator_makes_validate_against_kubernetes(profile: ClusterProfile) -> None:
    """The operator's own code turns our worker specs into Deployments: those must be valid apps/v1 objects."""
    manifests = render_profile(profile, "esdl-run-1")
    cluster = manifests.cluster
    default_wg = build_default_worker_group_spec("esdl-run-1", cluster["spec"]["worker"], {}, {})
    validate_custom(default_wg)
    assert default_wg["metadata"]["name"] == worker_group_name("esdl-run-1", "default")
    for wg in [default_wg, *manifests.worker_groups.values()]:
        worker = wg["spec"]["worker"]
        deployment = build_worker_deployment_spec(
            wg["metadata"]["name"],
            "science",
            "esdl-run-1",
            "0123456789",
            worker["spec"],
            {},
            worker["metadata"]["labels"],
        )
        validate_builtin(deployment)
        name = deployment["metadata"]["name"]
        group = worker["metadata"]["labels"]["esdl.dev/group"]
        assert group_of_worker("esdl-run-1", [g.name for g in profile.groups], name) == group

    # the scheduler: its Deployment and Service, and the Service selects the scheduler's pod
    scheduler = cluster["spec"]["scheduler"]
    labels = scheduler["metadata"]["labels"]
    deployment = build_scheduler_deployment_spec("esdl-run-1", scheduler["spec"], {}, labels)
    service = build_scheduler_service_spec("esdl-run-1", scheduler["service"], {}, labels)
    validate_builtin(deployment)
    validate_builtin(service)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_gpu_group_pods() -> None:
    manifests = render_profile(three_groups(), "run")
    cpu = container(manifests.cluster["spec"]["worker"])
    gpu = container(manifests.worker_groups["gpu"]["spec"]["worker"])
    big_worker = manifests.worker_groups["gpu-big"]["spec"]["worker"]
    big = container(big_worker)

    # devices: a limit per worker, the Dask resource in the worker's arguments (Dask does not detect them)
    assert GPU_LIMIT not in cpu["resources"]["limits"] and "--resources" not in cpu["args"]
    assert gpu["resources"]["limits"][GPU_LIMIT] == "1"
    assert big["resources"]["limits"][GPU_LIMIT] == "4"
    assert gpu["args"][gpu["args"].index("--resources") + 1] == "GPU=1 MEM=6e+09"
    assert big["args"][big["args"].index("--resources") + 1] == "GPU=4"
    # threads, memory (Dask's syntax in the arguments, Kubernetes' in the pod), CPU
    assert big["args"][big["args"].index("--nthreads") + 1] == "8"
    assert big["args"][big["args"].index("--memory-limit") + 1] == "64GiB"
    assert big["resources"]["requests"] == {"cpu": "8", "memory": "64Gi"}
    assert cpu["resources"]["requests"] == {"cpu": "500m", "memory": "500M"}
    # images: the CUDA build on GPU groups only
    assert cpu["image"] == "ghcr.io/esdl/esdl:latest" and gpu["image"] == big["image"] == "ghcr.io/esdl/esdl:cuda"
    # placement
    assert big_worker["spec"]["nodeSelector"] == {"gpu": "a100"}
    assert big_worker["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "ml"}]
    assert "nodeSelector" not in manifests.cluster["spec"]["worker"]["spec"]
    assert big_worker["spec"]["serviceAccountName"] == "esdl-dask"
    # bounds: each group starts at its minimum; the autoscaler takes it from there
    assert manifests.cluster["spec"]["worker"]["replicas"] == 2
    assert big_worker["replicas"] == 0


def test_builtin_gpu_profile_asks_for_an_nvidia_node() -> None:
    gpu_worker = render_profile(K8S_GPU).worker_groups["gpu"]["spec"]["worker"]
    assert gpu_worker["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert gpu_worker["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert container(gpu_worker)["resources"]["limits"][GPU_LIMIT] == "1"


def test_validators_reject_broken_resources() -> None:
    """Each check can fail: an unknown field, a wrong type, a missing field, a bad name, a bad label."""
    manifests = render_profile(K8S_GPU)
    breakages = {
        "unknown field": lambda r: container(r["spec"]["worker"]).update(resourcez={}),
        "integer quantity": lambda r: container(r["spec"]["worker"])["resources"]["limits"].update({GPU_LIMIT: 1}),
        "no containers": lambda r: r["spec"]["worker"]["spec"].pop("containers"),
        "bad name": lambda r: r["metadata"].update(name="Not_A_Name"),
        "bad label": lambda r: r["metadata"]["labels"].update({"esdl.dev/group": "x" * 64}),
    }
    for what, breaking in breakages.items():
        broken = copy.deepcopy(manifests.worker_groups["gpu"])
        breaking(broken)
        with pytest.raises(InvalidManifest):
            validate(broken)
        assert what
    bad_pod = build_worker_deployment_spec("w", "ns", "c", "0123456789", {"containers": [{"name": "w"}]}, {}, {})
    bad_pod["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = ["Always"]
    with pytest.raises(InvalidManifest, match="imagePullPolicy"):
        validate_builtin(bad_pod)


def test_quantities() -> None:
    assert k8s_quantity("8GiB") == "8Gi"
    assert k8s_quantity("24GiB") == "24Gi"
    assert k8s_quantity("1536MiB") == "1536Mi"
    assert k8s_quantity("500MB") == "500M"
    assert k8s_quantity("4 GB") == "4G"
    assert k8s_quantity("2Gi") == "2Gi"
    assert k8s_quantity("1001") == "1001"
    with pytest.raises(KubernetesError, match="'lots' is not a size"):
        k8s_quantity("lots")


def test_names() -> None:
    with pytest.raises(KubernetesError, match="for the local backend, not kubernetes"):
        render_profile(BUILTIN_PROFILES["local-gpu"])
    with pytest.raises(KubernetesError, match="DNS label"):
        check_cluster_name("Esdl")
    with pytest.raises(KubernetesError, match="at most 53"):
        check_cluster_name("a" * 54)
    assert check_cluster_name("a" * 53) == "a" * 53
    render_profile(three_groups(), "a" * 53)  # a...a-gpu-big: 61 characters
    long_group = three_groups().model_copy(update={"groups": [*three_groups().groups, WorkerGroup(name="high-memory")]})
    with pytest.raises(KubernetesError, match="longer than 63"):
        render_profile(long_group, "a" * 53)
    name = unique_cluster_name(K8S_GPU)
    assert check_cluster_name(name) == name and name.startswith("k8s-gpu-") and name != unique_cluster_name(K8S_GPU)


def test_group_of_worker() -> None:
    groups = ["default", "gpu", "gpu-big"]
    assert group_of_worker("run", groups, "run-gpu-worker-0123456789") == "gpu"
    assert group_of_worker("run", groups, "run-gpu-big-worker-abcdef0123") == "gpu-big"
    assert group_of_worker("run", groups, "run-default-worker-abcdef0123") == "default"
    assert group_of_worker("run-gpu", groups, "run-gpu-big-worker-abcdef0123") is None  # big-... is no group of it
    assert group_of_worker("run", groups, "other-gpu-worker-0123456789") is None
    assert group_of_worker("run", groups, "run-gpu-worker-01234") is None
    assert group_of_worker("run", groups, "tcp://10.0.0.1:40000") is None


GROUPS = ["default", "gpu"]
GPU_DEPLOYMENTS = [f"run-gpu-worker-{i:010x}" for i in range(3)]


def test_scale_plan_grows_by_patching_replicas() -> None:
    plan = scale_plan("run", GROUPS, "gpu", 3, deployments=GPU_DEPLOYMENTS[:1], registered=GPU_DEPLOYMENTS[:1])
    assert plan.worker_group == "run-gpu" and plan.replicas == 3
    assert plan.retire == () and plan.delete_deployments == () and plan.note == ""
    patched = merge_patch(render_profile(K8S_GPU, "run").worker_groups["gpu"], plan.patch)
    validate_custom(patched)
    assert patched["spec"]["worker"]["replicas"] == 3
    assert (
        patched["spec"]["worker"]["spec"]
        == render_profile(K8S_GPU, "run").worker_groups["gpu"]["spec"]["worker"]["spec"]
    )


def test_scale_plan_removes_the_named_workers_then_those_that_never_joined() -> None:
    a, b, c = GPU_DEPLOYMENTS
    # c's pod is pending (no GPU node yet): it never joined the scheduler and is removed before any running worker
    plan = scale_plan("run", GROUPS, "gpu", 1, deployments=GPU_DEPLOYMENTS, registered={a, b}, retire=[b])
    assert plan.delete_deployments == (b, c) and plan.replicas == 1 and plan.note == ""
    assert plan.retire == (b,)  # still known to the scheduler: retire it gracefully first
    # the autoscaler retired b already: nothing left to retire, only to delete
    plan = scale_plan("run", GROUPS, "gpu", 0, deployments=[a, b], registered={a}, retire=[a, b])
    assert plan.retire == (a,) and plan.delete_deployments == (a, b) and plan.replicas == 0
    assert plan.patch == {"spec": {"worker": {"replicas": 0}}}


def test_scale_plan_never_lets_the_operator_choose() -> None:
    """Fewer workers named than the shrink needs: the group shrinks only as far as it safely can, and says so."""
    a, b, c = GPU_DEPLOYMENTS
    plan = scale_plan("run", GROUPS, "gpu", 0, deployments=GPU_DEPLOYMENTS, registered={a, b, c}, retire=[a])
    assert plan.replicas == 2 and plan.delete_deployments == (a,)
    assert "asked for 0 of 3 workers, but only 1 were named" in plan.note
    plan = scale_plan("run", GROUPS, "gpu", 2, deployments=GPU_DEPLOYMENTS, registered={a, b, c}, retire=[a, b])
    assert plan.delete_deployments == (a,) and plan.replicas == 2  # no more than the shrink


def test_scale_plan_rejects_what_it_cannot_do() -> None:
    with pytest.raises(KubernetesError, match="no worker group 'tpu'"):
        scale_plan("run", GROUPS, "tpu", 1, deployments=[], registered=set())
    with pytest.raises(KubernetesError, match="must not be negative"):
        scale_plan("run", GROUPS, "gpu", -1, deployments=[], registered=set())
    with pytest.raises(KubernetesError, match="not workers of group 'gpu'"):
        scale_plan(
            "run", GROUPS, "gpu", 0, deployments=GPU_DEPLOYMENTS[:1], registered=set(), retire=["run-default-worker-0"]
        )


def test_backend_without_credentials_fails_naming_the_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No kubeconfig, not in a pod: a clear error before anything is created, not a hang."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        KubernetesError, match=r"DaskCluster 'esdl-test' in namespace 'esdl': no Kubernetes credentials"
    ):
        KubernetesBackend(K8S_GPU, name="esdl-test")


def as_group_backend(backend: KubernetesBackend) -> GroupBackend:
    """Never called: mypy (part of make test) checks here that the backend satisfies the autoscaler's protocol."""
    return backend
