"""grafana/provisioning/datasources: the one Prometheus datasource, as Grafana loads it."""

import re

import yaml

from tests.support.compose import ROOT

DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"


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
