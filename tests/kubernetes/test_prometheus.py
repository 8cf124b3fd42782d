"""The Kubernetes Prometheus configuration: generated from compose's, differing only in discovery,
accepted by promtool as mounted; the operator overlay's PrometheusRules are the rule files."""

import copy
import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import (
    KUBERNETES, NAMESPACE, Object, main_container, mounted_files, named, pod_template, render, workloads,
)
from tests.support.compose import ROOT

COMPOSE_CONFIG = ROOT / "prometheus" / "prometheus.yml"
# https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config
KUBERNETES_SD_KEYS = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata"}
KUBERNETES_SD_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}


def generator() -> ModuleType:
    """kubernetes/generate.py (a script, not a package: see its docstring)."""
    spec = importlib.util.spec_from_file_location("kubernetes_generate", KUBERNETES / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_fresh() -> None:
    for path, text in generator().outputs().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `python kubernetes/generate.py`"


def rendered_config() -> dict[str, Any]:
    configmap = named(render("single-node"), "ConfigMap", "prometheus")
    return yaml.safe_load(configmap["data"]["prometheus.yml"])  # type: ignore[no-any-return]


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_it_differs_from_compose_only_in_how_the_api_and_node_exporter_are_found() -> None:
    compose, kubernetes = yaml.safe_load(COMPOSE_CONFIG.read_text()), rendered_config()
    rediscovered = generator().KUBERNETES_SD
    assert set(rediscovered) == {"api", "blackbox-api", "node"}
    assert list(jobs(kubernetes)) == list(jobs(compose)), "same jobs, same order"
    for name in rediscovered:
        # A job's own relabelling (blackbox-api's probe URL and exporter) follows the discovery's, unchanged.
        own = jobs(compose)[name].get("relabel_configs", [])
        assert jobs(kubernetes)[name]["relabel_configs"][len(jobs(kubernetes)[name]["relabel_configs"]) - len(own):] == own
    for config in (compose, kubernetes):
        for name in rediscovered:
            job = jobs(config)[name]
            for key in ("static_configs", "dns_sd_configs", "kubernetes_sd_configs", "relabel_configs"):
                job.pop(key, None)
    assert kubernetes == compose  # global, rule_files, alerting, every other job, every label


@pytest.mark.parametrize("job_name", ["api", "node"])
def test_kubernetes_discovery_keeps_the_labels_compose_gives_the_targets(job_name: str) -> None:
    # The node job's `site: centre`: without it the host alerts and dashboards lose the central host.
    compose_job = jobs(yaml.safe_load(COMPOSE_CONFIG.read_text()))[job_name]
    given = {k: v for group in compose_job.get("static_configs", []) for k, v in (group.get("labels") or {}).items()}
    # ... and those its relabelling sets to a constant (the api job's `site: centre`).
    given |= {r["target_label"]: r["replacement"] for r in compose_job.get("relabel_configs", [])
              if "source_labels" not in r}
    relabel = jobs(rendered_config())[job_name]["relabel_configs"]
    set_by_relabel = {r["target_label"]: r["replacement"] for r in relabel if "replacement" in r and "source_labels" not in r}
    assert set_by_relabel == given
    assert given == {"site": "centre"}


@pytest.mark.parametrize("job_name", ["api", "blackbox-api", "node"])
def test_kubernetes_discovery_keeps_the_pods_that_serve_the_job(job_name: str) -> None:
    job = jobs(rendered_config())[job_name]
    (sd,) = job["kubernetes_sd_configs"]
    assert set(sd) <= KUBERNETES_SD_KEYS and sd["role"] in KUBERNETES_SD_ROLES
    assert sd == {"role": "pod", "namespaces": {"own_namespace": True}}
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name",
                                     "__meta_kubernetes_pod_container_port_number"]
    app, port = keep["regex"].split(";")
    workload = workloads(render("single-node"))[app]
    assert pod_template(workload)["metadata"]["labels"]["app.kubernetes.io/name"] == app
    assert int(port) in {p["containerPort"] for p in main_container(workload)["ports"]}
    compose_job = jobs(yaml.safe_load(COMPOSE_CONFIG.read_text()))[job_name]
    compose_ports = {int(t.rsplit(":", 1)[1]) for g in compose_job.get("static_configs", []) for t in g["targets"]}
    compose_ports |= {sd["port"] for sd in compose_job.get("dns_sd_configs", [])}
    assert compose_ports == {int(port)}


def test_prometheus_may_list_the_pods_it_discovers() -> None:
    objects = render("single-node")
    deployment = workloads(objects)["prometheus"]
    account = pod_template(deployment)["spec"]["serviceAccountName"]
    named(objects, "ServiceAccount", account)
    binding = named(objects, "RoleBinding", "prometheus-discovery")
    assert {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in binding["subjects"]
    role = named(objects, binding["roleRef"]["kind"], binding["roleRef"]["name"])
    assert any("pods" in rule["resources"] and {"list", "watch"} <= set(rule["verbs"]) for rule in role["rules"])


def mounted_config(objects: list[Object], into: Path) -> Path:
    """The Prometheus container's /etc/prometheus as Kubernetes lays it out; returns prometheus.yml."""
    deployment = workloads(objects)["prometheus"]
    for path, text in mounted_files(objects, deployment).items():
        relative = Path(path).relative_to("/etc/prometheus")
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        (into / relative).write_text(text)
    flag = next(a for a in main_container(deployment)["args"] if a.startswith("--config.file="))
    return into / Path(flag.split("=", 1)[1]).relative_to("/etc/prometheus")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rendered_config_with_its_rules_as_mounted(tmp_path: Path) -> None:
    config_file = mounted_config(render("single-node"), tmp_path)
    rule_files = sorted(p.name for p in (tmp_path / "rules").glob("*.yml"))
    assert rule_files == sorted(p.name for p in (ROOT / "prometheus" / "rules").glob("*.yml"))
    # Debian's promtool (2.42) is built without Kubernetes discovery ("field kubernetes_sd_configs not
    # found"): its jobs get a static target of the same port; the discovery blocks are checked above.
    config = yaml.safe_load(config_file.read_text())
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            app, port = job["relabel_configs"][0]["regex"].split(";")
            del job["kubernetes_sd_configs"]
            job["static_configs"] = [{"targets": [f"{app}:{port}"]}]
    config_file.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool checks the rule files the config loads: it found them all.
    for name in rule_files:
        assert f"rules/{name}" in result.stdout, result.stdout


def test_promtool_rejects_a_broken_rendered_config(tmp_path: Path) -> None:
    config_file = mounted_config(render("single-node"), tmp_path)
    (tmp_path / "rules" / "broken.yml").write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: up ==\n")
    config = yaml.safe_load(config_file.read_text())
    config["scrape_configs"] = [j for j in config["scrape_configs"] if "kubernetes_sd_configs" not in j]
    config_file.write_text(yaml.safe_dump(config))
    assert promtool("check", "config", str(config_file)).returncode != 0


def prometheus_rules() -> dict[str, Object]:
    return {rule["metadata"]["name"]: rule for rule in render("prometheus-operator") if rule["kind"] == "PrometheusRule"}


def test_the_prometheus_rules_are_the_rule_files() -> None:
    files = {f"promethoide-{p.stem}": p for p in (ROOT / "prometheus" / "rules").glob("*.yml")}
    rules = prometheus_rules()
    assert set(rules) == set(files)
    for name, path in files.items():
        assert rules[name]["spec"] == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", sorted(f"promethoide-{p.stem}" for p in (ROOT / "prometheus" / "rules").glob("*.yml")))
def test_promtool_accepts_each_prometheus_rule(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(copy.deepcopy(prometheus_rules()[name]["spec"])))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
