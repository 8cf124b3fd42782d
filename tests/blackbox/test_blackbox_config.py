"""blackbox/blackbox.yml, checked by the blackbox exporter itself, and its SMTP module on a real SMTP server."""

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.support.compose import ROOT, services
from tests.support.processes import free_port, stop_group, wait_until

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


@pytest.fixture(scope="module")
def smtp_and_blackbox() -> Iterator[tuple[str, str, str]]:
    """The twin's SMTP sink and a blackbox exporter with blackbox.yml: (exporter URL, SMTP, HTTP address)."""
    smtp, http, exporter = (f"127.0.0.1:{free_port()}" for _ in range(3))
    sink = subprocess.Popen([sys.executable, "-m", "tests.twin.mailsink", "--smtp", smtp, "--http", http], cwd=ROOT,
                            start_new_session=True)
    blackbox = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={CONFIG}",
                                 f"--web.listen-address={exporter}"], stderr=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://{exporter}"

    def up(address: str) -> bool:
        try:
            return httpx.get(f"http://{address}/", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: up(exporter) and up(http), 30, "the blackbox exporter and the mail sink")
        yield url, smtp, http
    finally:
        stop_group(blackbox)
        stop_group(sink)


def probe_success(exporter: str, target: str, module: str) -> float:
    response = httpx.get(f"{exporter}/probe", params={"target": target, "module": module}, timeout=15)
    (line,) = [line for line in response.text.splitlines() if line.startswith("probe_success ")]
    return float(line.split()[1])


def test_the_smtp_module_succeeds_on_an_smtp_server_and_fails_on_anything_else(
    smtp_and_blackbox: tuple[str, str, str]
) -> None:
    exporter, smtp, http = smtp_and_blackbox
    assert probe_success(exporter, smtp, "smtp_banner") == 1.0
    assert probe_success(exporter, http, "smtp_banner") == 0.0  # an HTTP server never greets with 220
    assert probe_success(exporter, f"127.0.0.1:{free_port()}", "smtp_banner") == 0.0  # nothing listening
