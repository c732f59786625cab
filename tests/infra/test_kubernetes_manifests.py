"""infra/kubernetes without a cluster: what its kustomization builds is valid, current and consistent.

Every built-in resource is validated against Kubernetes 1.37's OpenAPI schemas (strict), the DaskCluster and
DaskWorkerGroup against the CRDs of the installed dask-kubernetes, the generated files against their generator,
and the work pool's base job template is rendered (CPU and GPU variants) into the Job a flow run gets.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import shlex
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prefect.utilities.templating import apply_values
from prefect.workers.base import BaseJobConfiguration

from cubes.scaleout.kubernetes import GPU_LIMIT, render_profile
from cubes.scaleout.profiles import BUILTIN_PROFILES
from esdl_testing.k8s import InvalidManifest, validate, validate_builtin
from esdl_testing.kustomize import Built, KustomizeError, build, remote_file
from esdl_testing.paths import REPO_ROOT

INFRA = REPO_ROOT / "infra" / "kubernetes"


def generator() -> ModuleType:
    """infra/kubernetes/generate.py, imported from its path (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("esdl_infra_generate", INFRA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built() -> list[Built]:
    return build(INFRA)


def find(built: list[Built], kind: str, name: str) -> dict[str, Any]:
    (resource,) = [b.resource for b in built if b.resource["kind"] == kind and b.resource["metadata"]["name"] == name]
    return resource


def test_every_resource_the_kustomization_builds_is_valid(built: list[Built]) -> None:
    kinds = sorted(b.resource["kind"] for b in built)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        + ["Deployment", "ConfigMap", "DaskCluster", "DaskWorkerGroup"]
        + ["CustomResourceDefinition"] * 4
    )
    for b in built:
        validate(b.resource)
        if b.resource["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
            assert b.resource["metadata"]["namespace"] == "esdl", b.source


def test_the_generated_files_are_current(tmp_path: Path) -> None:
    gen = generator()
    assert gen.main(["--check"]) == 0
    # and the check can fail: a copy with one file edited by hand is not current
    copy_dir = tmp_path / "kubernetes"
    shutil.copytree(INFRA, copy_dir)
    edited = copy_dir / "dask" / "daskworkergroup-k8s-gpu-gpu.yaml"
    edited.write_text(edited.read_text().replace("replicas: 0", "replicas: 2"))
    gen.HERE = copy_dir  # type: ignore[attr-defined]
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0  # writing restores it


def test_the_standing_cluster_is_the_k8s_gpu_profile(built: list[Built]) -> None:
    manifests = render_profile(BUILTIN_PROFILES["k8s-gpu"])
    cluster = find(built, "DaskCluster", "k8s-gpu")
    gpu = find(built, "DaskWorkerGroup", "k8s-gpu-gpu")
    assert {k: v for k, v in cluster["metadata"].items() if k != "namespace"} == manifests.cluster["metadata"]
    assert cluster["spec"] == manifests.cluster["spec"]
    assert gpu["spec"] == manifests.worker_groups["gpu"]["spec"]
    assert gpu["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"][GPU_LIMIT] == "1"


def test_operator_is_pinned_to_the_installed_dask_kubernetes(built: list[Built]) -> None:
    version = importlib.metadata.version("dask-kubernetes")
    operator = find(built, "Deployment", "dask-kubernetes-operator")
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/dask/dask-kubernetes-operator:{version}"
    crd_sources = [b.source for b in built if b.resource["kind"] == "CustomResourceDefinition"]
    assert all(f"/dask-kubernetes/{version}/" in s for s in crd_sources)
    # its service account is the one bound to its cluster role
    binding = find(built, "ClusterRoleBinding", "dask-kubernetes-operator-rolebinding-cluster")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": operator["spec"]["template"]["spec"]["serviceAccountName"],
            "namespace": "esdl",
        }
    ]
    role = find(built, "ClusterRole", binding["roleRef"]["name"])
    assert allows(role, "kubernetes.dask.org", "daskworkergroups", "patch")
    assert allows(role, "apps", "deployments", "create")


def allows(role: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    """Whether an RBAC role grants ``verb`` on ``group/resource``."""
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and ({verb, "*"} & set(rule["verbs"]))
        for rule in role["rules"]
    )


# what the kubernetes backend and KubeCluster call with the flow run's service account
FLOW_RUNNER_CALLS = [
    ("kubernetes.dask.org", "daskclusters", "create"),
    ("kubernetes.dask.org", "daskclusters", "get"),
    ("kubernetes.dask.org", "daskclusters", "delete"),
    ("kubernetes.dask.org", "daskworkergroups", "create"),
    ("kubernetes.dask.org", "daskworkergroups", "get"),
    ("kubernetes.dask.org", "daskworkergroups", "patch"),
    ("", "pods", "list"),
    ("", "services", "get"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "delete"),
]


def test_flow_runs_may_create_and_scale_dask_clusters(built: list[Built]) -> None:
    template = json.loads((INFRA / "prefect" / "base-job-template.json").read_text())
    account = template["variables"]["properties"]["service_account_name"]["default"]
    assert template["variables"]["properties"]["namespace"]["default"] == "esdl"
    find(built, "ServiceAccount", account)
    (binding,) = [
        b.resource
        for b in built
        if b.resource["kind"] == "RoleBinding"
        and {"kind": "ServiceAccount", "name": account, "namespace": "esdl"} in b.resource["subjects"]
    ]
    role = find(built, "Role", binding["roleRef"]["name"])
    missing = [call for call in FLOW_RUNNER_CALLS if not allows(role, *call)]
    assert missing == []
    assert not allows(role, "apps", "deployments", "create")  # the operator makes workers, not the flow run


def test_resolver_and_validators_reject_what_is_broken(tmp_path: Path) -> None:
    copy_dir = tmp_path / "kubernetes"
    shutil.copytree(INFRA, copy_dir)
    kustomization = copy_dir / "kustomization.yaml"
    spec = yaml.safe_load(kustomization.read_text())

    for broken, message in [
        ({**spec, "resources": [*spec["resources"], "missing.yaml"]}, "does not exist"),
        ({**spec, "patches": [{"path": "x.yaml"}]}, "fields this resolver does not build"),
    ]:
        kustomization.write_text(yaml.safe_dump(broken))
        with pytest.raises(KustomizeError, match=message):
            build(copy_dir)
    with pytest.raises(KustomizeError, match=r"pins dask-kubernetes 2024\.1\.0"):
        remote_file(
            "https://raw.githubusercontent.com/dask/dask-kubernetes/2024.1.0/dask_kubernetes/operator/"
            "deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
        )
    with pytest.raises(KustomizeError, match="not a file of the dask-kubernetes repository"):
        remote_file("https://example.org/crds.yaml")

    kustomization.write_text(yaml.safe_dump(spec))
    role_file = copy_dir / "rbac" / "flow-runner.yaml"
    role_file.write_text(role_file.read_text().replace("verbs: [get, list, delete]", "verb: [get, list, delete]"))
    with pytest.raises(InvalidManifest, match="verb"):
        for b in build(copy_dir):
            validate(b.resource)


def as_kubernetes_worker_would(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The Job a Kubernetes worker submits for a flow run: Prefect's templating of the base job template, then
    what prefect-kubernetes' job configuration adds (not installed here, so its few steps are restated: the
    ``env`` mapping becomes the container's env list, the default command its args, the name a generateName)."""
    variables = BaseJobConfiguration._get_base_config_defaults(template["variables"]["properties"]) | values
    config = apply_values(copy.deepcopy(template["job_configuration"]), variables)
    job = config["job_manifest"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    container["env"] = [{"name": k, "value": v} for k, v in (config.get("env") or {}).items()]
    container["args"] = shlex.split(config.get("command") or "prefect flow-run execute")
    job["metadata"].setdefault("generateName", f"{config['name']}-")
    return job


FLOW_RUN = {
    "name": "crafty-lynx",
    "env": {"PREFECT_API_URL": "http://prefect-server.esdl.svc.cluster.local:4200/api", "PREFECT__FLOW_RUN_ID": "1"},
    "labels": {"prefect.io/flow-run-id": "0b4b7e8c-0000-4000-8000-000000000001"},
}
GPU = {
    "gpus": 1,
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def test_base_job_template_renders_valid_jobs_with_and_without_a_gpu() -> None:
    template = json.loads((INFRA / "prefect" / "base-job-template.json").read_text())
    cpu_job = as_kubernetes_worker_would(template, FLOW_RUN)
    gpu_job = as_kubernetes_worker_would(template, FLOW_RUN | GPU)
    for job in (cpu_job, gpu_job):
        validate_builtin(job)
        pod = job["spec"]["template"]["spec"]
        assert job["metadata"]["namespace"] == "esdl" and pod["serviceAccountName"] == "esdl-flow-runner"
        assert pod["containers"][0]["image"] == BUILTIN_PROFILES["k8s-gpu"].kubernetes.image
        assert pod["containers"][0]["args"] == ["prefect", "flow-run", "execute"]

    cpu_pod = cpu_job["spec"]["template"]["spec"]
    gpu_pod = gpu_job["spec"]["template"]["spec"]
    assert GPU_LIMIT not in cpu_pod["containers"][0]["resources"].get("limits", {})
    assert "nodeSelector" not in cpu_pod and "tolerations" not in cpu_pod
    assert gpu_pod["containers"][0]["resources"]["limits"] == {GPU_LIMIT: 1}
    assert gpu_pod["nodeSelector"] == GPU["node_selector"] and gpu_pod["tolerations"] == GPU["tolerations"]

    # Prefect's own default template, rendered the same way, is refused by a strict apply for the two Job fields
    # it puts in the pod spec (the API server otherwise drops them with a warning); ours has them on the Job
    default = generator().prefect_default_template()
    with pytest.raises(
        InvalidManifest, match=r"\('completions', 'parallelism' were unexpected\) at spec.template.spec"
    ):
        validate_builtin(as_kubernetes_worker_would(default, FLOW_RUN | {"namespace": "esdl", "image": "x"}))
    assert (cpu_job["spec"]["parallelism"], cpu_job["spec"]["completions"]) == (1, 1)
    broken = as_kubernetes_worker_would(template, FLOW_RUN | GPU | {"tolerations": [{"key": 1}]})
    with pytest.raises(InvalidManifest):
        validate_builtin(broken)
