"""Probes dashboard, from the blackbox exporter: success, status, duration by phase, per target.

The deliberately slow page (/delay) is drawn apart (orange, thick, labelled) so that nobody takes its
designed slowness for an incident, and nobody misses it when it gets slower still.
"""

from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, dashboard, timeseries
from grafana_foundation_sdk.models import dashboard as models

from .common import (GREEN, ORANGE, RED, UP_DOWN, YELLOW, Q, bars_panel, new_dashboard, query_variable, row,
                     stat_panel, steps, threshold_lines, timeseries_panel)

PROBES = 'job="blackbox", instance=~"$target"'
SLOW_PAGE = "http://apache:80/delay"
# The operator page's objective: the "Operator page slow" alert fires above it.
PAGE_OBJECTIVE = steps((None, GREEN), (1, RED))
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
            thresholds=steps((None, RED), (200, GREEN), (300, YELLOW), (400, RED)), width=12, height=5))
        .with_panel(_slow_page_stands_out(bars_panel(
            "Last probe duration", "Whole probe, seconds. The operator page must answer within 1 s.",
            [Q(f"probe_duration_seconds{{{PROBES}}}", "{{instance}}", instant=True)], unit="s",
            thresholds=PAGE_OBJECTIVE, width=24, height=6), thick=False))
    )


def _durations(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Durations over time, then one panel per target split by HTTP phase."""
    return (
        board.with_row(row("Durations"))
        .with_panel(_slow_page_stands_out(threshold_lines(timeseries_panel(
            "Probe duration per target", "The dashed line is the operator page's 1 s objective.",
            [Q(f"probe_duration_seconds{{{PROBES}}}", "{{instance}}")], "s", width=24, height=9),
            PAGE_OBJECTIVE), thick=True))
        .with_panel(timeseries_panel(
            "Phases: $target", "Where the time goes: resolve, connect, tls, processing (the server), transfer.",
            [Q(f"sum by (phase) (probe_http_duration_seconds{{{PROBES}}})", "{{phase}}")], "s", stacked=True)
            .repeat("target").repeat_direction("h").max_per_row(2))
    )


def build() -> dashboard.Dashboard:
    """The probes dashboard."""
    board = new_dashboard(
        "probes", "Promethoide / Probes",
        "HTTP probes from the blackbox exporter: the operator page, the API through Apache and directly, and the "
        "deliberately slow page: success, status code, duration by phase, per target.",
    ).with_variable(query_variable("target", "Target", 'label_values(probe_success{job="blackbox"}, instance)'))
    return _durations(_now(board))
