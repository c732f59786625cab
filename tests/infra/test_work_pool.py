"""The Kubernetes work pool's base job template, checked by a real Prefect server as `prefect work-pool create` is.

The server refuses a template whose job configuration uses a variable its schema does not declare, or whose
defaults do not conform to that schema; a deployment's job variables (the GPU variant's) are checked against the
same schema when the deployment is created.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from esdl_testing.paths import REPO_ROOT

TEMPLATE = json.loads((REPO_ROOT / "infra" / "kubernetes" / "prefect" / "base-job-template.json").read_text())
GPU_VARIABLES = {
    "gpus": 1,
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "image": "ghcr.io/esdl/esdl:cuda",
}


def create_pool(api: httpx.Client, template: dict[str, Any]) -> httpx.Response:
    return api.post(
        "/work_pools/",
        json={"name": f"k8s-{uuid.uuid4().hex[:8]}", "type": "kubernetes", "base_job_template": template},
    )


def create_deployment(api: httpx.Client, pool: str, job_variables: dict[str, Any]) -> httpx.Response:
    flow = api.post("/flows/", json={"name": "train-model"})
    flow.raise_for_status()
    return api.post(
        "/deployments/",
        json={
            "name": f"gpu-{uuid.uuid4().hex[:8]}",
            "flow_id": flow.json()["id"],
            "work_pool_name": pool,
            "job_variables": job_variables,
        },
    )


@pytest.fixture
def api(prefect_api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=prefect_api, timeout=60) as client:
        yield client


def test_prefect_accepts_the_template_and_its_gpu_variant(api: httpx.Client) -> None:
    pool = create_pool(api, TEMPLATE)
    assert pool.status_code == 201, pool.text
    stored = api.get(f"/work_pools/{pool.json()['name']}").json()
    assert stored["type"] == "kubernetes" and stored["base_job_template"] == TEMPLATE

    deployment = create_deployment(api, pool.json()["name"], GPU_VARIABLES)
    assert deployment.status_code == 201, deployment.text
    assert deployment.json()["job_variables"] == GPU_VARIABLES


def test_prefect_refuses_a_gpu_variant_that_does_not_fit_the_schema(api: httpx.Client) -> None:
    pool = create_pool(api, TEMPLATE)
    assert pool.status_code == 201, pool.text
    for bad in ({"gpus": "one"}, {"gpus": 0}, {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Sometimes"}]}):
        response = create_deployment(api, pool.json()["name"], bad)
        assert response.status_code == 422, (bad, response.text)


def test_prefect_refuses_broken_templates(api: httpx.Client) -> None:
    undeclared = copy.deepcopy(TEMPLATE)
    undeclared["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["priorityClassName"] = "{{ priority }}"
    response = create_pool(api, undeclared)
    assert response.status_code == 422 and "priority" in response.text

    bad_default = copy.deepcopy(TEMPLATE)
    bad_default["variables"]["properties"]["gpus"]["default"] = "one"
    response = create_pool(api, bad_default)
    assert response.status_code == 422 and "gpus" in response.text
