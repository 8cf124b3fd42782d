"""grafana/README.md restates the dashboards, the provisioning files and the pinned versions: held to them.

The alert table lives in prometheus/README.md, generated from prometheus/alerts.yaml (tests/prometheus).
"""

import json
import re
import subprocess

import pytest
import yaml

from tests.support.compose import ROOT, services
from tests.support.markdown import code_spans, table

GRAFANA = ROOT / "grafana"
README = GRAFANA / "README.md"


# ---------------------------------------------------------------------------------------------
# Dashboards and files


def test_the_dashboard_table_is_the_generated_dashboards() -> None:
    uids = {json.loads(path.read_text())["uid"] for path in (GRAFANA / "dashboards").glob("*.json")}
    cells = table(README, "dashboard (uid)", "what it shows").column("dashboard (uid)")
    listed = [code_spans(cell)[-1] for cell in cells]
    assert sorted(listed) == sorted(uids)


def test_every_listed_path_exists_and_every_provisioning_folder_is_listed() -> None:
    listed = [code_spans(cell)[0] for cell in table(README, "path", "what").column("path")]
    for path in listed:
        assert list(GRAFANA.glob(path.rstrip("/"))), f"{path} does not exist"
    folders = {path.relative_to(GRAFANA).as_posix() for path in (GRAFANA / "provisioning").iterdir() if path.is_dir()}
    covered = {folder for folder in folders if any(p.rstrip("/") == folder or p.startswith(folder + "/") for p in listed)}
    assert covered == folders


def test_the_datasource_facts_are_the_files() -> None:
    (datasource,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    scrape = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())["global"]["scrape_interval"]
    row = next(r["what"] for r in table(README, "path", "what").records() if "datasources/prometheus.yaml" in r["path"])
    assert f"uid `{datasource['uid']}`" in row
    assert datasource["jsonData"]["timeInterval"] == scrape and f"({scrape})" in row


def test_the_sdk_pin_and_schema_version_are_the_real_ones() -> None:
    pin = re.search(r"^grafana-foundation-sdk==(\S+)$", (ROOT / "tests/requirements.txt").read_text(), re.M)
    assert pin
    stated = set(re.findall(r"(\d{10}!\d+\.\d+\.\d+)", README.read_text()))
    assert stated == {pin[1]}
    versions = {json.loads(path.read_text())["schemaVersion"] for path in (GRAFANA / "dashboards").glob("*.json")}
    assert {int(v) for v in re.findall(r"schemaVersion (\d+)", README.read_text())} == versions


# The README's sentence: "postgres-exporter 0.11 and 0.20, node-exporter 1.5 and 1.12, ...":
# the first is Debian's (what ./test.sh runs), the second the compose image's.
EXPORTERS = {
    "postgres-exporter": ("prometheus-postgres-exporter", "postgres-exporter"),
    "node-exporter": ("prometheus-node-exporter", "node-exporter"),
    "apache-exporter": ("prometheus-apache-exporter", "apache-exporter"),
    "blackbox": ("prometheus-blackbox-exporter", "blackbox-exporter"),
}


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_the_exporter_versions_are_debian_s_and_the_image_s(name: str) -> None:
    package, service = EXPORTERS[name]
    stated = re.search(rf"{name}\s+(\d+\.\d+)\s+and\s+(\d+\.\d+)", README.read_text())
    assert stated, f"the README names no versions for {name}"
    image = re.search(r":v?(\d+\.\d+)", services()[service]["image"])
    assert image and stated[2] == image[1], f"{name}: README {stated[2]}, compose {services()[service]['image']}"
    debian = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    assert debian.returncode == 0, f"{package} is not installed (./test.sh installs it)"
    assert re.match(rf"{re.escape(stated[1])}\.", debian.stdout), f"{name}: README {stated[1]}, Debian {debian.stdout}"
