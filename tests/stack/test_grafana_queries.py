"""Every dashboard and alert query, run on the twin's Prometheus as Grafana would run it."""

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.grafana.queries import AlertQuery, PromQL, Window, alert_queries, panel_queries, variable_queries
from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

# The last ten minutes at a 15 s step: $__rate_interval is then 60 s, four scrapes.
WINDOW = Window(range_s=600, step_s=15, scrape_s=15)
# Panels that cannot have data in the twin, and why.
EMPTY_IN_THE_TWIN = {
    # The twin's network namespace has only loopback, which the panel leaves out on purpose.
    "Network": "no network device but lo",
}


def wait_for(what: str, check: Callable[[], list[str]]) -> None:
    """Poll `check` (what is still missing) until it returns nothing; fail with the last list.

    Rates need two scrapes after the traffic, and how long those take depends on the machine: the
    test waits for the condition it asserts instead of sleeping for a guessed number of intervals.
    """
    deadline = time.monotonic() + PATIENCE_S
    while missing := check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {PATIENCE_S} s:\n" + "\n".join(missing))
        time.sleep(1)


@pytest.fixture(scope="module")
def traffic(twin: Twin, prometheus: PrometheusClient) -> None:
    """Every route and outcome exercised, and a successful smoke run seen by Prometheus."""
    with httpx.Client(base_url=twin.url("apache", "/api"), timeout=PATIENCE_S) as api:
        for _ in range(5):
            api.get("/dni/12345678A")
            api.get("/dni/11111111Z")
            api.get("/flights/AA123")
            api.get("/flights/ZZ999")
            api.get("/immigration?limit=5")
            entry = {"name": "Panel Data", "dni": "G" + uuid.uuid4().hex[:12].upper(), "lodging": "Hotel",
                     "declared_money": "800.00", "flight_number": "AA123"}
            created = api.post("/immigration", json=entry)
            assert created.status_code == 201, created.text
            api.get(f"/immigration/{created.json()['id']}")
            api.post("/immigration", json={**entry, "dni": "12345678A"})
            api.post("/immigration?dry_run=true", json={**entry, "declared_money": "1"})
    prometheus.wait_until("k6_smoke_success", lambda v: list(v.values()) == [1.0], PATIENCE_S)


@pytest.fixture(scope="module")
def promql(twin: Twin) -> PromQL:
    return PromQL(twin.url("prometheus"))


def empty_panels(promql: PromQL) -> list[str]:
    """The panel queries that return no data (those that cannot have any in the twin left out)."""
    return [str(query) for query in panel_queries()
            if query.panel not in EMPTY_IN_THE_TWIN and not promql.evaluate_panel(query, WINDOW)]


@pytest.mark.usefixtures("traffic")
def test_every_panel_query_runs_and_shows_data(promql: PromQL) -> None:
    wait_for("panels without data", lambda: empty_panels(promql))


@pytest.mark.usefixtures("traffic")
def test_every_template_variable_has_values(promql: PromQL) -> None:
    wait_for("variables without values",
             lambda: [str(query) for query in variable_queries() if not promql.evaluate_variable(query, WINDOW)])


def firing(promql: PromQL) -> dict[str, AlertQuery]:
    """The alert rules whose query returns a series now."""
    return {query.title: query for query in alert_queries() if promql.evaluate_alert(query)}


@pytest.mark.usefixtures("traffic")
def test_a_healthy_stack_fires_no_alert(promql: PromQL) -> None:
    # Once: every test before this one left the stack healthy (disruptive ones run last).
    assert not firing(promql), sorted(firing(promql))


def wait_firing(promql: PromQL, title: str, fires: bool) -> None:
    """Wait until the alert `title` fires (or, with fires=False, has stopped firing)."""
    wait_for(f"{title} {'not firing' if fires else 'still firing'}",
             lambda: [] if (title in firing(promql)) == fires else sorted(firing(promql)))


@pytest.mark.disruptive
def test_killing_the_api_fires_api_down(twin: Twin, promql: PromQL) -> None:
    # A fault test before this one may have left it firing: start from "not firing", or the wait
    # below would pass on the old fault.
    wait_firing(promql, "API down", fires=False)
    twin.stop("api", kill=True)
    try:
        wait_firing(promql, "API down", fires=True)
    finally:
        twin.start_service("api")
    wait_firing(promql, "API down", fires=False)


@pytest.mark.disruptive
def test_stopping_postgres_fires_postgres_down(twin: Twin, promql: PromQL) -> None:
    wait_firing(promql, "PostgreSQL down", fires=False)
    twin.stop("postgres")
    try:
        wait_firing(promql, "PostgreSQL down", fires=True)
    finally:
        twin.start_service("postgres")
    wait_firing(promql, "PostgreSQL down", fires=False)
