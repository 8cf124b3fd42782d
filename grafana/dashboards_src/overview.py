"""Overview dashboard: the health of every service on one screen, each panel linking to its dashboard."""

from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import dashboard, stat

from . import host as host_src
from . import probes as probes_src
from . import smoke as smoke_src
from .api import (API_REPLICAS_UP, ERROR_RATIO_THRESHOLDS, LATENCY_THRESHOLDS, api_error_ratio, api_p95, api_rate)
from .common import (RATE, REQUESTS, GREEN, RED, UP_DOWN, YELLOW, Q, dashboard_url,
                     new_dashboard, row, stat_panel, status_colours, steps, text_panel, timeseries_panel)
from .postgres import CONNECTIONS_THRESHOLDS, CONNECTIONS_USED

# The Overview is the centre's stack: its host tiles and targets are the centre's (every central job
# labels its targets site="centre", prometheus/prometheus.yml); remote sites have the Host dashboard,
# which lists every site, and their own alerts (SiteSilent, the host alerts name the site).
CENTRE = 'site="centre"'
CENTRE_NODE = f'job="node", {CENTRE}'
PROMETHEUS_CONFIG = Path(__file__).resolve().parents[2] / "prometheus" / "prometheus.yml"

UP = steps((None, RED), (1, GREEN))
# Replicas up over replicas discovered: 0 red (ApiDown), below 1 yellow (ApiReplicaDown).
REPLICAS = steps((None, RED), (0.001, YELLOW), (1, GREEN))

# Markdown links are plain paths: ${__url_time_range} is for panel links, the text panel may not expand it.
INTRO = "Every service at a glance; click a panel for its dashboard, or go to " + " · ".join(
    f"[{title}]({dashboard_url(key, keep_time=False)})" for key, title in (
        ("api", "API"), ("postgres", "PostgreSQL"), ("host", "Host"), ("apache", "Apache"), ("probes", "Probes"),
        ("smoke", "Smoke tests"))
) + ". This is the centre (site `centre`); every site's host, remote ones too, is on the Host dashboard. " \
    "Alert rules: [Alerting](/alerting/list)."


def scrape_jobs() -> list[str]:
    """Every job prometheus/prometheus.yml scrapes, in its order."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    return [job["job_name"] for job in config["scrape_configs"]]


def targets_down() -> str:
    """Targets failing their scrape, plus one per job with no target left at all.

    `up == 0` cannot see a target that vanished from discovery (every API container gone: DNS names
    nothing, the series ends); `absent()` per job can, as ExporterDown and the *Down rules do.
    """
    # absent() keeps the selector's job label: count() drops it so that the two sides add up.
    vanished = " or ".join(f'absent(up{{job="{job}", {CENTRE}}})' for job in scrape_jobs())
    return f"(count(up{{{CENTRE}}} == 0) or vector(0)) + (count({vanished}) or vector(0))"


def _up(title: str, description: str, expr: str, key: str) -> stat.Panel:
    """An up/down tile linking to the dashboard `key`."""
    return stat_panel(title, description, [Q(expr, title, instant=True)], thresholds=UP, mappings=UP_DOWN,
                      link=(f"{title} dashboard", dashboard_url(key)), width=4)


def _services(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """One tile per service: up or down."""
    return (
        board.with_panel(text_panel("Promethoide", INTRO, height=2))
        .with_row(row("Services"))
        .with_panel(stat_panel(
            "API replicas up", "Replicas answering Prometheus and their own probe over replicas discovered: yellow when one is down "
            "(ApiReplicaDown), red at none (ApiDown); no data when no replica is discovered at all.",
            [Q(API_REPLICAS_UP, "replicas", instant=True)], unit="percentunit", thresholds=REPLICAS,
            link=("API dashboard", dashboard_url("api")), width=4, no_value="none discovered"))
        .with_panel(_up("PostgreSQL", "pg_up, or DOWN if its exporter is down.",
                        'min(pg_up{job="postgres"}) or vector(0)', "postgres"))
        .with_panel(_up("Apache", "apache_up, or DOWN if its exporter is down.",
                        'min(apache_up{job="apache"}) or vector(0)', "apache"))
        .with_panel(_up("Operator page", "The blackbox probe of http://apache:80/.",
                        'min(probe_success{job="blackbox", instance="http://apache:80/"}) or vector(0)', "probes"))
        .with_panel(stat_panel(
            "Smoke test", "Last k6 run of the operator flow; STALE when nothing was pushed within the "
            "SmokeTestStale threshold (the scheduler or the Pushgateway is down), or never.",
            [Q(smoke_src.result('job="k6_smoke"'), "smoke", instant=True)], thresholds=UP, mappings=smoke_src.RESULT,
            link=("Smoke tests dashboard", dashboard_url("smoke")), width=4))
        .with_panel(stat_panel(
            "Targets down", "Scrape targets this Prometheus cannot reach, plus every job with no target at all "
            "(vanished from discovery); see Status > Targets in Prometheus. Remote sites' targets are their "
            "agents': SiteSilent and ExporterDown name the site.",
            [Q(targets_down(), "down", instant=True)], thresholds=steps((None, GREEN), (1, RED)),
            width=4, decimals=0))
    )


def _signals(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Traffic, errors, latency and saturation, one number each; the API's from user traffic only."""
    api = ("API dashboard", dashboard_url("api"))
    host = ("Host dashboard", dashboard_url("host"))
    return (
        board.with_row(row("Golden signals"))
        .with_panel(stat_panel(
            "API requests/s", "User traffic, all routes and replicas (health checks and scrapes left out, as "
            "in the SLOs).", [Q(api_rate(), "requests/s", instant=True)], unit="reqps", link=api, width=3))
        .with_panel(stat_panel(
            "API 5xx ratio", "Share of user requests answered 5xx; yellow above the availability SLO's error "
            "budget, red at its fastest burn rate (slos.yaml).",
            [Q(api_error_ratio(), "5xx", instant=True)], unit="percentunit", thresholds=ERROR_RATIO_THRESHOLDS,
            link=api, width=3, no_value="no traffic"))
        .with_panel(stat_panel(
            "API p95", "95th percentile latency of user requests; yellow and red at the latency SLO's "
            "thresholds (lookups, registrations).",
            [Q(api_p95(), "p95", instant=True)], unit="s", thresholds=LATENCY_THRESHOLDS, link=api, width=3,
            no_value="no traffic"))
        .with_panel(stat_panel(
            "Apache requests/s", "Everything Apache served.",
            [Q(f'sum(rate(apache_accesses_total{{job="apache"}}{RATE}))', "requests/s", instant=True)],
            unit="reqps", link=("Apache dashboard", dashboard_url("apache")), width=3))
        .with_panel(stat_panel(
            "DB connections used", "Backends over max_connections (the PostgreSQL dashboard's gauge).",
            [Q(CONNECTIONS_USED, "used", instant=True)], unit="percentunit", thresholds=CONNECTIONS_THRESHOLDS,
            link=("PostgreSQL dashboard", dashboard_url("postgres")), width=3))
        .with_panel(stat_panel(
            "CPU busy", "The centre's host CPU not idle (every site's: the Host dashboard).",
            [Q(host_src.cpu_busy(CENTRE_NODE), "busy", instant=True)],
            unit="percentunit", thresholds=host_src.CPU_THRESHOLDS, link=host, width=3))
        .with_panel(stat_panel(
            "Memory used", "The centre's host memory not available; red where HostMemoryLow fires.",
            [Q(host_src.memory_used(CENTRE_NODE), "used", instant=True)], unit="percentunit",
            thresholds=host_src.MEMORY_THRESHOLDS, link=host, width=3))
        .with_panel(stat_panel(
            "Fullest disk", "The centre's most used writable real filesystem; red where HostDiskAlmostFull fires.",
            [Q(host_src.disk_used(CENTRE_NODE, aggregate=True), "used", instant=True)],
            unit="percentunit", thresholds=host_src.DISK_THRESHOLDS, link=host, width=3))
    )


def _trends(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Every scrape target, and the API's traffic over time."""
    return (
        board.with_row(row("Targets and traffic"))
        .with_panel(stat_panel(
            "Scrape targets", "Every target this Prometheus scrapes, by job (remote sites' targets: the Host "
            "dashboard's Remote sites row).",
            [Q(f"up{{{CENTRE}}}", "{{job}} {{instance}}", instant=True)], thresholds=UP, mappings=UP_DOWN, width=24, height=5))
        .with_panel(status_colours(timeseries_panel(
            "API requests by status class", "All routes and replicas, health checks included.",
            [Q(f'sum by (status) (rate({REQUESTS}{{job="api"}}{RATE}))', "{{status}}")], "reqps",
            stacked=True)))
        .with_panel(timeseries_panel(
            "Probe durations", "Every probed URL but the deliberately slow page, whose 2 s would flatten these "
            "milliseconds to zero (it has its own panel on the Probes dashboard).",
            [Q(f'probe_duration_seconds{{job="blackbox", instance!="{probes_src.SLOW_PAGE}"}}', "{{instance}}")],
            "s"))
    )


def build() -> dashboard.Dashboard:
    """The overview dashboard."""
    board = new_dashboard(
        "overview", "Promethoide / Overview",
        "The health of every service on one screen, linking to the detailed dashboards.",
    )
    return _trends(_signals(_services(board)))
