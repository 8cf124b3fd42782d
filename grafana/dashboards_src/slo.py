"""SLOs and alerting dashboard: every objective of prometheus/slos.yaml, and the alerting pipeline's health.

Per objective: the objective, the SLI over the SLO window, the error budget left, and the burn rates the
alerts compare (from the recording rules of prometheus/rules/slo.yml, generated from the same spec).
Then the pipeline: alerts firing, Prometheus -> Alertmanager notifications, Alertmanager deliveries,
rule evaluation failures, configuration reloads.
"""

from grafana_foundation_sdk.builders import dashboard

from prometheus.rulegen import slo as slo_rules
from prometheus.rulegen.spec import Slo, SlosSpec, load_slos

from .common import (RATE, GREEN, ORANGE, RED, YELLOW, Q, bars_panel, new_dashboard, row, stat_panel, steps,
                     threshold_lines, timeseries_panel, value_text, soft_range)

# The burn rates drawn on each objective's graph: every long window of the alerts, plus 5m for "now".
OK_FAILED = value_text({"1": ("OK", GREEN), "0": ("FAILED", RED)})


def _objective(board: dashboard.Dashboard, spec: SlosSpec, slo: Slo, group: str) -> dashboard.Dashboard:
    """One objective: four panels on one line."""
    match = slo_rules.match(slo, group)
    objective = slo.objectives[group].objective
    window_ratio = f"{slo_rules.RECORD.format(window=spec.window)}{match}"
    budget = f"(1 - {slo_rules.OBJECTIVE_RECORD}{match})"
    burn_windows = sorted({rate.long for rate in spec.burn_rates} | {spec.windows()[0]}, key=slo_rules.seconds)
    page = max(rate.burn for rate in spec.burn_rates)
    return (
        board
        .with_panel(stat_panel(
            f"{slo.name} {group}: objective", slo.description,
            [Q(f"{slo_rules.OBJECTIVE_RECORD}{match}", "objective", instant=True)], unit="percentunit",
            width=4, no_value="rules not loaded"))
        .with_panel(stat_panel(
            f"{slo.name} {group}: SLI over {spec.window}",
            f"The share of good events over the last {spec.window} (time average of the 5-minute ratio; "
            "periods without traffic left out). Red below the objective.",
            [Q(f"1 - {window_ratio}", "SLI", instant=True)], unit="percentunit",
            thresholds=steps((None, RED), (objective, GREEN)), width=4, no_value="no traffic yet"))
        .with_panel(stat_panel(
            f"{slo.name} {group}: error budget left",
            f"The share of the {spec.window} error budget not spent yet; below 0 the objective is missed.",
            [Q(f"1 - {window_ratio} / {budget}", "left", instant=True)], unit="percentunit",
            thresholds=steps((None, RED), (0, ORANGE), (0.25, YELLOW), (0.5, GREEN)), width=4,
            no_value="no traffic yet"))
        .with_panel(soft_range(threshold_lines(timeseries_panel(
            slo_rules.panel_title(slo, group),
            f"Error ratio over each window divided by the budget: 1 spends the budget exactly in {spec.window}; "
            f"the page fires above {slo_rules.number(page)} over 1h and 5m alike (dashed lines: the alerts' "
            "burn rates).",
            [Q(f"{slo_rules.RECORD.format(window=window)}{match} / {budget}", window) for window in burn_windows],
            "none", width=12), steps((None, GREEN), *((rate.burn, RED if rate.severity == "critical" else YELLOW)
                                                      for rate in sorted(spec.burn_rates, key=lambda r: r.burn)))),
            soft_max=page))
    )


def _pipeline(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Is the alerting itself working? What the monitoring alerts of prometheus/alerts.yaml watch."""
    return (
        board.with_row(row("Alerting pipeline"))
        .with_panel(bars_panel(
            "Alerts firing", "Every alert Prometheus holds firing now, by name (Watchdog always fires).",
            [Q('count by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}", instant=True)], unit="none",
            width=8))
        .with_panel(timeseries_panel(
            "Alerts sent to Alertmanager", "Prometheus -> Alertmanager: sent, failed and dropped per second, "
            "and how many Alertmanagers Prometheus found.",
            [Q(f'sum(rate(prometheus_notifications_sent_total{{job="prometheus"}}{RATE}))', "sent/s"),
             Q(f'sum(rate(prometheus_notifications_errors_total{{job="prometheus"}}{RATE}))', "errors/s"),
             Q(f'sum(rate(prometheus_notifications_dropped_total{{job="prometheus"}}{RATE}))', "dropped/s"),
             Q('prometheus_notifications_alertmanagers_discovered{job="prometheus"}', "Alertmanagers")],
            "short", width=8))
        .with_panel(timeseries_panel(
            "Notifications failing", "Alertmanager -> mail and heartbeat: failed deliveries per second, by "
            "integration (email, webhook).",
            [Q(f'sum by (integration) (rate(alertmanager_notifications_failed_total{{job="alertmanager"}}{RATE}))',
               "{{integration}} failed/s"),
             Q(f'sum by (integration) (rate(alertmanager_notifications_total{{job="alertmanager"}}{RATE}))',
               "{{integration}} sent/s")], "short", width=8))
        .with_panel(timeseries_panel(
            "Rule evaluation failures", "Rule evaluations that failed, per group: their alerts are blind.",
            [Q(f'sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total{{job="prometheus"}}{RATE}))',
               "{{rule_group}}")], "short"))
        .with_panel(stat_panel(
            "Configuration reloads", "Whether the last configuration reload of each succeeded.",
            [Q('prometheus_config_last_reload_successful{job="prometheus"}', "Prometheus", instant=True),
             Q('alertmanager_config_last_reload_successful{job="alertmanager"}', "Alertmanager", instant=True)],
            thresholds=steps((None, RED), (1, GREEN)), mappings=OK_FAILED, width=12, height=8))
    )


def build() -> dashboard.Dashboard:
    """The SLOs and alerting dashboard."""
    spec = load_slos()
    board = new_dashboard(
        "slo", "Promethoide / SLOs and alerting",
        f"The service-level objectives of prometheus/slos.yaml over {spec.window}: objective, SLI, error budget "
        "left, burn rates; and the health of the alerting pipeline.",
    )
    for slo in spec.slos:
        board = board.with_row(row(f"{slo.name}: {slo.description}"))
        for group in slo.objectives:
            board = _objective(board, spec, slo, group)
    return _pipeline(board)
