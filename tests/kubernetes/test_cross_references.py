"""Every Service, port, ConfigMap key, Secret key and volume that something names exists, and every
ConfigMap holds the compose stack's own files (never a second copy)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import (
    NAMESPACE, OVERLAYS, SECRET, Object, base_name, by_generated_name, containers, main_container,
    mounted_files, of_kind, pod_template, render, walk, workloads,
)
from tests.support.compose import ROOT, Endpoint, example_env

# Each ConfigMap and the repository files it must hold, whole: adding a rule file, a dashboard or a
# provisioning file to the compose stack without adding it to kubernetes/base fails here.
CONFIGMAP_FILES = {
    "prometheus": ["prometheus/entrypoint.sh", "kubernetes/base/prometheus.yml"],
    "prometheus-rules": ["prometheus/rules/*.yml"],
    "alertmanager": ["alertmanager/entrypoint.sh", "alertmanager/alertmanager.yml"],
    "alertmanager-templates": ["alertmanager/templates/*"],
    "blackbox": ["blackbox/blackbox.yml"],
    "grafana-datasources": ["grafana/provisioning/datasources/*"],
    "grafana-dashboard-providers": ["grafana/provisioning/dashboards/*"],
    "grafana-alerting": ["grafana/provisioning/alerting/*"],
    "grafana-plugins": ["grafana/provisioning/plugins/*"],
    "grafana-dashboards": ["grafana/dashboards/*.json"],
    "postgres-init": ["postgres/init.sql"],
}


def files(patterns: list[str]) -> dict[str, Path]:
    found = {path.name: path for pattern in patterns for path in sorted(ROOT.glob(pattern)) if path.is_file()}
    assert found, patterns
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def selected_workloads(objects: list[Object], selector: dict[str, str]) -> list[Object]:
    return [w for w in workloads(objects).values() if selects(selector, pod_template(w)["metadata"]["labels"])]


def container_port(container: Object, port: int | str) -> int | None:
    """The number of a container's port given by number or name (None: no such port)."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return declared["containerPort"]  # type: ignore[no-any-return]
    return None


def service(objects: list[Object], endpoint: Endpoint) -> Object:
    """The Service an address names (short name, or name.namespace.svc[.cluster.local]) with its port."""
    host = endpoint.host
    for suffix in (f".{NAMESPACE}.svc.cluster.local", f".{NAMESPACE}.svc"):
        host = host.removesuffix(suffix)
    services = of_kind(objects, "Service")
    assert host in services, f"{endpoint} names no Service (there are {sorted(services)})"
    ports = {p["port"] for p in services[host]["spec"].get("ports", [])}
    assert endpoint.port in ports, f"Service {host} has no port {endpoint.port} (it has {sorted(ports)})"
    return services[host]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_in_the_namespace_and_part_of_the_stack(overlay: str) -> None:
    for obj in render(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, (obj["kind"], obj["metadata"]["name"])
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "promethoide", obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selects_pods_that_serve_its_ports(overlay: str) -> None:
    objects = render(overlay)
    for svc in of_kind(objects, "Service").values():
        if svc["spec"].get("type") == "ExternalName":
            continue
        pods = selected_workloads(objects, svc["spec"]["selector"])
        assert pods, f"Service {svc['metadata']['name']} selects no pod"
        for workload in pods:
            for port in svc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                assert container_port(main_container(workload), target), \
                    f"Service {svc['metadata']['name']}: {workload['metadata']['name']} has no port {target}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_probe_port_is_a_container_port(overlay: str) -> None:
    for workload in workloads(render(overlay)).values():
        for container in containers(workload):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind, {})
                for handler in ("httpGet", "tcpSocket"):
                    if handler in probe:
                        assert container_port(container, probe[handler]["port"]), (workload["metadata"]["name"], kind)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_volume_mount_configmap_key_and_claim_exists(overlay: str) -> None:
    objects = render(overlay)
    claims = set(of_kind(objects, "PersistentVolumeClaim"))
    for workload in workloads(objects).values():
        spec = pod_template(workload)["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        for container in containers(workload):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in templates, (workload["metadata"]["name"], mount)
        for volume in volumes.values():
            sources = [volume] + volume.get("projected", {}).get("sources", [])
            for source in sources:
                if "configMap" in source:
                    configmap = by_generated_name(objects, "ConfigMap", source["configMap"]["name"])
                    for item in source["configMap"].get("items", []):
                        assert item["key"] in configmap["data"], (workload["metadata"]["name"], item)
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in of_kind(objects, "ServiceAccount")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_key_is_a_setting_of_the_env_file(overlay: str) -> None:
    """The one Secret is made from .env (README.md), whose settings are .example.env's."""
    settings = set(example_env())
    refs = [value for path, value in walk(render(overlay)) if path and path[-1] == "secretKeyRef"]
    assert refs
    for ref in refs:
        assert ref["name"] == SECRET and ref["key"] in settings, ref
        assert not ref.get("optional"), f"{ref['key']}: a missing setting must stop the pod, with its name"
    assert not [p for p, _ in walk(render(overlay)) if p and p[-1] in ("envFrom", "secret")], \
        "every secret is taken key by key"


def configmaps(objects: list[Object]) -> dict[str, Object]:
    return {base_name(obj): obj for obj in objects if obj["kind"] == "ConfigMap"}


@pytest.mark.parametrize("overlay", ["single-node", "scaled"])
def test_every_configmap_holds_the_compose_stacks_own_files(overlay: str) -> None:
    found = configmaps(render(overlay))
    assert set(found) == set(CONFIGMAP_FILES)
    for name, patterns in CONFIGMAP_FILES.items():
        expected = {key: path.read_text() for key, path in files(patterns).items()}
        assert found[name]["data"] == expected, f"ConfigMap {name} is not {patterns}"


def test_every_configmap_fits_the_api_servers_limit() -> None:
    """A ConfigMap holds at most 1 MiB (https://kubernetes.io/docs/concepts/configuration/configmap/):
    the dashboards' is the one that grows. Above 256 KiB only server-side apply takes it (README.md)."""
    for name, configmap in configmaps(render("single-node")).items():
        size = sum(len(key) + len(value.encode()) for key, value in configmap["data"].items())
        assert size < 1024 * 1024, f"ConfigMap {name} is {size} bytes: split it"


def mounts_of(objects: list[Object], workload: str) -> dict[str, set[str]]:
    """Each folder a workload's main container sees ConfigMap files in -> their names."""
    seen: dict[str, set[str]] = {}
    for path in mounted_files(objects, workloads(objects)[workload]):
        seen.setdefault(str(Path(path).parent), set()).add(Path(path).name)
    return seen


def test_prometheus_entrypoint_sees_its_config_and_every_rule_file_beside_it() -> None:
    seen = mounts_of(render("single-node"), "prometheus")
    assert seen["/etc/prometheus"] == {"entrypoint.sh", "prometheus.yml"}
    assert seen["/etc/prometheus/rules"] == {p.name for p in (ROOT / "prometheus/rules").glob("*.yml")}


def test_alertmanager_entrypoint_sees_its_template_and_mail_templates() -> None:
    seen = mounts_of(render("single-node"), "alertmanager")
    assert seen["/etc/alertmanager"] == {"entrypoint.sh", "alertmanager.yml"}
    assert seen["/etc/alertmanager/templates"] == {p.name for p in (ROOT / "alertmanager/templates").iterdir()}


def test_grafana_sees_its_provisioning_where_compose_mounts_it_and_dashboards_where_the_provider_reads() -> None:
    seen = mounts_of(render("single-node"), "grafana")
    for directory in (ROOT / "grafana/provisioning").iterdir():
        assert seen[f"/etc/grafana/provisioning/{directory.name}"] == {p.name for p in directory.iterdir()}
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    for path in {p["options"]["path"] for p in provider["providers"]}:
        assert seen[path] == {p.name for p in (ROOT / "grafana/dashboards").glob("*.json")}


def test_postgres_runs_init_sql_and_blackbox_reads_its_config() -> None:
    objects = render("single-node")
    assert mounts_of(objects, "postgres")["/docker-entrypoint-initdb.d"] == {"init.sql"}
    (flag,) = [a for a in main_container(workloads(objects)["blackbox-exporter"])["args"] if a.startswith("--config.file=")]
    path = Path(flag.split("=", 1)[1])
    assert path.name in mounts_of(objects, "blackbox-exporter")[str(path.parent)]


def env(container: Object) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def addresses(objects: list[Object]) -> list[tuple[str, Endpoint]]:
    """(client workload, address) for every address a config file or a setting gives."""
    found: list[tuple[str, Endpoint]] = []
    config = yaml.safe_load(configmaps(objects)["prometheus"]["data"]["prometheus.yml"])
    for manager in config["alerting"]["alertmanagers"]:
        found += [("prometheus", Endpoint.from_url(t)) for g in manager["static_configs"] for t in g["targets"]]
    for job in config["scrape_configs"]:
        for group in job.get("static_configs", []):
            client = "blackbox-exporter" if job.get("metrics_path") == "/probe" else "prometheus"
            found += [(client, Endpoint.from_url(t if "//" in t or client == "prometheus" else "smtp://" + t))
                      for t in group["targets"]]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":
                found.append(("prometheus", Endpoint.from_url(relabel["replacement"])))
    for text in configmaps(objects)["grafana-datasources"]["data"].values():
        found += [("grafana", Endpoint.from_url(d["url"])) for d in yaml.safe_load(text)["datasources"]]
    settings = example_env()
    smarthost = Endpoint.from_url("smtp://" + settings["SMTP_SMARTHOST"])
    found += [("alertmanager", smarthost), ("grafana", smarthost)]
    wl = workloads(objects)
    api, k6, pg_exporter = (env(main_container(wl[name])) for name in ("api", "k6", "postgres-exporter"))
    found.append(("api", Endpoint(api["POSTGRES_HOST"], int(api["POSTGRES_PORT"]))))
    found += [("k6", Endpoint.from_url(k6["BASE_URL"])), ("k6", Endpoint.from_url(k6["PUSHGATEWAY_URL"]))]
    found.append(("postgres-exporter", Endpoint.from_url(pg_exporter["DATA_SOURCE_URI"].split("/")[0])))
    (scrape_uri,) = [a for a in main_container(wl["apache-exporter"])["args"] if a.startswith("--scrape_uri=")]
    found.append(("apache-exporter", Endpoint.from_url(scrape_uri.split("=", 1)[1])))
    conf = (ROOT / "apache" / "httpd.conf").read_text()
    found += [("apache", Endpoint.from_url(t)) for t in re.findall(r'^\s*BalancerMember\s+"?(http://[^"\s]+)', conf, re.M)]
    return found


def test_every_address_in_the_configuration_is_a_service_port_with_a_pod_behind_it() -> None:
    objects = render("single-node")
    found = addresses(objects)
    assert len(found) > 20
    for client, endpoint in found:
        svc = service(objects, endpoint)
        (port,) = [p for p in svc["spec"]["ports"] if p["port"] == endpoint.port]
        for workload in selected_workloads(objects, svc["spec"]["selector"]):
            assert container_port(main_container(workload), port["targetPort"]), (client, endpoint)


def test_the_scaled_overlay_scales_and_protects_the_api() -> None:
    objects = render("scaled")
    deployments = of_kind(objects, "Deployment")
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment" and target["name"] == "api" and "api" in deployments
    assert "replicas" not in deployments["api"]["spec"], "the autoscaler owns the number of replicas"
    assert hpa["spec"]["minReplicas"] >= 2
    (container,) = pod_template(deployments["api"])["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"], "CPU utilisation is relative to the request"
    (pdb,) = of_kind(objects, "PodDisruptionBudget").values()
    assert selected_workloads(objects, pdb["spec"]["selector"]["matchLabels"]) == [deployments["api"]]
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
