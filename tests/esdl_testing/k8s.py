"""Validating Kubernetes resources without a cluster.

- built-in kinds against the Kubernetes OpenAPI schemas that ``kubernetes-validate`` ships (offline, strict: an
  unknown field fails);
- the dask-kubernetes operator's custom resources against the CRDs shipped in the dask-kubernetes wheel, their
  ``openAPIV3Schema`` turned into a strict JSON schema (unknown fields fail, as ``kubectl apply
  --validate=strict`` makes them), and their metadata as a built-in object's.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 900 kB of YAML: 5 s in pure Python

K8S_VERSION = "1.37.0"
"""The Kubernetes version the manifests are validated for (the newest kubernetes-validate 1.37 ships)."""

DASK_GROUP = "kubernetes.dask.org"


class InvalidManifest(AssertionError):
    """A manifest does not validate; the message names the resource and the field."""


def crd_dir() -> Path:
    """The CRDs shipped in the installed dask-kubernetes wheel (the Helm chart's, with every schema expanded)."""
    path = Path(str(files("dask_kubernetes.operator"))) / "deployment/helm/dask-kubernetes-operator/crds"
    if not path.is_dir():
        raise FileNotFoundError(f"no CRDs in the installed dask-kubernetes at {path}")
    return path


@cache
def crds() -> dict[str, dict[str, Any]]:
    """The operator's CRDs by kind (DaskCluster, DaskWorkerGroup, DaskJob, DaskAutoscaler)."""
    out = {}
    for path in sorted(crd_dir().glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_LOADER)
        out[crd["spec"]["names"]["kind"]] = crd
    return out


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 structural schema as a strict JSON schema.

    ``x-kubernetes-preserve-unknown-fields`` keeps an object open; any other object with ``properties`` and no
    ``additionalProperties`` is closed (the API server prunes or, strictly, rejects unknown fields);
    ``x-kubernetes-int-or-string`` allows both types (the schema then has no ``type``).
    """
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        out.pop("type", None)
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            out[key] = [_strict(s) for s in schema[key]]
    return out


@cache
def custom_resource_schema(kind: str) -> dict[str, Any]:
    """The strict JSON schema of one of the operator's kinds (its served version's ``openAPIV3Schema``)."""
    crd = crds()[kind]
    (version,) = [v for v in crd["spec"]["versions"] if v.get("served")]
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    # apiVersion, kind and metadata are the API server's; metadata is checked as a built-in object's
    schema["properties"] |= {
        "apiVersion": {"const": f"{crd['spec']['group']}/{version['name']}"},
        "kind": {"const": kind},
        "metadata": {"type": "object"},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return schema


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def check_metadata(resource: dict[str, Any]) -> None:
    """The ObjectMeta rules the API server checks in code rather than in its schemas: the name is a DNS subdomain,
    label keys are ``[prefix/]name`` and label values at most 63 characters of the label alphabet.

    Raises:
        InvalidManifest: naming the resource and the offending name or label.
    """
    meta = resource.get("metadata") or {}
    name = meta.get("name")
    if name is not None and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        raise InvalidManifest(f"{_what(resource)}: the name is not a lowercase DNS subdomain")
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix))) or not (
            len(label) <= 63 and _LABEL_NAME.match(label)
        ):
            raise InvalidManifest(f"{_what(resource)}: label key {key!r} is invalid")
        if not isinstance(value, str) or (value and not (len(value) <= 63 and _LABEL_NAME.match(value))):
            raise InvalidManifest(
                f"{_what(resource)}: label {key}={value!r}: not a label value (63 characters at most)"
            )


def validate_builtin(resource: dict[str, Any]) -> None:
    """Validate a built-in kind against Kubernetes' OpenAPI schemas, strictly (unknown fields fail), and its metadata.

    Raises:
        InvalidManifest: naming the kind, the name and what is wrong.
    """
    check_metadata(resource)
    try:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise InvalidManifest(f"{_what(resource)}: {exc.message} at {'.'.join(map(str, exc.path))}") from exc
    except kubernetes_validate.utils.SchemaNotFoundError as exc:
        raise InvalidManifest(f"{_what(resource)}: {exc.message}") from exc


def validate_custom(resource: dict[str, Any]) -> None:
    """Validate one of the operator's custom resources against its CRD, and its metadata as a built-in object's.

    Raises:
        InvalidManifest: naming the kind, the name and what is wrong.
    """
    kind = resource.get("kind", "")
    if kind not in crds():
        raise InvalidManifest(f"{_what(resource)}: not a kind of the dask-kubernetes CRDs ({sorted(crds())})")
    try:
        jsonschema.validate(resource, custom_resource_schema(kind))
    except jsonschema.ValidationError as exc:
        raise InvalidManifest(f"{_what(resource)}: {exc.message} at {exc.json_path}") from exc
    # the same ObjectMeta rules as any object: its schema (as a ConfigMap's), name syntax, labels
    validate_builtin({"apiVersion": "v1", "kind": "ConfigMap", "metadata": resource["metadata"]})


def validate(resource: dict[str, Any]) -> None:
    """Validate any resource: the operator's kinds against its CRDs, the rest against Kubernetes' schemas."""
    if str(resource.get("apiVersion", "")).startswith(DASK_GROUP + "/"):
        validate_custom(resource)
    else:
        validate_builtin(resource)


def _what(resource: dict[str, Any]) -> str:
    name = (resource.get("metadata") or {}).get("name", "?")
    return f"{resource.get('kind', '?')} {name!r}"


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386) the way the API server applies ``application/merge-patch+json``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def expand_env(arg: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` in a container argument as the kubelet does (an unknown variable stays as written)."""
    for name, value in env.items():
        arg = arg.replace(f"$({name})", value)
    return arg
