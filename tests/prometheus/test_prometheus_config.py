"""prometheus/prometheus.yml: valid for promtool, and every target is a service that listens there."""

import subprocess

import yaml

from tests.support.compose import ROOT, Endpoint, assert_reaches, services

CONFIG = ROOT / "prometheus" / "prometheus.yml"
JOBS_THE_DASHBOARDS_USE = {"prometheus", "api", "postgres", "apache", "node", "pushgateway", "blackbox"}


def scrape_configs() -> dict[str, dict]:  # type: ignore[type-arg]
    return {job["job_name"]: job for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}


def test_promtool_accepts_the_config() -> None:
    result = subprocess.run(["promtool", "check", "config", str(CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_is_the_file_compose_mounts_with_its_rules_beside_it() -> None:
    assert "./prometheus:/etc/prometheus:ro" in services()["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services()["prometheus"]["command"]
    # Relative to prometheus.yml: the same path inside the container and in the repository.
    assert yaml.safe_load(CONFIG.read_text())["rule_files"] == ["rules/*.yml"]


def test_alerts_go_to_alertmanager() -> None:
    (manager,) = yaml.safe_load(CONFIG.read_text())["alerting"]["alertmanagers"]
    (group,) = manager["static_configs"]
    for target in group["targets"]:
        assert_reaches("prometheus", Endpoint.from_url(target))
    assert group["targets"] == ["alertmanager:9093"]


def test_the_monitoring_itself_is_scraped() -> None:
    jobs = scrape_configs()
    assert jobs["alertmanager"]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert jobs["grafana"]["static_configs"][0]["targets"] == ["grafana:3000"]
    probes = {target: group["labels"]["module"] for group in jobs["blackbox"]["static_configs"]
              for target in group["targets"]}
    assert probes["mailpit:1025"] == "smtp_banner"
    assert_reaches("blackbox-exporter", Endpoint.from_url("smtp://mailpit:1025"))


def test_every_job_the_dashboards_use_exists() -> None:
    assert JOBS_THE_DASHBOARDS_USE <= set(scrape_configs())


def test_every_static_target_is_a_service_on_its_port() -> None:
    for job in scrape_configs().values():
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                if job.get("metrics_path") == "/probe":
                    continue  # probe targets are URLs, checked below
                assert_reaches("prometheus", Endpoint.from_url(target))


def test_every_api_replica_is_discovered_by_dns() -> None:
    api = scrape_configs()["api"]
    assert "static_configs" not in api
    (sd,) = api["dns_sd_configs"]
    assert sd["type"] == "A"
    for name in sd["names"]:
        assert_reaches("prometheus", Endpoint(name, sd["port"]))


def test_pushed_labels_are_kept() -> None:
    assert scrape_configs()["pushgateway"]["honor_labels"] is True


def test_probes_go_through_the_blackbox_exporter_to_services() -> None:
    job = scrape_configs()["blackbox"]
    modules = set(yaml.safe_load((ROOT / "blackbox" / "blackbox.yml").read_text())["modules"])
    relabel = {r.get("target_label"): r for r in job["relabel_configs"]}
    assert_reaches("prometheus", Endpoint.from_url(relabel["__address__"]["replacement"]))
    probed = set()
    for group in job["static_configs"]:
        assert group["labels"]["module"] in modules
        for url in group["targets"]:
            assert_reaches("blackbox-exporter", Endpoint.from_url(url))
            probed.add(url)
    assert {"http://apache:80/", "http://apache:80/delay"} <= probed
    assert any(url.startswith("http://apache:80/api/") for url in probed)
    # The API itself by one name would be whichever replica the lookup returned: job blackbox-api.
    assert not any(Endpoint.from_url(url).host == "api" for url in probed)


def test_every_api_replica_is_probed_as_itself() -> None:
    job, api = scrape_configs()["blackbox-api"], scrape_configs()["api"]
    assert job["dns_sd_configs"] == api["dns_sd_configs"], "the replicas job api scrapes"
    assert job["metrics_path"] == "/probe"
    modules = yaml.safe_load((ROOT / "blackbox" / "blackbox.yml").read_text())["modules"]
    (module,) = job["params"]["module"]
    assert modules[module]["prober"] == "http"
    relabel = {r.get("target_label"): r for r in job["relabel_configs"]}
    assert relabel["module"]["replacement"] == module
    # instance is the replica's address, as job api's `up` has it (ApiReplicaDown joins them by it).
    assert relabel["instance"]["source_labels"] == ["__address__"] and "replacement" not in relabel["instance"]
    assert relabel["__param_target"]["replacement"] == "http://$1/healthz"
    (sd,) = job["dns_sd_configs"]
    for name in sd["names"]:
        assert_reaches("blackbox-exporter", Endpoint(name, sd["port"]))
    assert_reaches("prometheus", Endpoint.from_url(relabel["__address__"]["replacement"]))
    order = [r.get("target_label") for r in job["relabel_configs"]]
    assert order.index("instance") < order.index("__address__"), "instance taken before __address__ is the exporter"


# ---------------------------------------------------------------------------------------------
# The central host is a site too: every series scraped here says `site: centre`, as remote sites'
# agents label theirs with their name (site/prometheus-agent.yml).

def target_sites(job: dict) -> set[str | None]:  # type: ignore[type-arg]
    """The `site` each of a job's target groups ends up with: its static label, then the relabelling
    that sets a constant (target_label + replacement, no source_labels), as Prometheus applies them.

    None for a group left without one; a relabelling of `site` from other labels is refused, so that
    this reading cannot be wrong about it.
    """
    groups = [dict(group.get("labels") or {}) for group in job.get("static_configs") or [{}]]
    for rule in job.get("relabel_configs") or []:
        if rule.get("target_label") == "site":
            assert set(rule) == {"target_label", "replacement"}, f"job {job['job_name']}: site from {rule}"
            for labels in groups:
                labels["site"] = rule["replacement"]
    return {labels.get("site") for labels in groups}


def test_every_job_labels_its_targets_site_centre() -> None:
    jobs = scrape_configs()
    assert len(jobs) >= 10  # the check must have jobs to check
    assert {name: target_sites(job) for name, job in jobs.items()} == {name: {"centre"} for name in jobs}


def test_a_job_or_group_without_the_site_is_seen() -> None:
    jobs = scrape_configs()
    blackbox = {**jobs["blackbox"], "relabel_configs": jobs["blackbox"]["relabel_configs"][:-1]}
    assert target_sites(blackbox) == {None}
    api = {**jobs["api"], "relabel_configs": []}
    assert target_sites(api) == {None}
    node = {**jobs["node"], "static_configs": [*jobs["node"]["static_configs"], {"targets": ["other:9100"]}]}
    assert target_sites(node) == {"centre", None}
