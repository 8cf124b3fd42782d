"""A remote site, live: the site bundle in a second network namespace remote-writes to the twin's centre.

The site (tests/twin/site.py) runs Debian's node-exporter and Debian's Prometheus in agent mode from
site/docker-compose.yaml and the files `./run.sh site-credentials` wrote; it reaches the centre only
through a veth link, as a host behind NAT reaches it through its router. Cutting that link must make
SiteSilent fire; restoring it must bring the outage's samples from the agent's WAL, with no gap.
"""

import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.grafana.queries import PanelQuery, PromQL, Window, grafana_regex_escape, panel_queries, variable_queries
from tests.stack.conftest import PATIENCE_S, SITE_NAME
from tests.support.prometheus import PrometheusClient
from tests.twin.site import CENTRE_ADDRESS, RemoteSite
from tests.twin.stack import Twin

pytestmark = pytest.mark.disruptive  # cuts the site's link (the centre's own services are untouched)

SITE_CONFIG = Path(__file__).resolve().parents[2] / "site" / "prometheus-agent.yml"
CENTRE_CONFIG = Path(__file__).resolve().parents[2] / "prometheus" / "prometheus.yml"
# The last ten minutes at a 15 s step, as tests/stack/test_grafana_queries.py asks.
WINDOW = Window(range_s=600, step_s=15, scrape_s=15)
SITE_NODE = f'up{{site="{SITE_NAME}", job="node"}}'


@pytest.fixture(scope="session")
def remote_site(twin: Twin, site_credentials: Path) -> Iterator[RemoteSite]:
    """The site, for the rest of the session: stopping it earlier would leave SiteSilent firing for later tests."""
    site = RemoteSite(Path(tempfile.mkdtemp(prefix="promethoide-site-")), site_credentials)
    try:
        site.start()
        yield site
    finally:
        site.close()


@pytest.fixture(scope="module")
def agent_scrape_interval_s() -> float:
    return float(yaml.safe_load(SITE_CONFIG.read_text())["global"]["scrape_interval"].rstrip("s"))


def post_write(site_credentials: Path, auth: tuple[str, str] | None, path: str = "/api/v1/write",
               method: str = "POST") -> int:
    """A request to the centre's remote-write port as a site makes it: TLS to the name `centre`, checked
    against the CA the site was given."""
    context = ssl.create_default_context(cafile=str(site_credentials / "ca.crt"))
    with httpx.Client(verify=context, timeout=10) as client:
        response = client.request(method, f"https://{CENTRE_ADDRESS}:9443{path}", auth=auth, content=b"",
                                  headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
                                  extensions={"sni_hostname": "centre"})
    return response.status_code


def test_the_sites_series_arrive_with_its_label(remote_site: RemoteSite, prometheus: PrometheusClient) -> None:
    """Node metrics and the agent's own, under site=twin-site; the centre's host is the site `centre`."""
    by_job = prometheus.wait_until(f'up{{site="{SITE_NAME}"}}', lambda v: v == {"node": 1.0, "prometheus-agent": 1.0},
                                   90, label="job")
    assert by_job == {"node": 1.0, "prometheus-agent": 1.0}
    assert prometheus.values(f'node_uname_info{{site="{SITE_NAME}"}}', label="site") == {SITE_NAME: 1.0}
    assert prometheus.values('up{job="node", site="centre"}', label="site") == {"centre": 1.0}


def test_every_series_of_the_centre_says_site_centre(remote_site: RemoteSite, prometheus: PrometheusClient) -> None:
    """Every central job labels its targets site="centre"; no series is left without a site."""
    jobs = {job["job_name"] for job in yaml.safe_load(CENTRE_CONFIG.read_text())["scrape_configs"]}
    # Each target is first scraped at its own offset within the interval: wait for every job once.
    prometheus.wait_until('count by (job) (up{site="centre"})', lambda v: set(v) == jobs, PATIENCE_S, label="job")
    # Scraped series, that is: recording rules (level:metric:ops) and ALERTS aggregate as their rule says.
    scraped = '__name__=~".+", __name__!~".*:.*|ALERTS|ALERTS_FOR_STATE"'
    assert prometheus.values(f'count by (job) ({{{scraped}, site=""}})', label="job") == {}
    assert prometheus.values(f'count by (job) ({{{scraped}, site="centre"}})', label="job")


def test_the_site_variable_lists_the_centre_and_the_site(remote_site: RemoteSite,
                                                         prometheus: PrometheusClient) -> None:
    prometheus.wait_until('up{job="node"}', lambda v: len(v) == 2, PATIENCE_S, label="site")
    promql = PromQL(prometheus.url, auth=prometheus.auth)
    site_variables = [query for query in variable_queries() if query.name == "site"]
    assert site_variables
    for query in site_variables:
        assert sorted(promql.evaluate_variable(query, WINDOW)) == sorted(["centre", SITE_NAME]), query


# A dashboard's panels with the site variable set to one site, as a row repeated per site sets it (the
# centre has no agent: its remote-write panels are empty, truthfully).
NOT_AT = {"centre": {"Remote write rejected", "Remote write behind"}, SITE_NAME: set()}


def site_panels(promql: PromQL, site: str) -> tuple[list[str], list[str]]:
    """(panel queries without data, panel queries showing another site's series) with $site = `site`."""
    empty, foreign = [], []
    for query in panel_queries():
        if query.variables.get("site") is None or query.panel in NOT_AT[site]:
            continue
        chosen = PanelQuery(query.dashboard, query.panel_id, query.panel, query.ref_id, query.expr, query.instant,
                            query.range, {**query.variables, "site": grafana_regex_escape(site)})
        results = promql.evaluate_panel(chosen, WINDOW)
        if not results:
            empty.append(str(query))
        foreign += [f"{query}: {result['metric']}" for result in results
                    if result["metric"].get("site", site) != site]
    return empty, foreign


@pytest.mark.parametrize("site", ["centre", SITE_NAME])
def test_each_site_fills_the_site_dashboards_with_its_own_series(remote_site: RemoteSite,
                                                                 prometheus: PrometheusClient, site: str) -> None:
    """Every panel of a dashboard with the variable has data for the site chosen, and only that site's."""
    promql = PromQL(prometheus.url, auth=prometheus.auth)
    deadline = time.monotonic() + PATIENCE_S  # rates need two of the site's scrapes after it started
    while (found := site_panels(promql, site))[0] and time.monotonic() < deadline:
        time.sleep(2)
    empty, foreign = found
    assert not empty, f"panels without data for site {site}:\n" + "\n".join(empty)
    assert not foreign, f"panels showing another site than {site}:\n" + "\n".join(foreign)


# (user, password) with None for the site's real password; None: no credentials at all.
@pytest.mark.parametrize(("auth", "path", "method", "status"), [
    (None, "/api/v1/write", "POST", 401),
    ((SITE_NAME, "not-the-password"), "/api/v1/write", "POST", 401),
    (("another-site", None), "/api/v1/write", "POST", 401),     # the right password, someone else's name
    ((SITE_NAME, None), "/api/v1/write", "POST", 400),          # let through: Prometheus refuses an empty batch
    ((SITE_NAME, None), "/api/v1/write", "GET", 403),           # only POST is let through
    ((SITE_NAME, None), "/api/v1/query", "POST", 403),          # nothing else of Prometheus is served
], ids=["anonymous", "wrong-password", "wrong-user", "right", "not-post", "not-write"])
def test_wrong_credentials_are_refused(remote_site: RemoteSite, site_credentials: Path,
                                       auth: tuple[str, str | None] | None, path: str, method: str,
                                       status: int) -> None:
    password = (site_credentials / "password").read_text()
    credentials = None if auth is None else (auth[0], auth[1] or password)
    assert post_write(site_credentials, credentials, path, method) == status


def test_a_cut_link_fires_site_silent_and_the_wal_fills_the_gap(
    remote_site: RemoteSite, prometheus: PrometheusClient, agent_scrape_interval_s: float
) -> None:
    prometheus.wait_until(SITE_NODE, lambda v: list(v.values()) == [1.0], 90)
    cut_at = time.time()
    remote_site.cut()
    try:
        firing = prometheus.wait_until(
            f'ALERTS{{alertname="SiteSilent", alertstate="firing", site="{SITE_NAME}"}}', lambda v: len(v) == 1,
            240, label="site")
        assert firing == {SITE_NAME: 1.0}
        # Its mail's panel link opens the Host dashboard on this site: Prometheus expanded the template.
        alerts = httpx.get(prometheus.url + "/api/v1/alerts", auth=prometheus.auth, timeout=10).json()["data"]["alerts"]
        (silent,) = [a for a in alerts if a["labels"]["alertname"] == "SiteSilent" and a["state"] == "firing"]
        assert silent["annotations"]["dashboard_url"].endswith(f"&var-site={SITE_NAME}"), silent["annotations"]
    finally:
        remote_site.restore()
    restored_at = time.time()

    # Every scrape the agent made while cut off arrives, with its own timestamp: no step of the
    # outage is missing once the agent has caught up.
    window = f"{int(time.time() - cut_at) + 60}s"
    limit = 1.5 * agent_scrape_interval_s

    def gaps() -> list[tuple[float, float]]:
        series = prometheus.query(f"{SITE_NODE}[{window}]")
        stamps = [float(t) for t, _ in series[0]["values"]] if series else []
        if not stamps or stamps[-1] < restored_at:
            return [(cut_at, restored_at)]
        return [(a, b) for a, b in zip(stamps, stamps[1:]) if b - a > limit]

    deadline = time.monotonic() + 120
    while gaps() and time.monotonic() < deadline:
        time.sleep(2)
    assert gaps() == [], f"samples missing between these timestamps (cut {cut_at:.0f}, restored {restored_at:.0f})"
    prometheus.wait_until(f'ALERTS{{alertname="SiteSilent", site="{SITE_NAME}"}}', lambda v: v == {}, 120)
