"""grafana/provisioning/datasources: Prometheus (the default, for every panel) and Alertmanager (for
the Alerting pages), as Grafana loads them."""

import re
from pathlib import Path

import pytest
import yaml

from tests.support.compose import ROOT, Endpoint, assert_reaches, services

DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
ALERTMANAGER = ROOT / "grafana" / "provisioning" / "datasources" / "alertmanager.yaml"


def test_one_default_prometheus_datasource_with_a_pinned_uid() -> None:
    config = yaml.safe_load(DATASOURCES.read_text())
    assert config["apiVersion"] == 1
    (datasource,) = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert re.fullmatch(r"[a-z0-9-]{1,40}", datasource["uid"])
    assert datasource["isDefault"] is True


def test_time_interval_is_the_scrape_interval() -> None:
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert datasource["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_the_alertmanager_datasource_is_the_one_prometheus_sends_alerts_to() -> None:
    (datasource,) = yaml.safe_load(ALERTMANAGER.read_text())["datasources"]
    assert datasource["type"] == "alertmanager"
    assert re.fullmatch(r"[a-z0-9-]{1,40}", datasource["uid"])
    assert datasource["jsonData"] == {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    (manager,) = prometheus["alerting"]["alertmanagers"]
    assert Endpoint.from_url(datasource["url"]) == Endpoint.from_url(manager["static_configs"][0]["targets"][0])
    assert_reaches("grafana", Endpoint.from_url(datasource["url"]))


@pytest.mark.parametrize("path", [DATASOURCES, ALERTMANAGER], ids=["prometheus", "alertmanager"])
def test_the_datasource_sends_the_monitoring_uis_basic_auth(path: Path) -> None:
    """Beyond loopback Prometheus and Alertmanager ask for MONITORING_UI_USERNAME/PASSWORD (web.yml,
    alertmanager/ui-auth.sh): Grafana sends them from its environment (provisioning expands $NAME)."""
    (datasource,) = yaml.safe_load(path.read_text())["datasources"]
    assert datasource["basicAuth"] is True
    assert datasource["basicAuthUser"] == "$MONITORING_UI_USERNAME"
    assert datasource["secureJsonData"] == {"basicAuthPassword": "$MONITORING_UI_PASSWORD"}
    assert {"MONITORING_UI_USERNAME", "MONITORING_UI_PASSWORD"} <= set(services()["grafana"]["environment"])
