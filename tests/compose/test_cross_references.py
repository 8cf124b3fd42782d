"""Every address one config file gives for another service is a service that listens there, on a
network both are on."""

import re

import pytest
import yaml

from tests.support.compose import DOCKER_HOST_GATEWAY, ROOT, Endpoint, assert_reaches, environment, services


def test_the_api_reaches_postgres() -> None:
    env = environment("api")
    assert_reaches("api", Endpoint(env["POSTGRES_HOST"], int(env["POSTGRES_PORT"])))


def test_the_api_uses_its_own_role_not_the_superuser() -> None:
    assert environment("api")["POSTGRES_USER"] == "immigration_api"
    assert "CREATE ROLE immigration_api" in (ROOT / "postgres" / "init.sql").read_text()


def test_postgres_exporter_reaches_postgres_as_its_monitoring_role() -> None:
    env = environment("postgres-exporter")
    assert_reaches("postgres-exporter", Endpoint.from_url(env["DATA_SOURCE_URI"].split("/")[0]))
    assert env["DATA_SOURCE_USER"] == "metrics_exporter"
    assert "GRANT pg_monitor TO metrics_exporter" in (ROOT / "postgres" / "init.sql").read_text()


def test_apache_exporter_reaches_the_internal_status_port() -> None:
    (flag,) = [arg for arg in services()["apache-exporter"]["command"] if arg.startswith("--scrape_uri=")]
    url = flag.split("=", 1)[1]
    endpoint = Endpoint.from_url(url)
    assert_reaches("apache-exporter", endpoint)
    conf = (ROOT / "apache" / "httpd.conf").read_text()
    assert re.search(rf"<VirtualHost \*:{endpoint.port}>[\s\S]*?server-status", conf)
    assert endpoint.port not in {int(str(p).split(":")[-1]) for p in services()["apache"]["ports"]}


def test_apache_proxies_to_the_api() -> None:
    conf = (ROOT / "apache" / "httpd.conf").read_text()
    # /api/ goes to the balancer, whose member without the entrypoint's discovery is the service itself.
    assert re.search(r'^\s*ProxyPass\s+"/api/"\s+"balancer://api/"', conf, re.M)
    targets = re.findall(r'^\s*BalancerMember\s+"?(http://[^"\s]+)', conf, re.M)
    assert targets
    for target in targets:
        assert_reaches("apache", Endpoint.from_url(target))


def test_the_smoke_test_reaches_apache_and_the_pushgateway() -> None:
    env = environment("k6")
    assert_reaches("k6", Endpoint.from_url(env["BASE_URL"]))
    assert_reaches("k6", Endpoint.from_url(env["PUSHGATEWAY_URL"]))
    script = (ROOT / "k6-pycron" / "web_workflow_test.js").read_text()
    default = re.search(r"BASE_URL\s*\|\|\s*['\"]([^'\"]+)['\"]", script)
    assert default, "the k6 script has no default BASE_URL"
    assert_reaches("k6", Endpoint.from_url(default[1]))


def test_grafana_reaches_its_datasources_and_the_smtp_server() -> None:
    files = sorted((ROOT / "grafana/provisioning/datasources").glob("*.yaml"))
    urls = [datasource["url"] for path in files for datasource in yaml.safe_load(path.read_text())["datasources"]]
    assert len(urls) == 2
    for url in urls:
        assert_reaches("grafana", Endpoint.from_url(url))
    assert_reaches("grafana", Endpoint.from_url("smtp://" + environment("grafana")["GF_SMTP_HOST"]))


def test_alertmanager_reaches_the_smtp_server() -> None:
    assert_reaches("alertmanager", Endpoint.from_url("smtp://" + environment("alertmanager")["SMTP_SMARTHOST"]))


def test_one_set_of_smtp_settings_serves_alertmanager_and_grafana() -> None:
    alertmanager, grafana = environment("alertmanager"), environment("grafana")
    assert grafana["GF_SMTP_HOST"] == alertmanager["SMTP_SMARTHOST"]
    assert grafana["GF_SMTP_USER"] == alertmanager["SMTP_AUTH_USERNAME"]
    assert grafana["GF_SMTP_PASSWORD"] == alertmanager["SMTP_AUTH_PASSWORD"]
    assert grafana["GF_SMTP_FROM_ADDRESS"] == alertmanager["SMTP_FROM"]
    raw = (ROOT / "docker-compose.yaml").read_text()
    assert not re.search(r"\$\{GF_SMTP_", raw), "Grafana's SMTP must come from the shared SMTP_* settings"


@pytest.mark.parametrize("mount", ["./grafana/dashboards:", "./grafana/provisioning:"])
def test_grafana_dashboards_are_mounted_where_the_provider_reads(mount: str) -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    paths = {p["options"]["path"] for p in provider["providers"]}
    mounts = {v.split(":")[1] for v in services()["grafana"]["volumes"] if v.startswith(mount)}
    if mount == "./grafana/dashboards:":
        assert paths == mounts
    else:
        assert mounts == {"/etc/grafana/provisioning"}


def test_prometheus_reaches_node_exporter_through_the_host_gateway() -> None:
    assert_reaches("prometheus", Endpoint("host.docker.internal", 9100))
    assert f"--web.listen-address={DOCKER_HOST_GATEWAY}:9100" in services()["node-exporter"]["command"]


@pytest.mark.parametrize(("client", "target", "expected"), [
    ("grafana", Endpoint("host.docker.internal", 9100), "no compose service"),  # no extra_hosts entry
    ("prometheus", Endpoint("host.docker.internal", 9999), "host-network services listen on"),
    ("prometheus", Endpoint("node-exporter", 9100), "on the host's network"),  # no DNS name there
    ("grafana", Endpoint("postgres", 5432), "share no network"),
    ("prometheus", Endpoint("api", 9999), "it exposes"),
])
def test_an_unreachable_address_is_caught(client: str, target: Endpoint, expected: str) -> None:
    with pytest.raises(AssertionError, match=expected):
        assert_reaches(client, target)
