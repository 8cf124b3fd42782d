"""Probes dashboard, from the blackbox exporter: success, status, duration by phase, per target.

The deliberately slow page (/delay) is drawn apart (orange, thick, labelled) so that nobody takes its
designed slowness for an incident, and nobody misses it when it gets slower still.
"""

from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, dashboard, timeseries
from grafana_foundation_sdk.models import dashboard as models

from .common import (GREEN, ORANGE, RED, UP_DOWN, YELLOW, Q, bars_panel, latency_axis, new_dashboard, query_variable,
                     row, soft_range, stat_panel, steps, threshold_lines, timeseries_panel)
from .rules import condition

# Job "blackbox" probes URLs (the page, the API through Apache, /delay, SMTP); job "blackbox-api" each API
# replica directly, its instance the replica's address (prometheus/prometheus.yml).
JOBS = 'job=~"blackbox|blackbox-api"'
PROBES = f'{JOBS}, instance=~"$target"'
SLOW_PAGE = "http://apache:80/delay"
NOT_SLOW_PAGE = f'{PROBES}, instance!="{SLOW_PAGE}"'
# The objectives are the rules' thresholds (prometheus/alerts.yaml): OperatorPageSlow for the page,
# SlowPageSlowerThanDesigned for /delay.
PAGE_SLOW = condition("OperatorPageSlow")
DELAY_SLOW = condition("SlowPageSlowerThanDesigned")
PAGE_OBJECTIVE = steps((None, GREEN), (PAGE_SLOW.threshold, RED))
DELAY_OBJECTIVE = steps((None, GREEN), (DELAY_SLOW.threshold, RED))
# Availability over the range: the share of probes that succeeded, one row per target.
AVAILABILITY = steps((None, RED), (0.99, YELLOW), (0.999, GREEN))
Panel = TypeVar("Panel", bargauge.Panel, timeseries.Panel)


def _slow_page_stands_out(panel: Panel, *, thick: bool) -> Panel:
    """Colour the slow page's series orange (and thicker on graphs), named as deliberately slow."""
    properties = [
        models.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": ORANGE}),
        models.DynamicConfigValue(id_val="displayName", value=f"{SLOW_PAGE} (deliberately slow)"),
    ]
    if thick:
        properties += [
            models.DynamicConfigValue(id_val="custom.lineWidth", value=3),
            models.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
        ]
    return panel.override_by_name(SLOW_PAGE, properties)


def _now(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The last probe of each target: success, HTTP status, duration."""
    return (
        board.with_row(row("Last probe"))
        .with_panel(stat_panel(
            "Probe result", "probe_success of the last probe of each target.",
            [Q(f"probe_success{{{PROBES}}}", "{{instance}}", instant=True)],
            thresholds=steps((None, RED), (1, GREEN)), mappings=UP_DOWN, width=12, height=5))
        .with_panel(stat_panel(
            "HTTP status", "Status code of the last answer; 0 means no answer (refused, timeout).",
            [Q(f"probe_http_status_code{{{PROBES}}}", "{{instance}}", instant=True)],
            thresholds=steps((None, RED), (200, GREEN), (300, YELLOW), (400, RED)), width=12, height=5, decimals=0))
        .with_panel(stat_panel(
            "Availability over the range", "Share of probes that succeeded over the dashboard's time range.",
            [Q(f"avg_over_time(probe_success{{{PROBES}}}[$__range])", "{{instance}}", instant=True)],
            unit="percentunit", thresholds=AVAILABILITY, width=24, height=5))
        .with_panel(_slow_page_stands_out(bars_panel(
            "Last probe duration", f"Whole probe, against the {PAGE_SLOW.threshold:g} s objective (the bar's end). "
            "The deliberately slow page is drawn apart below.",
            [Q(f"probe_duration_seconds{{{NOT_SLOW_PAGE}}}", "{{instance}}", instant=True)], unit="s",
            thresholds=PAGE_OBJECTIVE, maximum=PAGE_SLOW.threshold, width=24, height=6), thick=False))
    )


def _durations(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Durations over time, then one panel per target split by HTTP phase."""
    return (
        board.with_row(row("Durations"))
        .with_panel(latency_axis(threshold_lines(timeseries_panel(
            "Probe duration per target", f"Every target but the slow page. Dashed: the operator page's "
            f"{PAGE_SLOW.threshold:g} s objective (OperatorPageSlow); logarithmic axis, so milliseconds show too.",
            [Q(f"probe_duration_seconds{{{NOT_SLOW_PAGE}}}", "{{instance}}")], "s", width=12, height=9),
            PAGE_OBJECTIVE), PAGE_SLOW.threshold))
        .with_panel(_slow_page_stands_out(soft_range(threshold_lines(timeseries_panel(
            "Slow page duration", f"{SLOW_PAGE} is slow by design (2 s); dashed: "
            f"SlowPageSlowerThanDesigned's {DELAY_SLOW.threshold:g} s. Apart, so its seconds never flatten the "
            "other probes' milliseconds.",
            [Q(f'probe_duration_seconds{{{PROBES}, instance="{SLOW_PAGE}"}}', "{{instance}}")], "s", width=12,
            height=9), DELAY_OBJECTIVE), soft_max=DELAY_SLOW.threshold), thick=True))
        .with_panel(timeseries_panel(
            "DNS lookup time", "Time the blackbox exporter took to resolve each target's name (Docker's DNS).",
            [Q(f'probe_dns_lookup_time_seconds{{{PROBES}}}', "{{instance}}")], "s", width=24, height=6))
        .with_panel(timeseries_panel(
            "Phases: $http_target", "Where the time goes: resolve, connect, tls, processing (the server), transfer.",
            [Q(f'sum by (phase) (probe_http_duration_seconds{{{JOBS}, instance=~"$http_target"}})',
               "{{phase}}")], "s", stacked=True)
            .repeat("http_target").repeat_direction("h").max_per_row(2))
    )


def build() -> dashboard.Dashboard:
    """The probes dashboard."""
    board = new_dashboard(
        "probes", "Promethoide / Probes",
        "HTTP probes from the blackbox exporter: the operator page, the API through Apache and each API replica "
        "directly, and the deliberately slow page: success, status code, duration by phase, per target.",
    ).with_variable(query_variable("target", "Target", f'label_values(probe_success{{{JOBS}}}, instance)')
                    ).with_variable(
        # The HTTP probes: the SMTP probe has no HTTP phases (its repeated panel had no data).
        query_variable("http_target", "HTTP target", f'label_values(probe_http_duration_seconds{{{JOBS}}}, instance)')
        .hide(models.VariableHide.HIDE_VARIABLE))
    return _durations(_now(board))
