"""API dashboard: per route rate, errors, latency and in-flight; business outcomes; every replica."""

import re

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, REQUESTS, GREEN, RED, YELLOW, Q, bars_panel, counts, latency_axis, new_dashboard,
                     query_variable, right_axis, row, soft_range, stat_panel, status_colours, steps, threshold_lines, timeseries_panel)
from .rules import condition, slos_spec

API = 'job="api", instance=~"$instance"'
ROUTES = f'{API}, handler=~"$handler"'
# Not traffic (slos.yaml's api.not_traffic: health checks, scrapes, unmatched paths): the summary
# tiles leave them out as the SLO rules do, or an idle API shows the probes' rate and latency.
NOT_TRAFFIC = slos_spec().api.not_traffic
USERS = f'handler!~"{NOT_TRAFFIC}"'
# The series of those handlers on a per-route panel (legend "{{handler}}"): exactly their names.
NOT_TRAFFIC_NAMES = f"^({NOT_TRAFFIC})$"
ALL_USERS = f'job="api", {USERS}'

# Replicas answering (their scrape and their own probe, as ApiReplicaDown judges each) over replicas
# discovered (ApiDown at 0, ApiReplicaDown below 1). No replica discovered at all: no data, shown as such.
REPLICA_HEALTH = condition("ApiReplicaDown").query
API_REPLICAS_UP = f'(count({REPLICA_HEALTH} == 1) or vector(0)) / count(up{{job="api"}})'
# What SignInFailuresBurst counts, and from how many it fires (prometheus/alerts.yaml).
_SIGN_IN_FAILURES = condition("SignInFailuresBurst")

_LATENCY = slos_spec().slos[[slo.sli for slo in slos_spec().slos].index("latency")]
_AVAILABILITY = slos_spec().slos[[slo.sli for slo in slos_spec().slos].index("availability")]
# The latency SLO's thresholds (slos.yaml): lookups must answer within the lower, registrations
# within the higher; both are bucket boundaries. Yellow past the first, red past the second.
OBJECTIVES = sorted({o.faster_than for o in _LATENCY.objectives.values() if o.faster_than is not None})
LATENCY_THRESHOLDS = steps((None, GREEN), (OBJECTIVES[0], YELLOW), (OBJECTIVES[-1], RED))
# 5xx ratio: yellow once the error budget (1 - objective) is being spent faster than allowed, red at
# the fastest burn rate that pages (slos.yaml burn_rates[0]).
_BUDGET = round(1 - min(o.objective for o in _AVAILABILITY.objectives.values()), 6)
_PAGE_BURN = max(rate.burn for rate in slos_spec().burn_rates)
ERROR_RATIO_THRESHOLDS = steps((None, GREEN), (_BUDGET, YELLOW), (round(_BUDGET * _PAGE_BURN, 6), RED))


def api_rate(selector: str = ALL_USERS) -> str:
    """User requests per second."""
    return f"sum(rate({REQUESTS}{{{selector}}}{RATE}))"


def api_error_ratio(selector: str = ALL_USERS) -> str:
    """Share of user requests answered 5xx; 0 when there were requests but no 5xx series yet."""
    return f'(sum(rate({REQUESTS}{{{selector}, status="5xx"}}{RATE})) or vector(0)) / {api_rate(selector)}'


def api_p95(selector: str = ALL_USERS) -> str:
    """95th percentile latency of user requests."""
    return quantile(0.95, selector, "")


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


# Grafana's "operations per minute" unit: these panels count events per minute.
PER_MINUTE = "opm"


def _failed_sign_ins_per_window() -> str:
    """SignInFailuresBurst's count (`sum(increase(X[W]))`) as a rate over the dashboard's interval times W:
    the same quantity and scale as the rule's threshold, with Grafana's rate window."""
    match = re.fullmatch(r"sum\(increase\((?P<series>.+)\[(?P<window>\d+)m\]\)\)", _SIGN_IN_FAILURES.query.strip())
    assert match, f"SignInFailuresBurst's query changed shape: {_SIGN_IN_FAILURES.query}"
    return f"sum(rate({match['series']}{RATE})) * {int(match['window']) * 60}"


def per_minute(metric: str, by: str, extra: str = "") -> str:
    """Events per minute of a business counter, summed over replicas and workers."""
    selector = f"{API}, {extra}" if extra else API
    grouping = f"sum by ({by})" if by else "sum"
    return f"{grouping} (rate({metric}{{{selector}}}{RATE})) * 60"


def _summary(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The top row: is the API up, how busy, how well (user traffic: health checks left out)."""
    users = f"{ROUTES}, {USERS}"
    return (
        board.with_row(row("Summary"))
        .with_panel(stat_panel(
            "Replicas up", "Replicas answering Prometheus and their own probe over replicas discovered: yellow when one is down "
            "(ApiReplicaDown), red at none (ApiDown), no data when none is discovered.",
            [Q(API_REPLICAS_UP, "replicas", instant=True)], unit="percentunit",
            thresholds=steps((None, RED), (0.001, YELLOW), (1, GREEN)), no_value="none discovered"))
        .with_panel(stat_panel(
            "Requests/s", "User requests, all selected routes and replicas (health checks and scrapes left out).",
            [Q(api_rate(users), "requests/s", instant=True)], unit="reqps"))
        .with_panel(stat_panel(
            "5xx ratio", "Share of user requests answered 5xx; yellow above the availability SLO's error budget, "
            "red at its paging burn rate.",
            [Q(api_error_ratio(users), "5xx", instant=True)],
            unit="percentunit", thresholds=ERROR_RATIO_THRESHOLDS, no_value="no traffic"))
        .with_panel(stat_panel(
            "p95 latency", "95th percentile of user requests; yellow and red at the latency SLO's thresholds.",
            [Q(api_p95(users), "p95", instant=True)], unit="s", thresholds=LATENCY_THRESHOLDS,
            no_value="no traffic"))
        .with_panel(stat_panel(
            "Mean concurrency", "Requests being served on average over the rate window, by Little's law "
            "(time spent serving per second); not an instantaneous count.",
            [Q(in_flight(""), "concurrency", instant=True)], unit="short"))
        .with_panel(stat_panel(
            "Registrations", "Entries registered over the dashboard's time range (dry runs excluded).",
            [Q(f"sum(increase(immigration_entries_registered_total{{{API}}}[$__range]))", "registered",
               instant=True)], unit="short", decimals=0))
    )


def share_faster(threshold: float, selector: str, by: str) -> str:
    """Share of requests served within `threshold` seconds (a bucket boundary): the latency SLI."""
    grouping = f"sum by ({by})" if by else "sum"
    return (f'{grouping} (rate(http_request_duration_seconds_bucket{{{selector}, le="{threshold:g}"}}{RATE})) / '
            f"{grouping} (rate({REQUESTS}{{{selector}}}{RATE}))")


def _per_route(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Rate, errors, latency quantiles and concurrency, one series per route template."""
    board = (
        board.with_row(row("Per route"))
        .with_panel(right_axis(timeseries_panel(
            "Request rate by route", "Requests per second per route template; health checks, scrapes and "
            "unmatched paths (not traffic) on the right axis, so their trickle never flattens the routes.",
            [Q(f"sum by (handler) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{handler}}")], "reqps"), NOT_TRAFFIC_NAMES))
        .with_panel(status_colours(threshold_lines(soft_range(timeseries_panel(
            "5xx ratio by route", "The server failed: the share that counts against the availability SLO "
            "(dashed: its error budget).",
            [Q(error_ratio("5xx", "handler"), "{{handler}} 5xx")], "percentunit", width=6),
            soft_max=_BUDGET * 2), steps((None, GREEN), (_BUDGET, RED)))))
        .with_panel(status_colours(soft_range(timeseries_panel(
            "4xx ratio by route", "Refusals and unknown documents: expected, often most of the document checks; "
            "on its own axis so it never hides the 5xx.",
            [Q(error_ratio("4xx", "handler"), "{{handler}} 4xx")], "percentunit", width=6), soft_max=1)))
    )
    for q in (0.5, 0.95, 0.99):
        board = board.with_panel(latency_axis(threshold_lines(timeseries_panel(
            f"p{round(q * 100)} latency by route",
            "From the request duration histogram: rate per bucket, then aggregated by (le, handler). Dashed: "
            "the latency SLO's thresholds (logarithmic axis: milliseconds and the objectives both show).",
            [Q(quantile(q, ROUTES, "handler"), "{{handler}}")], "s", width=8), LATENCY_THRESHOLDS),
            OBJECTIVES[-1]))
    return (
        board.with_panel(right_axis(timeseries_panel(
            "Mean concurrency by route", "Requests being served on average per rate window, by Little's law: "
            "sum(rate(duration_sum)). Not an instantaneous count. Not traffic on the right axis.",
            [Q(in_flight("handler"), "{{handler}}")], "short"), NOT_TRAFFIC_NAMES))
        .with_panel(status_colours(timeseries_panel(
            "Requests by status class", "All routes; 2xx served, 4xx refused or not found, 5xx failed.",
            [Q(f"sum by (status) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{status}}")], "reqps",
            stacked=True)))
    )


def _saturation(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """How full the API is: database pool slots, waits for one, and the share served within objective."""
    return (
        board.with_row(row("Saturation"))
        .with_panel(timeseries_panel(
            "Database pool", "Connections in use against the pool's size, summed over every worker of the "
            "selected replicas (api/app/db.py). In use at size: requests queue for a slot.",
            [Q(f"sum(api_db_pool_in_use{{{API}}})", "in use"), Q(f"sum(api_db_pool_size{{{API}}})", "size")],
            "short", width=8).decimals(0))
        .with_panel(counts(timeseries_panel(
            "Database pool waits per minute", "Requests that found every pool slot taken and waited (waits), "
            "and those that gave up after the acquire timeout (timeouts: answered 503).",
            [Q(f"sum(rate(api_db_pool_waits_total{{{API}}}{RATE})) * 60", "waits"),
             Q(f"sum(rate(api_db_pool_acquire_timeouts_total{{{API}}}{RATE})) * 60", "timeouts")], "opm",
            width=8)))
        .with_panel(right_axis(timeseries_panel(
            "Worker CPU", "CPU seconds per second used by the API's worker processes, per replica (1 = one core "
            "busy); the workers' count on the right: CPU near it means the API is CPU-bound.",
            [Q(f"sum by (instance) (rate(api_workers_cpu_seconds_total{{{API}}}{RATE}))", "{{instance}}"),
             Q(f"sum by (instance) (api_workers{{{API}}})", "{{instance}} workers")], "none", width=8),
            ".* workers$").decimals(2))
        .with_panel(timeseries_panel(
            "Worker memory", "Resident memory of the API's worker processes, summed per replica.",
            [Q(f"sum by (instance) (api_workers_resident_memory_bytes{{{API}}})", "{{instance}}")], "bytes",
            width=8))
        .with_panel(threshold_lines(soft_range(timeseries_panel(
            "Share within the latency objective", "Share of user requests served within each latency SLO "
            "threshold (the SLI): the dashed line is the objective.",
            [Q(share_faster(t, f"{ROUTES}, {USERS}", ""), f"within {t:g} s") for t in OBJECTIVES],
            "percentunit", width=8), soft_min=min(_LATENCY.objectives[g].objective for g in _LATENCY.objectives)
            - 0.01, soft_max=1), steps((None, RED), (min(o.objective for o in _LATENCY.objectives.values()), GREEN))))
    )


def _business(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """What the checkpoint decided: registrations, refusals by reason, Interpol hits, unknown flights; sign-ins."""
    return (
        board.with_row(row("Business outcomes"))
        .with_panel(timeseries_panel(
            "Registrations per minute", "Entries registered (dry runs are never written, so not counted).",
            [Q(per_minute("immigration_entries_registered_total", ""), "registrations")], PER_MINUTE, width=8))
        .with_panel(timeseries_panel(
            "Refusals per minute by reason", "Real refusals, and dry runs (the smoke test makes one per run).",
            [Q(per_minute("immigration_refusals_total", "reason", 'dry_run="false"'), "{{reason}}"),
             Q(per_minute("immigration_refusals_total", "reason", 'dry_run="true"'), "{{reason}} (dry run)")],
            PER_MINUTE, width=8))
        .with_panel(timeseries_panel(
            "Interpol hits per minute", "Listed documents, by where they were found: a lookup or a registration.",
            [Q(per_minute("immigration_interpol_hits_total", "source"), "{{source}}")], PER_MINUTE, width=8))
        .with_panel(bars_panel(
            "Refusals by reason over the range", "Real refusals (no dry runs) over the dashboard's time range.",
            [Q(f'sum by (reason) (increase(immigration_refusals_total{{{API}, dry_run="false"}}[$__range]))',
               "{{reason}}", instant=True)], unit="short").decimals(0))
        .with_panel(timeseries_panel(
            "Unknown flights per minute", "Flight numbers that matched no flight, by where they were checked.",
            [Q(per_minute("immigration_unknown_flights_total", "source"), "{{source}}")], PER_MINUTE))
        .with_panel(timeseries_panel(
            "Sign-ins per minute by outcome",
            "Operator sign-ins: success, bad_credentials (wrong name or password), locked_out (refused after "
            "repeated failures). Never by user name: the audit trail (GET /audit) says who.",
            [Q(per_minute("immigration_sign_ins_total", "outcome"), "{{outcome}}")], PER_MINUTE))
        .with_panel(threshold_lines(soft_range(timeseries_panel(
            "Failed sign-ins per 5 minutes",
            "Refused sign-ins (bad_credentials and locked_out), every replica together, at the current rate per "
            "5 minutes: what SignInFailuresBurst counts over its 5-minute window; dashed, its threshold.",
            [Q(_failed_sign_ins_per_window(), "failed")], "short"),
            soft_max=_SIGN_IN_FAILURES.threshold * 2), steps((None, GREEN), (_SIGN_IN_FAILURES.threshold, RED))))
    )


def _replicas(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """One series per replica, then one panel per replica (repeated over the instance variable)."""
    return (
        board.with_row(row("Replicas"))
        .with_panel(timeseries_panel(
            "Requests/s per replica", "Each API container is its own target (DNS discovery of the service).",
            [Q(f"sum by (instance) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{instance}}")], "reqps"))
        .with_panel(latency_axis(threshold_lines(timeseries_panel(
            "p95 latency per replica", "A replica slower than the others points at that container (logarithmic "
            "axis, dashed: the latency SLO's thresholds).",
            [Q(quantile(0.95, ROUTES, "instance"), "{{instance}}")], "s"), LATENCY_THRESHOLDS), OBJECTIVES[-1]))
        .with_panel(status_colours(timeseries_panel(
            "Replica $instance", "Requests of this replica by status class; a panel per selected replica.",
            [Q(f"sum by (status) (rate({REQUESTS}{{{ROUTES}}}{RATE}))", "{{status}}")], "reqps",
            width=8, stacked=True)).repeat("instance").repeat_direction("h").max_per_row(3))
    )


def build() -> dashboard.Dashboard:
    """The API dashboard."""
    board = new_dashboard(
        "api", "Promethoide / API",
        "The immigration-checkpoint API: per route rate, errors, latency and concurrency; business outcomes; "
        "every replica.",
    ).with_variable(query_variable("instance", "Replica", 'label_values(up{job="api"}, instance)')).with_variable(
        query_variable("handler", "Route", f'label_values({REQUESTS}{{job="api"}}, handler)'))
    return _replicas(_business(_saturation(_per_route(_summary(board)))))
