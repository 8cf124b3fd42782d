"""Every dashboard query, run on the twin's Prometheus as Grafana would run it (alerts: test_alerting.py)."""

import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.grafana.queries import (PromQL, Window, all_panels, dashboards, panel_queries, substitute, tile_colour,
                                  variable_queries)
from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.support.run_sh import RunSh
from tests.twin.stack import Twin

# The last ten minutes at a 15 s step: $__rate_interval is then 60 s, four scrapes.
WINDOW = Window(range_s=600, step_s=15, scrape_s=15)
# Panels that cannot have data in the twin, and why (the Network panel has: the twin gives its
# namespace a veth pair, tests/twin/network.py).
EMPTY_IN_THE_TWIN: dict[str, str] = {
    # A remote site's agent runs only during tests/stack/test_remote_site.py (a namespace of its own).
    "Remote write rejected": "no remote site's agent runs during this test",
    "Remote write behind": "no remote site's agent runs during this test",
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


def a_backup_pushed(twin: Twin, directory: Path) -> None:
    """One real `./run.sh backup` of the twin's database (the stand-in docker runs its steps natively),
    pushed to the twin's Pushgateway: what the PostgreSQL dashboard's Backups row shows."""
    live = twin.replicas["postgres"][0].database
    assert live is not None
    sh = RunSh.copy(directory / "project", live, "postgres,pushgateway",
                    STANDIN_ADDRESS_PUSHGATEWAY=twin.endpoints()["pushgateway"][0])
    done = sh.run("backup", str(directory / "backups"))
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def traffic(twin: Twin, prometheus: PrometheusClient, supervisor_client: httpx.Client,
            tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every route and outcome exercised (signed in as a supervisor, who may read entries too), a backup
    made, and a successful smoke run seen by Prometheus."""
    a_backup_pushed(twin, tmp_path_factory.mktemp("backup"))
    with httpx.Client(base_url=twin.url("apache", "/api"), timeout=PATIENCE_S,
                      cookies=supervisor_client.cookies) as api:
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
    prometheus.wait_until("promethoide_backup_success", lambda v: list(v.values()) == [1.0], PATIENCE_S, label="job")
    # Panels built on recording rules (the SLO dashboard) have data once each rule group has run once;
    # a group first runs at an offset within its interval.
    wait_all_rule_groups_evaluated(prometheus)


def wait_all_rule_groups_evaluated(prometheus: PrometheusClient) -> None:
    """Poll /api/v1/rules until every group has been evaluated since the traffic, every rule healthy."""
    since = time.time()
    groups = prometheus.rule_groups()
    deadline = time.monotonic() + max(group["interval"] for group in groups) + PATIENCE_S
    while True:
        groups = prometheus.rule_groups()
        waiting = [group["name"] for group in groups if _evaluated_at(group) < since
                   or any(rule["health"] != "ok" for rule in group["rules"])]
        if not waiting:
            return
        assert time.monotonic() < deadline, f"rule groups never evaluated (or unhealthy): {waiting}"
        time.sleep(2)


def _evaluated_at(group: dict) -> float:  # type: ignore[type-arg]
    """When Prometheus last evaluated the group, in Unix seconds (0 if never)."""
    stamp = group.get("lastEvaluation", "")
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def promql(twin: Twin) -> PromQL:
    return PromQL(twin.url("prometheus"), auth=twin.ui_auth)


def empty_panels(promql: PromQL) -> list[str]:
    """The panel queries that return no data (those that cannot have any in the twin left out)."""
    return [str(query) for query in panel_queries()
            if query.panel not in EMPTY_IN_THE_TWIN and not promql.evaluate_panel(query, WINDOW)]


@pytest.mark.usefixtures("traffic")
@pytest.mark.timeout(600)  # the traffic fixture waits for every rule group to have run once
def test_every_panel_query_runs_and_shows_data(promql: PromQL) -> None:
    wait_for("panels without data", lambda: empty_panels(promql))


@pytest.mark.usefixtures("traffic")
def test_every_template_variable_has_values(promql: PromQL) -> None:
    wait_for("variables without values",
             lambda: [str(query) for query in variable_queries() if not promql.evaluate_variable(query, WINDOW)])


# A stopped exporter turns the tiles that watch it red, as fast as its alerts see it (one failed
# scrape ends its series). (service stopped, dashboard uid, tile title.)
TILES_OF_A_STOPPED_EXPORTER = [
    ("apache-exporter", "promethoide-overview", "Apache"),
    ("apache-exporter", "promethoide-overview", "Targets down"),
    ("apache-exporter", "promethoide-apache", "Apache"),
]


def _tile(uid: str, title: str) -> dict:  # type: ignore[type-arg]
    (found,) = [p for p in all_panels(dashboards()[uid]) if p.get("title") == title]
    return found


def _tile_colour(prometheus: PrometheusClient, uid: str, title: str) -> str:
    """The colour the tile shows now: its one instant query, coloured by its own mappings and thresholds."""
    tile = _tile(uid, title)
    (target,) = tile["targets"]
    result = prometheus.query(substitute(target["expr"], WINDOW, {"instance": ".+"}))
    return tile_colour(tile, float(result[0]["value"][1]) if result else None)


@pytest.mark.disruptive
@pytest.mark.usefixtures("traffic")
def test_a_stopped_exporter_turns_its_tiles_red(twin: Twin, prometheus: PrometheusClient) -> None:
    service = TILES_OF_A_STOPPED_EXPORTER[0][0]
    tiles = [(uid, title) for stopped, uid, title in TILES_OF_A_STOPPED_EXPORTER if stopped == service]
    assert {_tile_colour(prometheus, uid, title) for uid, title in tiles if title != "Targets down"} == {"green"}
    twin.stop(service)
    try:
        deadline = time.monotonic() + PATIENCE_S
        while (colours := {tile: _tile_colour(prometheus, *tile) for tile in tiles}) != dict.fromkeys(tiles, "red"):
            assert time.monotonic() < deadline, f"tiles still not red with {service} stopped: {colours}"
            time.sleep(2)
    finally:
        twin.start_service(service)
        prometheus.wait_until(f'up{{job="{service.removesuffix("-exporter")}"}}', lambda v: list(v.values()) == [1.0],
                              PATIENCE_S)
