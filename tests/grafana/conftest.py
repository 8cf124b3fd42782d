"""A real Prometheus (Debian's 2.42) for the query checks: empty, private, stopped afterwards."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.prometheus import running_prometheus


@pytest.fixture(scope="session")
def prometheus_url() -> Iterator[str]:
    """The URL of a throwaway Prometheus on 127.0.0.1 (no targets: queries parse and evaluate, on no data)."""
    directory = Path(tempfile.mkdtemp(prefix="promethoide-grafana-prom-"))
    try:
        with running_prometheus(directory, "global:\n  scrape_interval: 15s\nscrape_configs: []\n") as url:
            yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)
