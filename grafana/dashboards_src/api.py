"""API dashboard: per route rate, errors, latency and in-flight; business outcomes; every replica."""

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, REQUESTS, GREEN, RED, YELLOW, Q, bars_panel, new_dashboard, query_variable, row,
                     stat_panel, steps, threshold_lines, timeseries_panel)

API = 'job="api", instance=~"$instance"'
ROUTES = f'{API}, handler=~"$handler"'

# The latency objectives the "API p95 latency" alert holds routes to (provisioning/alerting):
# registrations (POST /immigration) 0.5 s, every other route 0.25 s; both are bucket boundaries.
LATENCY_THRESHOLDS = steps((None, GREEN), (0.25, YELLOW), (0.5, RED))


def quantile(q: float, selector: str, by: str) -> str:
    """A latency quantile from the histogram: rate per bucket first, then sum by (le, ...)."""
    return (f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) "
            f"(rate(http_request_duration_seconds_bucket{{{selector}}}{RATE})))")


def error_ratio(status: str, by: str) -> str:
    """The share of requests answered with `status` (5xx, 4xx), per `by`; 0, not "No data", when none was."""
    everything = f"sum by ({by}) (rate({REQUESTS}{{{ROUTES}}}{RATE}))"
    return (f'(sum by ({by}) (rate({REQUESTS}{{{ROUTES}, status="{status}"}}{RATE})) or {everything} * 0)'
            f" / {everything}")


def in_flight(by: str) -> str:
    """Requests in flight by Little's law: time spent serving per second = mean concurrency."""
    grouping = f"sum by ({by})" if by else "sum"
    return f"{grouping} (rate(http_request_duration_seconds_sum{{{ROUTES}}}{RATE}))"


def per_minute(metric: str, by: str, extra: str = "") -> str:
    """Events per minute of a business counter, summed over replicas and workers."""
    selector = f"{API}, {extra}" if extra else API
    grouping = f"sum by ({by})" if by else "sum"
    return f"{grouping} (rate({metric}{{{selector}}}{RATE})) * 60"


def _summary(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The top row: is the API up, how busy, how well."""
    return (
        board.with_row(row("Summary"))
        .with_panel(stat_panel(
            "Replicas up", "API replicas Prometheus scrapes successfully (every replica is a target).",
            [Q('count(up{job="api"} == 1) or vector(0)', "replicas", instant=True)],
            thresholds=steps((None, RED), (1, GREEN))))
        .with_panel(stat_panel(
            "Requests/s", "All routes, all selected replicas.",
            [Q(f"sum(rate({REQUESTS}{{{ROUTES}}}{RATE}))", "requests/s", instant=True)], unit="reqps"))
        .with_panel(stat_panel(
            "5xx ratio", "Share of requests answered 5xx (the API down or its database unavailable).",
            # "or vector(0)": no 5xx series yet is a ratio of 0, not "No data".
            [Q(f'(sum(rate({REQUESTS}{{{ROUTES}, status="5xx"}}{RATE})) or vector(0))'
               f" / sum(rate({REQUESTS}{{{ROUTES}}}{RATE}))", "5xx", instant=True)],
            unit="percentunit", thresholds=steps((None, GREEN), (0.01, YELLOW), (0.05, RED)), no_value="no traffic"))
        .with_panel(stat_panel(
            "p95 latency", "95th percentile over every selected route.",
            [Q(quantile(0.95, ROUTES, ""), "p95", instant=True)], unit="s", thresholds=LATENCY_THRESHOLDS,
            no_value="no traffic"))
        .with_panel(stat_panel(
            "In flight", "Requests being served right now, by Little's law (the API has no in-progress gauge).",
            [Q(in_flight(""), "in flight", instant=True)], unit="short"))
        .with_panel(stat_panel(
            "Registrations", "Entries registered over the dashboard's time range (dry runs excluded).",
            [Q(f"sum(increase(immigration_entries_registered_total{{{API}}}[$__range]))", "registered",
               instant=True)], unit="short"))
    )


def _per_route(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Rate, errors, latency quantiles and concurrency, one series per route template."""
    board = (
        board.with_row(row("Per route"))
        .with_panel(timeseries_panel(
            "Request rate by route", "Requests per second per route template.",
            [Q(f"sum by (handler) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{handler}}")], "reqps"))
        .with_panel(timeseries_panel(
            "Error ratio by route", "5xx: the server failed. 4xx: refusals and unknown documents, expected.",
            [Q(error_ratio("5xx", "handler"), "{{handler}} 5xx"), Q(error_ratio("4xx", "handler"), "{{handler}} 4xx")],
            "percentunit"))
    )
    for q in (0.5, 0.95, 0.99):
        board = board.with_panel(threshold_lines(timeseries_panel(
            f"p{round(q * 100)} latency by route",
            "From the request duration histogram: rate per bucket, then aggregated by (le, handler).",
            [Q(quantile(q, ROUTES, "handler"), "{{handler}}")], "s", width=8), LATENCY_THRESHOLDS))
    return (
        board.with_panel(timeseries_panel(
            "In flight by route", "Mean concurrency per route by Little's law: sum(rate(duration_sum)).",
            [Q(in_flight("handler"), "{{handler}}")], "short"))
        .with_panel(timeseries_panel(
            "Requests by status class", "All routes; 2xx served, 4xx refused or not found, 5xx failed.",
            [Q(f"sum by (status) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{status}}")], "reqps",
            stacked=True))
    )


def _business(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """What the checkpoint decided: registrations, refusals by reason, Interpol hits, unknown flights; sign-ins."""
    return (
        board.with_row(row("Business outcomes"))
        .with_panel(timeseries_panel(
            "Registrations per minute", "Entries registered (dry runs are never written, so not counted).",
            [Q(per_minute("immigration_entries_registered_total", ""), "registrations")], "short", width=8))
        .with_panel(timeseries_panel(
            "Refusals per minute by reason", "Real refusals, and dry runs (the smoke test makes one per run).",
            [Q(per_minute("immigration_refusals_total", "reason", 'dry_run="false"'), "{{reason}}"),
             Q(per_minute("immigration_refusals_total", "reason", 'dry_run="true"'), "{{reason}} (dry run)")],
            "short", width=8))
        .with_panel(timeseries_panel(
            "Interpol hits per minute", "Listed documents, by where they were found: a lookup or a registration.",
            [Q(per_minute("immigration_interpol_hits_total", "source"), "{{source}}")], "short", width=8))
        .with_panel(bars_panel(
            "Refusals by reason over the range", "Real refusals (no dry runs) over the dashboard's time range.",
            [Q(f'sum by (reason) (increase(immigration_refusals_total{{{API}, dry_run="false"}}[$__range]))',
               "{{reason}}", instant=True)], unit="short"))
        .with_panel(timeseries_panel(
            "Unknown flights per minute", "Flight numbers that matched no flight, by where they were checked.",
            [Q(per_minute("immigration_unknown_flights_total", "source"), "{{source}}")], "short"))
        .with_panel(timeseries_panel(
            "Sign-ins per minute by outcome",
            "Operator sign-ins: success, bad_credentials (wrong name or password), locked_out (refused after "
            "repeated failures). Never by user name: the audit trail (GET /audit) says who.",
            [Q(per_minute("immigration_sign_ins_total", "outcome"), "{{outcome}}")], "short"))
    )


def _replicas(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """One series per replica, then one panel per replica (repeated over the instance variable)."""
    return (
        board.with_row(row("Replicas"))
        .with_panel(timeseries_panel(
            "Requests/s per replica", "Each API container is its own target (DNS discovery of the service).",
            [Q(f"sum by (instance) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{instance}}")], "reqps"))
        .with_panel(threshold_lines(timeseries_panel(
            "p95 latency per replica", "A replica slower than the others points at that container.",
            [Q(quantile(0.95, ROUTES, "instance"), "{{instance}}")], "s"), LATENCY_THRESHOLDS))
        .with_panel(timeseries_panel(
            "Replica $instance", "Requests of this replica by status class; a panel per selected replica.",
            [Q(f"sum by (status) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{status}}")], "reqps",
            width=8, stacked=True).repeat("instance").repeat_direction("h").max_per_row(3))
    )


def build() -> dashboard.Dashboard:
    """The API dashboard."""
    board = new_dashboard(
        "api", "Promethoide / API",
        "The immigration-checkpoint API: per route rate, errors, latency and concurrency; business outcomes; "
        "every replica.",
    ).with_variable(query_variable("instance", "Replica", 'label_values(up{job="api"}, instance)')).with_variable(
        query_variable("handler", "Route", f'label_values({REQUESTS}{{job="api"}}, handler)'))
    return _replicas(_business(_per_route(_summary(board))))
