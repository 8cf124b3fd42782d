"""Smoke tests dashboard: the k6 runs the scheduler pushes to the Pushgateway (job="k6_smoke")."""

from grafana_foundation_sdk.builders import dashboard

from .common import (GREEN, RED, YELLOW, Q, counts, new_dashboard, pass_fail_bars, query_variable, row, soft_range,
                     stat_panel, steps, timeseries_panel, value_text)
from .rules import condition

SMOKE = 'job="k6_smoke", scenario=~"$scenario"'
# SmokeTestStale fires when the last success is older than this (prometheus/alerts.yaml).
STALE_AFTER = condition("SmokeTestStale").threshold
# -1: nothing pushed within STALE_AFTER (the scheduler or the Pushgateway is down), or never.
STALE = -1
RESULT = value_text({"1": ("PASS", GREEN), "0": ("FAIL", RED), str(STALE): ("STALE", RED)})


def result(selector: str) -> str:
    """The last run's result (1 pass, 0 fail) while fresh, else STALE (-1).

    The Pushgateway serves its last value forever: without the age of the last push, the tile says
    PASS long after the scheduler died. Fresh = pushed within SmokeTestStale's threshold.
    """
    return (f"(min(k6_smoke_success{{{selector}}}) and on () "
            f"(time() - max(push_time_seconds{{{selector}}}) <= {STALE_AFTER:g})) or on () vector({STALE})")


def _last_run(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The last run: result, checks, p95, exit code, and how long since anything succeeded."""
    return (
        board.with_row(row("Last run"))
        .with_panel(stat_panel(
            "Last result", f"PASS when k6 exited 0: every check and threshold held. STALE when nothing was "
            f"pushed for {STALE_AFTER:g} s (SmokeTestStale), or never.",
            [Q(result(SMOKE), "result", instant=True)],
            thresholds=steps((None, RED), (1, GREEN)), mappings=RESULT))
        .with_panel(stat_panel(
            "Checks passed", "k6 checks that held in the last run.",
            [Q(f"k6_smoke_checks_passed{{{SMOKE}}}", "{{scenario}}", instant=True)], decimals=0))
        .with_panel(stat_panel(
            "Checks failed", "k6 checks that failed in the last run.",
            [Q(f"k6_smoke_checks_failed{{{SMOKE}}}", "{{scenario}}", instant=True)],
            thresholds=steps((None, GREEN), (1, RED)), decimals=0))
        .with_panel(stat_panel(
            "p95 request duration", "95th percentile of the last run's requests.",
            [Q(f"k6_smoke_http_req_duration_p95_seconds{{{SMOKE}}}", "{{scenario}}", instant=True)], unit="s",
            thresholds=steps((None, GREEN), (0.5, YELLOW), (1, RED))))
        .with_panel(stat_panel(
            "Since last success", f"Red after {STALE_AFTER} s: two one-minute runs without a success.",
            [Q(f"time() - k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}", "{{scenario}}", instant=True)],
            # "no success yet" shows the base colour: red, as SmokeTestStale fires on no success at all.
            unit="s", thresholds=steps((None, RED), (0, GREEN), (STALE_AFTER, RED)), no_value="no success yet"))
        .with_panel(stat_panel(
            "Exit code", "0 ok, 99 thresholds failed, 107 script error, negative: killed by that signal.",
            [Q(f"k6_smoke_exit_code{{{SMOKE}}}", "{{scenario}}", instant=True)],
            thresholds=steps((None, RED), (0, GREEN), (1, RED)), decimals=0))
    )


def _history(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The pushed gauges over time: each step is a run."""
    return (
        board.with_row(row("History"))
        .with_panel(pass_fail_bars(timeseries_panel(
            "Result", "Each bar is a scrape of the last pushed result: green PASS, red FAIL.",
            [Q(f"k6_smoke_success{{{SMOKE}}}", "{{scenario}}")], "none")))
        .with_panel(counts(timeseries_panel(
            "Checks", "Checks passed and failed per run.",
            [Q(f"k6_smoke_checks_passed{{{SMOKE}}}", "{{scenario}} passed"),
             Q(f"k6_smoke_checks_failed{{{SMOKE}}}", "{{scenario}} failed")], "short")))
        .with_panel(soft_range(timeseries_panel(
            "Request duration p95", "95th percentile of the run's requests (the run's wall-clock time, seconds "
            "long, has its own panel: on one axis it flattens this).",
            [Q(f"k6_smoke_http_req_duration_p95_seconds{{{SMOKE}}}", "{{scenario}} p95")], "s", width=6)))
        .with_panel(soft_range(timeseries_panel(
            "Run duration", "Wall-clock time of each run.",
            [Q(f"k6_smoke_run_duration_seconds{{{SMOKE}}}", "{{scenario}} run")], "s", width=6)))
        .with_panel(timeseries_panel(
            "Failed requests", "Share of the run's requests that failed (expected 404/403 are not failures).",
            [Q(f"k6_smoke_http_req_failed_ratio{{{SMOKE}}}", "{{scenario}}")], "percentunit"))
        .with_panel(timeseries_panel(
            "Age of the last success and the last push", "The Pushgateway keeps old values: age tells staleness.",
            [Q(f"time() - k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}", "{{scenario}} last success"),
             Q(f"time() - push_time_seconds{{{SMOKE}}}", "{{scenario}} last push")], "s", width=24))
    )


def build() -> dashboard.Dashboard:
    """The smoke tests dashboard."""
    board = new_dashboard(
        "smoke", "Promethoide / Smoke tests",
        "The k6 smoke test of the operator flow, run every minute: last result, checks passed and failed, p95, "
        "time since the last success.",
    ).with_variable(query_variable("scenario", "Scenario", 'label_values(k6_smoke_success{job="k6_smoke"}, scenario)'))
    return _history(_last_run(board))
