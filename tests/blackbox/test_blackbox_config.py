"""blackbox/blackbox.yml, checked by the blackbox exporter itself."""

import subprocess

import yaml

from tests.support.compose import ROOT, services

CONFIG = ROOT / "blackbox" / "blackbox.yml"


def test_the_exporter_accepts_the_config() -> None:
    result = subprocess.run(
        ["prometheus-blackbox-exporter", f"--config.file={CONFIG}", "--config.check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Config file is ok" in result.stderr


def test_the_slow_module_waits_longer_than_the_slow_page_and_less_than_a_scrape() -> None:
    modules = yaml.safe_load(CONFIG.read_text())["modules"]
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    delay = float(services()["apache"]["environment"]["DELAY_SECONDS"])
    slow_timeout = float(modules["http_slow"]["timeout"].rstrip("s"))
    scrape_timeout = float(prometheus["global"]["scrape_timeout"].rstrip("s"))
    assert delay < slow_timeout < scrape_timeout
