"""docker-compose.yaml, by the Compose specification and by the project's own rules."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import (
    COMPOSE_FILE, DOCKER_HOST_GATEWAY, ROOT, Endpoint, compose, example_env, listen_addresses, on_host_network, ports,
    services, variables_used,
)

SERVICES = {
    "postgres": 5432, "api": 8000, "apache": 443, "prometheus": 9090, "grafana": 3000, "node-exporter": 9100,
    "postgres-exporter": 9187, "apache-exporter": 9117, "blackbox-exporter": 9115, "pushgateway": 9091,
    "k6": None, "mailpit": 1025, "alertmanager": 9093,
}
PUBLISHED = {"apache": 443, "grafana": 3000, "prometheus": 9090, "alertmanager": 9093, "mailpit": 8025}
# The one port published for other hosts (remote sites' agents), on an address of its own, also
# 127.0.0.1 by default: the operator opens it (REMOTE_WRITE_BIND_ADDRESS).
REMOTE_WRITE = ("apache", "${REMOTE_WRITE_BIND_ADDRESS:-127.0.0.1}:9443:9443")
REMOTE_WRITE_PORT = 9443


def test_the_file_follows_the_compose_specification() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_services_are_the_documented_ones() -> None:
    assert set(services()) == set(SERVICES)
    for name, port in SERVICES.items():
        if port is not None:
            assert port in ports(name), name


def test_each_service_starts_with_a_comment_saying_what_it_is_for() -> None:
    lines = COMPOSE_FILE.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.fullmatch(r"  ([a-z0-9-]+):", line)
        if match and match[1] in SERVICES:
            assert lines[index - 1].startswith("  # "), f"{match[1]} has no comment above it"


def test_every_image_has_an_exact_version() -> None:
    for name, service in services().items():
        if "image" in service:
            image = service["image"]
            assert re.search(r":v?\d+\.\d+(\.\d+)?$", image), f"{name}: {image} is not pinned to a version"
        else:
            assert "build" in service, name
    assert "grafana/grafana:" in services()["grafana"]["image"]  # grafana-oss stopped at 12.4


def test_every_image_tag_says_where_it_came_from() -> None:
    # A tag nobody can show exists (the issue found grafana/grafana:13.3.0) fails the first pull.
    lines = COMPOSE_FILE.read_text().splitlines()
    for index, line in enumerate(lines):
        image = re.fullmatch(r"\s+image: \S+:v?(\S+)", line)
        if image:
            comment = " ".join(lines[i].strip() for i in range(index - 3, index) if lines[i].strip().startswith("#"))
            assert image[1] in comment and re.search(r"github\.com|release|changelog", comment, re.I), (
                f"{line.strip()}: no comment above it giving the tag's source"
            )


def test_postgres_18_data_volume_is_mounted_where_18_keeps_its_data() -> None:
    volumes = services()["postgres"]["volumes"]
    assert "postgres-data:/var/lib/postgresql" in volumes
    assert not any(volume.endswith(":/var/lib/postgresql/data") for volume in volumes)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_hardened(name: str) -> None:
    service = services()[name]
    assert service["restart"] == "unless-stopped"
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert service["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "container_name" not in service


def test_order_waits_for_health() -> None:
    for name, service in services().items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert "postgres" in services()["api"]["depends_on"]


def test_only_what_a_person_opens_is_published_on_the_bind_address() -> None:
    raw = COMPOSE_FILE.read_text()
    published = {}
    for name, service in services().items():
        for port in service.get("ports", []):
            host_ip, _host_port, container_port = str(port).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine by default"
            if int(container_port) != REMOTE_WRITE_PORT:
                published[name] = int(container_port)
    assert published == PUBLISHED
    assert raw.count("${BIND_ADDRESS:-127.0.0.1}:") == len(PUBLISHED)
    name, port = REMOTE_WRITE
    assert raw.count(port) == 1 and f"127.0.0.1:{REMOTE_WRITE_PORT}:{REMOTE_WRITE_PORT}" in services()[name]["ports"]


def test_the_api_scales_without_port_clashes() -> None:
    api = services()["api"]
    assert "ports" not in api and "container_name" not in api


def test_networks_keep_the_database_out_of_reach_of_the_front() -> None:
    networks = {name: set(service.get("networks", [])) for name, service in services().items()}
    assert compose()["networks"]["backend"]["internal"] is True
    assert networks["postgres"] == {"backend"}
    assert "front" not in networks["api"]
    for name in ("prometheus", "grafana", "pushgateway", "blackbox-exporter", "alertmanager"):
        assert networks[name] == {"monitoring"}, name


def test_data_lives_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    assert {"postgres-data", "prometheus-data", "grafana-data", "alertmanager-data"} <= declared
    for name in ("postgres", "prometheus", "grafana", "alertmanager"):
        assert any(str(v).split(":")[0] in declared for v in services()[name]["volumes"]), name


def test_every_bind_mounted_path_exists() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_secrets_are_required_and_never_defaulted() -> None:
    raw = COMPOSE_FILE.read_text()
    for secret in ("POSTGRES_PASSWORD", "API_DB_PASSWORD", "EXPORTER_DB_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD",
                   "GF_SECURITY_SECRET_KEY"):
        uses = re.findall(r"\$\{" + secret + r"(:?[-?][^}]*)?\}", raw)
        assert uses and all(use.startswith(":?") for use in uses), f"{secret} must be ${{{secret}:?...}}"
    assert "admin/admin" not in raw and ":-admin}" not in raw.replace("GF_SECURITY_ADMIN_USER:-admin}", "")


def test_a_missing_secret_stops_compose_with_a_message() -> None:
    env = example_env()
    del env["GF_SECURITY_ADMIN_PASSWORD"]
    with pytest.raises(KeyError, match="GF_SECURITY_ADMIN_PASSWORD"):
        compose.__wrapped__(tuple(env.items()))


def test_example_env_documents_every_variable() -> None:
    documented = set(example_env())
    assert variables_used() <= documented, variables_used() - documented
    text = (ROOT / ".example.env").read_text()
    for name in documented:
        assert re.search(rf"#.*\n(?:#.*\n|\w+=.*\n)*{name}=", text), f"{name} has no comment"


def settings_the_scripts_read() -> set[str]:
    """Settings run.sh and the backup script read from .env themselves (`env_value NAME`, `backup_setting NAME`)."""
    scripts = [ROOT / "run.sh", *sorted((ROOT / "backup").glob("*.sh"))]
    return {name for script in scripts for name in re.findall(r"\b(?:env_value|backup_setting) ([A-Z][A-Z0-9_]*)", script.read_text())}


def test_every_example_env_setting_is_used() -> None:
    # A setting that neither compose nor ./run.sh reads is a knob that does nothing.
    assert set(example_env()) - variables_used() - settings_the_scripts_read() == set()


def test_the_bind_address_comment_names_the_published_ports() -> None:
    text = (ROOT / ".example.env").read_text()
    comment = re.search(r"# Address the published ports \(([^)]*)\)", text)
    assert comment, "the BIND_ADDRESS comment no longer lists the published ports"
    host_ports = {int(str(port).split(":")[-2]) for service in services().values() for port in service.get("ports", [])}
    host_ports.discard(REMOTE_WRITE_PORT)  # its own address, REMOTE_WRITE_BIND_ADDRESS
    assert {int(port) for port in re.findall(r"\d+", comment[1])} == host_ports


def test_the_original_typo_is_gone() -> None:
    assert "GR_SMTP_HOST=" not in (ROOT / ".example.env").read_text()
    assert "GR_SMTP" not in COMPOSE_FILE.read_text()



def test_interpolated_values_stay_strings() -> None:
    # Compose interpolates after parsing: "${MINIMUM_DECLARED_MONEY:-500.00}" is "500.00", not 500.0.
    assert services()["api"]["environment"]["MINIMUM_DECLARED_MONEY"] == "500.00"
    assert services()["grafana"]["environment"]["GF_SMTP_USER"] == ""


# ---------------------------------------------------------------------------------------------
# node-exporter on the host's network, and no wider than it must be


def test_node_exporter_sees_the_host_as_its_readme_runs_it() -> None:
    # github.com/prometheus/node_exporter README, "Docker": --net=host --pid=host -v /:/host:ro,rslave.
    node = services()["node-exporter"]
    assert on_host_network("node-exporter") and node["pid"] == "host"
    assert "/:/host:ro,rslave" in node["volumes"]
    assert "--path.rootfs=/host" in node["command"]


@pytest.mark.parametrize("name", sorted(name for name in SERVICES if on_host_network(name)))
def test_a_host_network_service_listens_on_the_host_gateway_only(name: str) -> None:
    service = services()[name]
    # Compose refuses networks with network_mode; expose and ports mean nothing there.
    assert not {"networks", "expose", "ports"} & set(service), name
    (address,) = listen_addresses(name)
    assert address.host == DOCKER_HOST_GATEWAY, f"{name} listens on {address.host}, not only the host gateway"
    test = " ".join(service["healthcheck"]["test"])
    assert f"http://{address.host}:{address.port}/" in test, f"{name}'s healthcheck asks elsewhere than it listens"


# ---------------------------------------------------------------------------------------------
# Healthchecks: truthful, and cheap


def healthcheck(name: str) -> str:
    return " ".join(str(part) for part in services()[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_healthcheck_runs_a_scrape(name: str) -> None:
    # /metrics is a full scrape (postgres-exporter queries the database), every 15 s on top of Prometheus'.
    assert "/metrics" not in healthcheck(name), name


def test_postgres_is_healthy_only_once_it_listens_on_tcp() -> None:
    # Without -h, pg_isready asks the Unix socket, where the entrypoint's temporary init server
    # (listen_addresses='') already answers while init.sql runs.
    assert re.search(r"pg_isready\s.*-h\s+127\.0\.0\.1\b.*-p\s+5432\b", healthcheck("postgres"))


def test_grafana_has_time_for_a_first_boot() -> None:
    start = services()["grafana"]["healthcheck"]["start_period"]
    assert re.fullmatch(r"\d+s", start) and int(start[:-1]) >= 120, start


def test_every_provisioning_folder_the_grafana_image_has_is_shipped() -> None:
    # The read-only mount hides the image's folders (grafana's Dockerfile: mkdir -p ... datasources,
    # dashboards, plugins, alerting); Grafana logs an error at every start for a missing one.
    shipped = {path.name for path in (ROOT / "grafana" / "provisioning").iterdir() if path.is_dir()}
    assert {"datasources", "dashboards", "plugins", "alerting"} <= shipped
def test_alertmanager_keeps_silences_and_its_notification_log_and_writes_nothing_else() -> None:
    alertmanager = services()["alertmanager"]
    assert alertmanager["read_only"] is True
    assert "alertmanager-data:/alertmanager" in alertmanager["volumes"]
    assert "--storage.path=/alertmanager" in alertmanager["command"]
    # The rendered config lives in the volume too: the one writable place of a read-only container.
    (config,) = [flag for flag in alertmanager["command"] if flag.startswith("--config.file=")]
    assert config.split("=", 1)[1].startswith("/alertmanager/")


def test_alertmanager_runs_the_render_script_with_the_contract_s_flags() -> None:
    alertmanager = services()["alertmanager"]
    assert "./alertmanager:/etc/alertmanager:ro" in alertmanager["volumes"]
    assert alertmanager["entrypoint"] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]
    assert (ROOT / "alertmanager" / "entrypoint.sh").is_file()
    assert alertmanager["environment"]["ALERTMANAGER_BIN"] == "/bin/alertmanager"
    assert "--cluster.listen-address=" in alertmanager["command"]
    assert "--web.external-url=http://localhost:9093" in alertmanager["command"]
    # An external URL with a path (behind a proxy) must not move the API Prometheus and Grafana call.
    assert "--web.route-prefix=/" in alertmanager["command"]


def test_every_setting_alertmanager_renders_comes_from_env_with_a_default() -> None:
    env = services()["alertmanager"]["environment"]
    for name in ("SMTP_SMARTHOST", "SMTP_FROM", "SMTP_AUTH_USERNAME", "SMTP_AUTH_PASSWORD", "SMTP_REQUIRE_TLS",
                 "ALERT_EMAIL_OPERATIONS", "ALERT_EMAIL_DEVELOPERS", "WATCHDOG_WEBHOOK_URL", "GRAFANA_EXTERNAL_URL",
                 "ALERT_GROUP_WAIT", "ALERT_GROUP_INTERVAL", "ALERT_REPEAT_INTERVAL"):
        assert name in env, name
        assert env[name] == example_env()[name], name
    assert env["SMTP_SMARTHOST"] == "mailpit:1025" and env["SMTP_REQUIRE_TLS"] == "false"
