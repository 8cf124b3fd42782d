"""A real Prometheus (Debian's 2.42) for the query checks: empty, private, stopped afterwards."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, stop_group, wait_until

PROMETHEUS = "/usr/bin/prometheus"


def _ready(url: str) -> bool:
    """Prometheus answers /-/ready."""
    try:
        return httpx.get(url + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def prometheus_url() -> Iterator[str]:
    """The URL of a throwaway Prometheus on 127.0.0.1 (no targets: queries parse and evaluate, on no data)."""
    directory = Path(tempfile.mkdtemp(prefix="promethoide-grafana-prom-"))
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    log = (directory / "log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is None and _ready(url), 120, f"Prometheus on {url}")
        yield url
    finally:
        stop_group(process)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
