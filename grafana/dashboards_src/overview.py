"""Overview dashboard: the health of every service on one screen, each panel linking to its dashboard."""

from grafana_foundation_sdk.builders import dashboard, stat

from .common import (RATE, REQUESTS, GREEN, NOT_DISKS, PASS_FAIL, RED, UP_DOWN, YELLOW, Q, dashboard_url, new_dashboard, row,
                     stat_panel, steps, text_panel, timeseries_panel)

UP = steps((None, RED), (1, GREEN))
BUSY = steps((None, GREEN), (0.8, YELLOW), (0.9, RED))

# Markdown links are plain paths: ${__url_time_range} is for panel links, the text panel may not expand it.
INTRO = "Every service at a glance; click a panel for its dashboard, or go to " + " · ".join(
    f"[{title}]({dashboard_url(key, keep_time=False)})" for key, title in (
        ("api", "API"), ("postgres", "PostgreSQL"), ("host", "Host"), ("apache", "Apache"), ("probes", "Probes"),
        ("smoke", "Smoke tests"))
) + ". Alert rules: [Alerting](/alerting/list)."


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
            "API replicas up", "Replicas Prometheus scrapes; 0 = the API is down.",
            [Q('count(up{job="api"} == 1) or vector(0)', "replicas", instant=True)], thresholds=UP,
            link=("API dashboard", dashboard_url("api")), width=4))
        .with_panel(_up("PostgreSQL", "pg_up, or DOWN if its exporter is down.",
                        'min(pg_up{job="postgres"}) or vector(0)', "postgres"))
        .with_panel(_up("Apache", "apache_up, or DOWN if its exporter is down.",
                        'min(apache_up{job="apache"}) or vector(0)', "apache"))
        .with_panel(_up("Operator page", "The blackbox probe of http://apache:80/.",
                        'min(probe_success{job="blackbox", instance="http://apache:80/"}) or vector(0)', "probes"))
        .with_panel(stat_panel(
            "Smoke test", "Last k6 run of the operator flow.",
            [Q('min(k6_smoke_success{job="k6_smoke"})', "smoke", instant=True)], thresholds=UP, mappings=PASS_FAIL,
            link=("Smoke tests dashboard", dashboard_url("smoke")), width=4, no_value="never run"))
        .with_panel(stat_panel(
            "Targets down", "Scrape targets Prometheus cannot reach (any job); see Status > Targets in Prometheus.",
            [Q("count(up == 0) or vector(0)", "down", instant=True)], thresholds=steps((None, GREEN), (1, RED)),
            width=4))
    )


def _signals(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Traffic, errors, latency and saturation, one number each."""
    api = ("API dashboard", dashboard_url("api"))
    host = ("Host dashboard", dashboard_url("host"))
    return (
        board.with_row(row("Golden signals"))
        .with_panel(stat_panel(
            "API requests/s", "All routes, all replicas.",
            [Q(f'sum(rate({REQUESTS}{{job="api"}}{RATE}))', "requests/s", instant=True)], unit="reqps",
            link=api, width=3))
        .with_panel(stat_panel(
            "API 5xx ratio", "Share of API requests answered 5xx.",
            [Q(f'(sum(rate({REQUESTS}{{job="api", status="5xx"}}{RATE})) or vector(0)) / '
               f'sum(rate({REQUESTS}{{job="api"}}{RATE}))', "5xx", instant=True)], unit="percentunit",
            thresholds=steps((None, GREEN), (0.01, YELLOW), (0.05, RED)), link=api, width=3, no_value="no traffic"))
        .with_panel(stat_panel(
            "API p95", "95th percentile latency, all routes.",
            [Q(f'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{job="api"}}'
               f"{RATE})))", "p95", instant=True)], unit="s",
            thresholds=steps((None, GREEN), (0.25, YELLOW), (0.5, RED)), link=api, width=3, no_value="no traffic"))
        .with_panel(stat_panel(
            "Apache requests/s", "Everything Apache served.",
            [Q(f'sum(rate(apache_accesses_total{{job="apache"}}{RATE}))', "requests/s", instant=True)],
            unit="reqps", link=("Apache dashboard", dashboard_url("apache")), width=3))
        .with_panel(stat_panel(
            "DB connections used", "Backends over max_connections.",
            [Q('sum(pg_stat_database_numbackends{job="postgres"}) / max(pg_settings_max_connections{job="postgres"})',
               "used", instant=True)], unit="percentunit", thresholds=BUSY,
            link=("PostgreSQL dashboard", dashboard_url("postgres")), width=3))
        .with_panel(stat_panel(
            "CPU busy", "Host CPU not idle.",
            [Q(f'1 - avg(rate(node_cpu_seconds_total{{job="node", mode="idle"}}{RATE}))', "busy", instant=True)],
            unit="percentunit", thresholds=BUSY, link=host, width=3))
        .with_panel(stat_panel(
            "Memory used", "Host memory not available.",
            [Q('max(1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"})',
               "used", instant=True)], unit="percentunit", thresholds=BUSY, link=host, width=3))
        .with_panel(stat_panel(
            "Fullest disk", "The most used real filesystem.",
            [Q(f'max(1 - node_filesystem_avail_bytes{{job="node", fstype!~"{NOT_DISKS}"}} / '
               f'node_filesystem_size_bytes{{job="node", fstype!~"{NOT_DISKS}"}})', "used", instant=True)],
            unit="percentunit", thresholds=BUSY, link=host, width=3))
    )


def _trends(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Every scrape target, and the API's traffic over time."""
    return (
        board.with_row(row("Targets and traffic"))
        .with_panel(stat_panel(
            "Scrape targets", "Every target Prometheus scrapes, by job.",
            [Q("up", "{{job}} {{instance}}", instant=True)], thresholds=UP, mappings=UP_DOWN, width=24, height=5))
        .with_panel(timeseries_panel(
            "API requests by status class", "All routes and replicas.",
            [Q(f'sum by (status) (rate({REQUESTS}{{job="api"}}{RATE}))', "{{status}}")], "reqps",
            stacked=True))
        .with_panel(timeseries_panel(
            "Probe durations", "Every probed URL; /delay is slow by design (see the Probes dashboard).",
            [Q('probe_duration_seconds{job="blackbox"}', "{{instance}}")], "s"))
    )


def build() -> dashboard.Dashboard:
    """The overview dashboard."""
    board = new_dashboard(
        "overview", "Promethoide / Overview",
        "The health of every service on one screen, linking to the detailed dashboards.",
    )
    return _trends(_signals(_services(board)))
