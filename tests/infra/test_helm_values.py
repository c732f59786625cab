"""The Helm values for Prefect's official charts, checked without helm (there is none here to render the charts).

The charts' own ``values.schema.json`` is not installed anywhere on this machine, so the structure is checked
against a restatement of the chart values esdl sets (names and types as the prefect-server and prefect-worker
charts' values.yaml document them; closed where the charts' schemas are closed, so a misspelt key fails), and the
values are checked against each other and the kustomization: the worker reaches the server's Service, reads the
ConfigMap the kustomization makes, and both run the Prefect esdl pins. Rendering the charts was not done.
"""

from __future__ import annotations

import copy
import importlib.metadata
from typing import Any

import jsonschema
import pytest
import yaml

from esdl_testing.kustomize import build
from esdl_testing.paths import REPO_ROOT

PREFECT = REPO_ROOT / "infra" / "kubernetes" / "prefect"


def closed(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
QUANTITIES = closed(cpu=STR, memory=STR)
RESOURCES = closed(requests=QUANTITIES, limits=QUANTITIES)
IMAGE = closed(repository=STR, prefectTag=STR, pullPolicy={"enum": ["IfNotPresent", "Always", "Never"]})

WORKER_SCHEMA = {
    "type": "object",
    "required": ["worker"],
    "properties": {
        "fullnameOverride": STR,
        "worker": {
            **closed(
                apiConfig={"enum": ["cloud", "selfHosted", "server"]},
                serverApiConfig=closed(apiUrl={"type": "string", "pattern": "^https?://.+/api$"}, uiUrl=STR),
                config=closed(
                    workPool={"type": "string", "minLength": 1},
                    type={"const": "kubernetes"},
                    limit={"type": ["integer", "null"]},
                    baseJobTemplate=closed(existingConfigMapName=STR, configuration={"type": ["string", "null"]}),
                ),
                image=IMAGE,
                replicaCount=INT,
                resources=RESOURCES,
            ),
            "required": ["apiConfig", "serverApiConfig", "config"],
        },
        "serviceAccount": closed(create=BOOL, name=STR),
        "role": closed(create=BOOL),
        "rolebinding": closed(create=BOOL),
    },
    "additionalProperties": False,
}

SERVER_SCHEMA = {
    "type": "object",
    "properties": {
        "fullnameOverride": STR,
        "global": closed(prefect=closed(image=IMAGE)),
        "server": closed(uiConfig=closed(prefectUiApiUrl=STR), loggingLevel=STR, resources=RESOURCES, replicaCount=INT),
        "backgroundServices": closed(runAsSeparateDeployment=BOOL),
        "service": closed(type={"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, port=INT),
        "sqlite": closed(enabled={"const": False}),
        "postgresql": closed(
            enabled={"const": True},
            # no password: it is given at install time (a committed one would be public)
            auth=closed(database=STR, username=STR, existingSecret=STR),
            primary=closed(persistence=closed(enabled=BOOL, size=STR)),
        ),
    },
    "required": ["fullnameOverride", "service", "sqlite", "postgresql"],
    "additionalProperties": False,
}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((PREFECT / name).read_text())


def test_values_have_the_charts_structure() -> None:
    jsonschema.validate(load("values-prefect-worker.yaml"), WORKER_SCHEMA)
    jsonschema.validate(load("values-prefect-server.yaml"), SERVER_SCHEMA)


def test_structure_checks_can_fail() -> None:
    worker = load("values-prefect-worker.yaml")
    server = load("values-prefect-server.yaml")
    breakages = [
        (WORKER_SCHEMA, worker, lambda v: v["worker"]["config"].update(workpool="esdl-k8s")),  # misspelt key
        (WORKER_SCHEMA, worker, lambda v: v["worker"].update(apiConfig="local")),
        (SERVER_SCHEMA, server, lambda v: v["postgresql"]["auth"].update(password="prefect-rocks")),
        (SERVER_SCHEMA, server, lambda v: v["sqlite"].update(enabled=True)),
    ]
    for schema, values, breaking in breakages:
        broken = copy.deepcopy(values)
        breaking(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_values_fit_together() -> None:
    worker = load("values-prefect-worker.yaml")["worker"]
    server = load("values-prefect-server.yaml")
    namespace = yaml.safe_load((REPO_ROOT / "infra/kubernetes/kustomization.yaml").read_text())["namespace"]
    # the worker talks to the server chart's Service, in the kustomization's namespace
    service = f"http://{server['fullnameOverride']}.{namespace}.svc.cluster.local:{server['service']['port']}/api"
    assert worker["serverApiConfig"]["apiUrl"] == service
    # it reads the base job template from the ConfigMap the kustomization generates, under the key the chart wants
    (config_map,) = [
        b.resource
        for b in build(REPO_ROOT / "infra" / "kubernetes")
        if b.resource["kind"] == "ConfigMap"
        and b.resource["metadata"]["name"] == worker["config"]["baseJobTemplate"]["existingConfigMapName"]
    ]
    assert config_map["data"]["baseJobTemplate.json"] == (PREFECT / "base-job-template.json").read_text()
    # both run the Prefect esdl pins
    version = importlib.metadata.version("prefect")
    assert server["global"]["prefect"]["image"]["prefectTag"].startswith(f"{version}-")
    assert worker["image"]["prefectTag"].startswith(f"{version}-") and worker["image"]["prefectTag"].endswith(
        "-kubernetes"
    )
