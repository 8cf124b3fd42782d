"""The Kubernetes workloads carry the compose services' settings and hardening over, each derived
here from docker-compose.yaml: images, environment, commands, healthchecks as probes, memory limits,
read-only root filesystems, no-new-privileges, exposed ports."""

import re
from functools import cache
from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import (
    KUBERNETES, Object, containers, main_container, of_kind, pod_template, render, workloads,
)
from tests.support.compose import COMPOSE_FILE, ROOT, on_host_network, ports, services

# The only pod that starts as root, and why (README.md, "What differs from compose").
ROOT_PODS = {"apache": "httpd binds port 80 as root, then runs its workers as www-data (apache/httpd.conf's User)"}
# Compose's healthcheck -> readiness; the liveness probe (a restart compose would not do) is left out here.
NO_LIVENESS = {"postgres": "pg_isready fails during crash recovery; a restart would start the recovery over"}
# The k6 scheduler's loop becomes a CronJob: its heartbeat healthcheck and its command have no equivalent.
CRONJOBS = {"k6"}
# Settings a pod takes from the downward API instead of the Secret. Compose's node-exporter, on the
# host's network, listens on the one host-gateway address .env gives; its Kubernetes form is a DaemonSet
# on the host's network, one pod per node, each with its own address: the pod's IP, which on the host's
# network is the node's, and the address Prometheus's pod discovery scrapes (base/prometheus.yml).
FROM_THE_POD = {("node-exporter", "NODE_EXPORTER_ADDRESS"): {"fieldRef": {"fieldPath": "status.podIP"}}}
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


@cache
def raw_services() -> dict[str, Any]:
    """docker-compose.yaml's services, not interpolated (merge keys resolved by PyYAML)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]  # type: ignore[no-any-return]


def as_kubernetes(value: str) -> tuple[str, list[str]]:
    """A compose value with ${NAME...} as Kubernetes' $(NAME) and $$ as $, and the names it uses."""
    names: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        names.append(match["name"])
        return f"$({match['name']})"

    return _VARIABLE.sub(substitute, value), names


def whole_variable(value: str) -> str | None:
    """NAME when the value is exactly one ${NAME...}."""
    match = _VARIABLE.fullmatch(value)
    return match["name"] if match and match["name"] else None


@cache
def single_node() -> dict[str, Object]:
    return workloads(render("single-node"))


SERVICES = sorted(raw_services())


def test_every_compose_service_is_one_workload_of_the_same_name() -> None:
    assert set(single_node()) == set(raw_services())


@pytest.mark.parametrize("name", SERVICES)
def test_same_image(name: str) -> None:
    image = main_container(single_node()[name])["image"]
    compose = raw_services()[name]
    if "image" in compose:
        assert image == compose["image"]
    else:
        # Built from this repository: compose names the image <project>-<service>; the tag is the
        # kustomization's `images:` entry, which users point at their registry.
        assert (ROOT / compose["build"] / "Dockerfile").exists()
        assert image == f"promethoide-{name}:latest"
        # `latest` would mean "always pull" from a registry that does not have it (README.md: kind load).
        assert main_container(single_node()[name])["imagePullPolicy"] == "IfNotPresent"
        kustomization = yaml.safe_load((KUBERNETES / "base" / "kustomization.yaml").read_text())
        assert f"promethoide-{name}" in {entry["name"] for entry in kustomization["images"]}


@pytest.mark.parametrize("name", SERVICES)
def test_same_environment_settings_from_the_secret(name: str) -> None:
    container = main_container(single_node()[name])
    entries = {e["name"]: e for e in container.get("env", [])}
    order = [e["name"] for e in container.get("env", [])]
    compose_env = {key: str(value) for key, value in raw_services()[name].get("environment", {}).items()}
    helpers = set(entries) - set(compose_env)
    for key, value in compose_env.items():
        assert key in entries, f"{name}: {key} missing"
        variable = whole_variable(value)
        if variable:
            assert entries[key].get("valueFrom", {}).get("secretKeyRef", {}).get("key") == variable, (name, key)
            continue
        expected, used = as_kubernetes(value)
        assert entries[key].get("value") == expected, (name, key)
        for variable in used:
            assert variable in helpers and order.index(variable) < order.index(key), f"{name}: {key} needs {variable}"
    # Extra variables only carry a setting of the Secret into a $(NAME) of the command line or another variable.
    command_line = " ".join(container.get("command", []) + container.get("args", []))
    for helper in helpers:
        if (name, helper) in FROM_THE_POD:
            assert on_host_network(name), f"{name}: only a host-network pod listens on its node's address"
            assert entries[helper]["valueFrom"] == FROM_THE_POD[name, helper]
        else:
            assert entries[helper]["valueFrom"]["secretKeyRef"]["key"] == helper
        assert f"$({helper})" in command_line + " ".join(e.get("value", "") for e in entries.values())


@pytest.mark.parametrize("name", sorted(set(SERVICES) - CRONJOBS))
def test_same_entrypoint_and_command(name: str) -> None:
    container, compose = main_container(single_node()[name]), raw_services()[name]
    if "entrypoint" in compose:
        assert container["command"] == compose["entrypoint"]
    else:
        assert "command" not in container
    assert container.get("args", []) == [as_kubernetes(arg)[0] for arg in compose.get("command", [])]


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match[1])


def own_hosts(name: str) -> list[str]:
    """The hosts by which a service's healthcheck calls the service itself: 127.0.0.1, and for one on
    the host's network the host of its --web.listen-address (as written, ${VARIABLE} included). The
    kubelet sends an httpGet probe to the pod's IP, which is that address in Kubernetes (FROM_THE_POD)."""
    hosts = ["127.0.0.1"]
    if on_host_network(name):
        flags = [a for a in raw_services()[name]["command"] if a.startswith("--web.listen-address=")]
        hosts += [flag.split("=", 1)[1].rpartition(":")[0] for flag in flags]
    return hosts


def expected_handler(name: str, test: list[str], container: Object) -> dict[str, Any]:
    """The probe handler for a compose healthcheck: an HTTP GET of the service itself (own_hosts)
    becomes httpGet (the kubelet needs no client in the image), anything else runs the same command."""
    kind, *command = test
    hosts = "|".join(re.escape(host) for host in own_hosts(name))
    urls = re.findall(rf"http://(?:{hosts}):(\d+)(/[^'\"\s]*)", " ".join(command))
    if len(urls) == 1:
        port, path = urls[0]
        (declared,) = [p for p in container["ports"] if p["containerPort"] == int(port)]
        return {"httpGet": {"path": path, "port": declared.get("name", int(port))}}
    if kind == "CMD-SHELL":
        (shell,) = command
        return {"exec": {"command": ["sh", "-c", shell.replace("$$", "$")]}}
    assert kind == "CMD", test
    return {"exec": {"command": command}}


@pytest.mark.parametrize("name", sorted(set(SERVICES) - CRONJOBS))
def test_probes_are_the_healthchecks(name: str) -> None:
    container, check = main_container(single_node()[name]), raw_services()[name]["healthcheck"]
    handler = expected_handler(name, check["test"], container)
    timing = {"periodSeconds": seconds(check["interval"]), "timeoutSeconds": seconds(check["timeout"]),
              "failureThreshold": check["retries"]}
    assert container["readinessProbe"] == {**handler, **timing}
    if name in NO_LIVENESS:
        assert "livenessProbe" not in container
    else:
        assert container["livenessProbe"] == {**handler, **timing, "initialDelaySeconds": seconds(check["start_period"])}


def mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", quantity)
    assert match, quantity
    units = {"m": 1, "g": 1024, "Mi": 1, "Gi": 1024}  # compose's m and g are binary, as Kubernetes' Mi and Gi
    return int(match[1]) * units[match[2]]


@pytest.mark.parametrize("name", SERVICES)
def test_memory_limit_is_the_compose_limit(name: str) -> None:
    limit = raw_services()[name]["deploy"]["resources"]["limits"]["memory"]
    resources = main_container(single_node()[name])["resources"]
    assert mebibytes(resources["limits"]["memory"]) == mebibytes(limit)
    assert mebibytes(resources["requests"]["memory"]) <= mebibytes(limit)


@pytest.mark.parametrize("name", SERVICES)
def test_read_only_root_filesystem_where_compose_has_read_only_with_its_tmpfs(name: str) -> None:
    workload, compose = single_node()[name], raw_services()[name]
    container = main_container(workload)
    assert container["securityContext"].get("readOnlyRootFilesystem", False) == compose.get("read_only", False)
    volumes = {v["name"]: v for v in pod_template(workload)["spec"].get("volumes", [])}
    memory_mounts = {m["mountPath"] for m in container.get("volumeMounts", [])
                     if volumes.get(m["name"], {}).get("emptyDir", {}).get("medium") == "Memory"}
    assert set(compose.get("tmpfs", [])) <= memory_mounts


@pytest.mark.parametrize("name", SERVICES)
def test_non_root_without_privilege_escalation(name: str) -> None:
    workload = single_node()[name]
    pod = pod_template(workload)["spec"]["securityContext"]
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in containers(workload):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False  # compose's no-new-privileges
        if name not in ROOT_PODS:
            assert context["capabilities"]["drop"] == ["ALL"]
    if name in ROOT_PODS:
        assert not pod.get("runAsNonRoot")
        return
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    dockerfile = ROOT / raw_services()[name].get("build", "/nonexistent") / "Dockerfile"
    if dockerfile.exists():
        (user,) = re.findall(r"^USER (\d+)", dockerfile.read_text(), re.M)
        assert pod["runAsUser"] == int(user), "the image's own user"


@pytest.mark.parametrize("name", SERVICES)
def test_service_ports_are_the_exposed_ports(name: str) -> None:
    # ports(): `expose` on a compose network. A service on the host's network exposes nothing (compose
    # reaches it at the host's address, on the port of its --web.listen-address); its Kubernetes form
    # has a headless Service on that port, which the prometheus-operator overlay's ServiceMonitor selects.
    exposed = set(ports(name))
    found = of_kind(render("single-node"), "Service").get(name)
    served = {p["port"] for p in found["spec"]["ports"]} if found else set()
    assert served == exposed


def test_the_smoke_test_is_a_cronjob_running_the_schedulers_task() -> None:
    cronjob = single_node()["k6"]
    assert cronjob["kind"] == "CronJob"
    config = yaml.safe_load((ROOT / "k6-pycron" / "my_config.yaml").read_text())
    command = main_container(cronjob)["command"]
    assert command[:3] == ["python", "/app/scheduler.py", "--once"]
    (task,) = [t for t in config["tasks"] if t["name"] == command[3]]
    assert "k6" in task, "a k6 task: its results are pushed to the Pushgateway"
    assert cronjob["spec"]["schedule"] == task["cron"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid", "a run never overlaps the previous one"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] >= task["timeout"] + config.get("kill_grace_seconds", 5)
    assert job["backoffLimit"] == 0
    assert pod_template(cronjob)["spec"]["shareProcessNamespace"] is True, "compose's init: true"
