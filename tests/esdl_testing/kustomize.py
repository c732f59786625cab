"""What ``kubectl kustomize`` would build from a kustomization, for the subset of kustomize ``infra/kubernetes`` uses.

There is no kubectl here. This resolves ``resources`` (files, nested kustomization folders, and remote files of the
dask-kubernetes repository, which are read from the installed wheel when the URL pins its version),
``configMapGenerator`` (with ``disableNameSuffixHash``) and ``namespace``; any other kustomize field fails, so a new
one cannot be ignored silently.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
DASK_RAW = re.compile(r"^https://raw\.githubusercontent\.com/dask/dask-kubernetes/(?P<version>[^/]+)/(?P<path>.+)$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KustomizeError(AssertionError):
    """The kustomization cannot be built: a missing file, an unknown URL, an unsupported field."""


@dataclass
class Built:
    """One resource of the build and the file (or URL) it came from."""

    source: str
    resource: dict[str, Any]


def remote_file(url: str) -> Path:
    """The installed dask-kubernetes' copy of a file its repository serves at ``url`` (at the installed version).

    Raises:
        KustomizeError: the URL is not one of that repository's, names another version, or no such file shipped.
    """
    match = DASK_RAW.match(url)
    if not match:
        raise KustomizeError(f"remote resource {url} is not a file of the dask-kubernetes repository")
    installed = importlib.metadata.version("dask-kubernetes")
    if match["version"] != installed:
        raise KustomizeError(f"{url} pins dask-kubernetes {match['version']}, but {installed} is installed")
    path = Path(str(files("dask_kubernetes"))).parent / match["path"]
    if not path.is_file():
        raise KustomizeError(f"{url}: the installed dask-kubernetes has no {match['path']}")
    return path


def _documents(path: Path, source: str) -> list[Built]:
    docs = [d for d in yaml.load_all(path.read_text(), Loader=_LOADER) if d is not None]
    return [Built(source, d) for d in docs]


def build(folder: Path) -> list[Built]:
    """Every resource the kustomization in ``folder`` builds, in order.

    Raises:
        KustomizeError: see :class:`KustomizeError`.
    """
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder} has no kustomization.yaml")
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{path}: fields this resolver does not build: {sorted(unknown)}")
    out: list[Built] = []
    for entry in spec.get("resources", []):
        if entry.startswith(("https://", "http://")):
            out += _documents(remote_file(entry), entry)
        elif (folder / entry).is_dir():
            out += build(folder / entry)
        elif (folder / entry).is_file():
            out += _documents(folder / entry, str(folder / entry))
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")
    for generator in spec.get("configMapGenerator", []):
        if not (generator.get("options") or {}).get("disableNameSuffixHash"):
            raise KustomizeError(f"{path}: ConfigMap {generator['name']}: name suffix hashes are not built here")
        data = {}
        for item in generator.get("files", []):
            key, _, rel = item.rpartition("=")
            file = folder / rel
            if not file.is_file():
                raise KustomizeError(f"{path}: ConfigMap {generator['name']}: {rel} does not exist")
            data[key or file.name] = file.read_text()
        resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        out.append(Built(str(path), resource))
    namespace = spec.get("namespace")
    if namespace:
        for built in out:
            if built.resource["kind"] not in CLUSTER_SCOPED:
                built.resource.setdefault("metadata", {})["namespace"] = namespace
    return out
