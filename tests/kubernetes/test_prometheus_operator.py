"""The prometheus-operator overlay scrapes what prometheus/prometheus.yml scrapes: one ServiceMonitor
or Probe per job, with the job's label, port, interval and options; and it drops the own Prometheus."""

from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import Object, of_kind, render, workloads
from tests.kubernetes.test_cross_references import service
from tests.support.compose import ROOT, Endpoint, host_gateway_names, listen_addresses, on_host_network, services

COMPOSE = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
JOBS = {job["job_name"]: job for job in COMPOSE["scrape_configs"]}
# The operator's Prometheus scrapes itself under its own job (kube-prometheus does).
NOT_CARRIED = {"prometheus"}
# Probes of fixed targets become Probes; job blackbox-api probes every API pod, which only a
# ServiceMonitor finds (a Probe takes static targets or Ingresses).
PROBE_JOBS = {name for name, job in JOBS.items() if job.get("metrics_path") == "/probe" and "static_configs" in job}


def objects() -> list[Object]:
    return render("prometheus-operator")


def job_label(monitor: Object) -> str:
    (endpoint,) = monitor["spec"]["endpoints"]
    (relabel,) = [r for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
    return relabel["replacement"]  # type: ignore[no-any-return]


def service_monitors() -> dict[str, Object]:
    return {job_label(m): m for m in of_kind(objects(), "ServiceMonitor").values()}


def compose_port(job: dict[str, Any]) -> Endpoint:
    if "dns_sd_configs" in job:
        (sd,) = job["dns_sd_configs"]
        (name,) = sd["names"]
        return Endpoint(name, sd["port"])
    (group,) = job["static_configs"]
    (target,) = group["targets"]
    endpoint = Endpoint.from_url(target)
    if endpoint.host in host_gateway_names("prometheus"):
        # Compose's Prometheus reaches a host-network service through the host gateway, a name with
        # no meaning in a cluster. Its Kubernetes form is a DaemonSet on the host's network, whose
        # pods the ServiceMonitor finds through their Service: the one named as the service.
        (host_service,) = [name for name in services() if on_host_network(name)
                           and endpoint.port in [e.port for e in listen_addresses(name)]]
        return Endpoint(host_service, endpoint.port)
    return endpoint


def static_labels(job: dict[str, Any]) -> dict[str, str]:
    """The labels compose's job gives its targets (one set for the job: the node job's site)."""
    groups = [tuple(sorted(g.get("labels", {}).items())) for g in job.get("static_configs", [])]
    assert len(set(groups)) <= 1, job["job_name"]
    return dict(groups[0]) if groups else {}


def test_every_compose_job_is_carried_over() -> None:
    probes = {p["spec"]["jobName"] for p in of_kind(objects(), "Probe").values()}
    assert set(service_monitors()) | probes == set(JOBS) - NOT_CARRIED
    assert probes == PROBE_JOBS and not set(service_monitors()) & probes


@pytest.mark.parametrize("job_name", sorted(set(JOBS) - NOT_CARRIED - PROBE_JOBS))
def test_service_monitor_scrapes_the_jobs_service_port_like_compose(job_name: str) -> None:
    monitor, job, found = service_monitors()[job_name], JOBS[job_name], objects()
    (endpoint,) = monitor["spec"]["endpoints"]
    selected = [s for s in of_kind(found, "Service").values()
                if all(s["metadata"].get("labels", {}).get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
    target = compose_port(job)
    assert [s["metadata"]["name"] for s in selected] == [target.host]
    (port,) = [p for p in selected[0]["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["port"] == target.port
    assert endpoint.get("honorLabels", False) == job.get("honor_labels", False)
    assert endpoint.get("path", "/metrics") == job.get("metrics_path", "/metrics")
    assert endpoint["interval"] == job.get("scrape_interval", COMPOSE["global"]["scrape_interval"])
    assert endpoint["scrapeTimeout"] == job.get("scrape_timeout", COMPOSE["global"]["scrape_timeout"])
    labels = {r["targetLabel"]: r.get("replacement") for r in endpoint.get("relabelings", [])
              if r.get("action", "replace") == "replace" and "sourceLabels" not in r}
    assert {name: labels.get(name) for name in static_labels(job)} == static_labels(job)


def test_service_monitor_selectors_are_service_labels() -> None:
    """A ServiceMonitor selects Services by their own labels: each Service carries the name label."""
    for monitor in of_kind(objects(), "ServiceMonitor").values():
        labels = monitor["spec"]["selector"]["matchLabels"]
        services = [s for s in of_kind(objects(), "Service").values()
                    if all(s["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())]
        assert len(services) == 1, (monitor["metadata"]["name"], labels)


def test_probes_probe_the_compose_targets_with_their_modules_through_the_blackbox_exporter() -> None:
    (job_name,) = PROBE_JOBS
    job = JOBS[job_name]
    # Labels compose's relabelling sets to a constant (site: centre) are the Probes' static labels.
    constant = {r["target_label"]: r["replacement"] for r in job["relabel_configs"]
                if "source_labels" not in r and not r["target_label"].startswith("__")}
    compose_groups = sorted((g["labels"]["module"], g["targets"], {**g["labels"], **constant})
                            for g in job["static_configs"])
    probes = of_kind(objects(), "Probe").values()
    groups = sorted((p["spec"]["module"], p["spec"]["targets"]["staticConfig"]["static"],
                     p["spec"]["targets"]["staticConfig"]["labels"]) for p in probes)
    assert groups == compose_groups
    (address,) = [r["replacement"] for r in job["relabel_configs"] if r.get("target_label") == "__address__"]
    for probe in probes:
        prober = Endpoint.from_url(probe["spec"]["prober"]["url"])
        assert prober.port == Endpoint.from_url(address).port
        assert service(objects(), prober)["metadata"]["name"] == Endpoint.from_url(address).host
        assert probe["spec"]["prober"].get("path", "/probe") == job["metrics_path"]
        assert probe["spec"]["interval"] == COMPOSE["global"]["scrape_interval"]


def test_the_own_prometheus_is_left_out_and_its_name_points_at_the_operators() -> None:
    found = objects()
    assert "prometheus" not in workloads(found)
    assert not [o for o in found if o["metadata"]["name"].startswith("prometheus-") and o["kind"] != "Probe"]
    svc = of_kind(found, "Service")["prometheus"]
    assert svc["spec"]["type"] == "ExternalName" and "selector" not in svc["spec"]
    assert svc["spec"]["externalName"].startswith("prometheus-operated.")
    assert {p["port"] for p in svc["spec"]["ports"]} == {9090}
