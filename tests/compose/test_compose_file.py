"""docker-compose.yaml, by the Compose specification and by the project's own rules."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import COMPOSE_FILE, ROOT, compose, example_env, services, variables_used

SERVICES = {
    "postgres": 5432, "api": 8000, "apache": 80, "prometheus": 9090, "grafana": 3000, "node-exporter": 9100,
    "postgres-exporter": 9187, "apache-exporter": 9117, "blackbox-exporter": 9115, "pushgateway": 9091,
    "k6": None, "mailpit": 1025, "alertmanager": 9093,
}
PUBLISHED = {"apache": 80, "grafana": 3000, "prometheus": 9090, "alertmanager": 9093, "mailpit": 8025}


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
            assert str(port) in services()[name]["expose"], name


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
            published[name] = int(container_port)
    assert published == PUBLISHED
    assert raw.count("${BIND_ADDRESS:-127.0.0.1}:") == len(PUBLISHED)


def test_the_api_scales_without_port_clashes() -> None:
    api = services()["api"]
    assert "ports" not in api and "container_name" not in api


def test_networks_keep_the_database_out_of_reach_of_the_front() -> None:
    networks = {name: set(service["networks"]) for name, service in services().items()}
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


def test_the_original_typo_is_gone() -> None:
    assert "GR_SMTP_HOST=" not in (ROOT / ".example.env").read_text()
    assert "GR_SMTP" not in COMPOSE_FILE.read_text()



def test_interpolated_values_stay_strings() -> None:
    # Compose interpolates after parsing: "${MINIMUM_DECLARED_MONEY:-500.00}" is "500.00", not 500.0.
    assert services()["api"]["environment"]["MINIMUM_DECLARED_MONEY"] == "500.00"
    assert services()["grafana"]["environment"]["GF_SMTP_USER"] == ""


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
