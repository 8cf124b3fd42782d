"""Every dashboard query, run on the twin's Prometheus as Grafana would run it (alerts: test_alerting.py)."""

import time

import httpx
import pytest

from tests.grafana.queries import PromQL, Window, panel_queries, variable_queries
from tests.stack.conftest import K6_INTERVAL_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

# The last ten minutes at a 15 s step: $__rate_interval is then 60 s, four scrapes.
WINDOW = Window(range_s=600, step_s=15, scrape_s=15)
# Panels that cannot have data in the twin, and why.
EMPTY_IN_THE_TWIN = {
    # The twin's network namespace has only loopback, which the panel leaves out on purpose.
    "Network": "no network device but lo",
}


@pytest.fixture(scope="module")
def traffic(twin: Twin, prometheus: PrometheusClient, scrape_interval_s: float) -> None:
    """Every route and outcome exercised, then two scrapes, so that rates have data."""
    api = twin.url("apache", "/api")
    for _ in range(5):
        httpx.get(f"{api}/dni/12345678A")
        httpx.get(f"{api}/dni/11111111Z")
        httpx.get(f"{api}/flights/AA123")
        httpx.get(f"{api}/flights/ZZ999")
        httpx.get(f"{api}/immigration?limit=5")
        entry = {"name": "Panel Data", "dni": f"G{time.time_ns() % 10**12}", "lodging": "Hotel",
                 "declared_money": "800.00", "flight_number": "AA123"}
        created = httpx.post(f"{api}/immigration", json=entry).json()
        httpx.get(f"{api}/immigration/{created['id']}")
        httpx.post(f"{api}/immigration", json={**entry, "dni": "12345678A"})
        httpx.post(f"{api}/immigration?dry_run=true", json={**entry, "declared_money": "1"})
    prometheus.wait_until(f"k6_smoke_success", lambda v: list(v.values()) == [1.0], 3 * K6_INTERVAL_S + 30)
    time.sleep(4 * scrape_interval_s + 2)


@pytest.fixture(scope="module")
def promql(twin: Twin) -> PromQL:
    return PromQL(twin.url("prometheus"))


@pytest.mark.usefixtures("traffic")
def test_every_panel_query_runs_and_shows_data(promql: PromQL) -> None:
    empty = []
    for query in panel_queries():
        if not promql.evaluate_panel(query, WINDOW) and query.panel not in EMPTY_IN_THE_TWIN:
            empty.append(str(query))
    assert not empty, "panels without data:\n" + "\n".join(empty)


@pytest.mark.usefixtures("traffic")
def test_every_template_variable_has_values(promql: PromQL) -> None:
    for query in variable_queries():
        assert promql.evaluate_variable(query, WINDOW), str(query)
