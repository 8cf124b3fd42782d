"""SLO rules from slos.yaml: SLI recording rules per window, and multiwindow multi-burn-rate alerts.

Shapes after the Google SRE workbook ("Alerting on SLOs", the multiwindow, multi-burn-rate alerts):
an alert fires while the error ratio over the long window AND over the short one both exceed
`burn x (1 - objective)`. The SLIs are recorded once per window so that the alerts only compare series.

Recorded series (labels `slo` and `route_group` on each):
    slo:sli_error:ratio_rate<window>  share of bad events over the window (0..1); absent without traffic
    slo:sli_error:ratio_rate<W>       over the SLO window (30d): the time average of the 5m ratio
    slo:objective:ratio               the objective itself (0.995), for dashboards
"""

from typing import Any

from .spec import BurnRate, Slo, SlosSpec, seconds

RECORD = "slo:sli_error:ratio_rate{window}"
OBJECTIVE_RECORD = "slo:objective:ratio"
# The burn windows need every 30 s. The SLO window's ratio (avg_over_time over 30 d of the 5 m ratio,
# ~86k samples per SLO) is evaluated once a minute: cheap at our handful of SLOs, and a fresh stack's
# SLO dashboard fills within a minute instead of five.
INTERVAL = "30s"
SLOW_INTERVAL = "1m"


def number(value: float) -> str:
    """A float as PromQL and people write it: 0.005, not 0.0050000000000000044."""
    return f"{round(value, 10):g}"


def budget(objective: float) -> float:
    """The error budget: the share of bad events the objective allows."""
    return round(1 - objective, 10)


def le(threshold: float) -> str:
    """The `le` label of a bucket boundary as the Python client writes it (0.25, 0.5; 1.0 for 1)."""
    return repr(float(threshold))


def selector(*matchers: str) -> str:
    """{a, b, ...} from non-empty matcher lists."""
    return "{" + ", ".join(m for m in matchers if m) + "}"


def sli_error(spec: SlosSpec, slo: Slo, group: str, window: str) -> str:
    """PromQL: the share of bad events of `slo` for `group` over `window`.

    Without traffic the ratio is absent, not NaN (0/0): a NaN would poison the SLO window's average and
    compare false anyway. Without any bad event it is 0: `or vector(0)` stands for the absent 5xx series.
    """
    if slo.sli == "synthetic":
        return f"1 - avg(avg_over_time({spec.synthetic.success}[{window}]))"
    api = spec.api
    traffic = (f'job="{api.job}"', f'handler!~"{api.not_traffic}"', spec.route_groups[group])
    if slo.sli == "availability":
        total = f"sum(rate({api.requests}{selector(*traffic)}[{window}]))"
        bad = f"sum(rate({api.requests}{selector(*traffic, api.server_errors)}[{window}]))"
        return f"({bad} or vector(0))\n/ ({total} > 0)"
    faster_than = slo.objectives[group].faster_than
    assert faster_than is not None  # SlosSpec.check()
    bucket = selector(*traffic, f'le="{le(faster_than)}"')
    good = f"sum(rate({api.latency_buckets}{bucket}[{window}]))"
    total = f"sum(rate({api.latency_count}{selector(*traffic)}[{window}]))"
    return f"1 - (\n  {good}\n  / ({total} > 0)\n)"


def labels(slo: Slo, group: str) -> dict[str, str]:
    """The labels every series of one objective carries."""
    return {"slo": slo.name, "route_group": group}


def match(slo: Slo, group: str) -> str:
    """The selector of one objective's series: {slo="...", route_group="..."}."""
    return selector(*(f'{key}="{value}"' for key, value in labels(slo, group).items()))


def objectives(spec: SlosSpec) -> list[tuple[Slo, str]]:
    """Every (SLO, route group) pair, in spec order."""
    return [(slo, group) for slo in spec.slos for group in slo.objectives]


def recording_groups(spec: SlosSpec) -> list[dict[str, Any]]:
    """The SLI recording rules: every burn window, then the SLO window and the objectives."""
    burn_windows = [
        {"record": RECORD.format(window=window), "expr": sli_error(spec, slo, group, window),
         "labels": labels(slo, group)}
        for window in spec.windows() for slo, group in objectives(spec)
    ]
    shortest = spec.windows()[0]
    slo_window = [
        {"record": RECORD.format(window=spec.window),
         "expr": f"avg_over_time({RECORD.format(window=shortest)}{match(slo, group)}[{spec.window}])",
         "labels": labels(slo, group)}
        for slo, group in objectives(spec)
    ] + [
        {"record": OBJECTIVE_RECORD, "expr": f"vector({number(slo.objectives[group].objective)})",
         "labels": labels(slo, group)}
        for slo, group in objectives(spec)
    ]
    return [
        {"name": "slo-sli", "interval": INTERVAL, "rules": burn_windows},
        {"name": "slo-window", "interval": SLOW_INTERVAL, "rules": slo_window},
    ]


def burn_condition(slo: Slo, group: str, rate: BurnRate) -> str:
    """Both windows of one burn rate above `burn x budget`."""
    threshold = f"({number(rate.burn)} * {number(budget(slo.objectives[group].objective))})"
    return (f"{RECORD.format(window=rate.long)}{match(slo, group)} > {threshold}\n"
            f"  and {RECORD.format(window=rate.short)}{match(slo, group)} > {threshold}")


def _windows_text(rates: list[BurnRate]) -> str:
    """"14.4x over 1h and 5m, or 6x over 6h and 30m"."""
    return ", or ".join(f"{number(r.burn)}x over {r.long} and {r.short}" for r in rates)


def _exhausted_in(window: str, burn: float) -> str:
    """How long the whole budget lasts at `burn` (30d / 14.4 = 2.1 days)."""
    hours = seconds(window) / burn / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


def alert_rules(spec: SlosSpec, dashboard_url: dict[tuple[str, str], str],
                runbook_url: dict[str, str]) -> list[dict[str, Any]]:
    """One alert per objective and severity (page: critical, ticket: warning), named by the SLO's alert.

    `dashboard_url` maps (slo, route group) to its burn-rate panel; `runbook_url` maps alert names.
    """
    rules = []
    for slo, group in objectives(spec):
        objective = slo.objectives[group].objective
        for severity in ("critical", "warning"):
            rates = [rate for rate in spec.burn_rates if rate.severity == severity]
            if not rates:
                continue
            kind = "page" if severity == "critical" else "ticket"
            fastest = max(rate.burn for rate in rates)
            rules.append({
                "alert": slo.alert,
                "expr": "\nor\n".join(f"(\n  {burn_condition(slo, group, rate)}\n)" for rate in rates),
                "for": max(rates, key=lambda r: seconds(r.for_)).for_,
                # slo and route_group come with the series too; static, they tell the rules apart.
                "labels": {"severity": severity, "team": slo.team, "service": slo.service, **labels(slo, group)},
                "annotations": {
                    "title": slo.title,
                    "summary": f"{slo.name} of {group}: the error budget burns too fast ({kind})",
                    "description": (
                        f"{slo.description} Objective: {number(objective * 100)}% over {spec.window}. "
                        f"The {group} error budget burns at {_windows_text(rates)}: at {number(fastest)}x it "
                        f"is gone in {_exhausted_in(spec.window, fastest)}."),
                    "runbook_url": runbook_url[slo.alert],
                    "dashboard_url": dashboard_url[(slo.name, group)],
                },
            })
    return rules


def panel_title(slo: Slo, group: str) -> str:
    """The SLO dashboard's burn-rate panel of one objective (the alert's dashboard_url)."""
    return f"{slo.name} {group}: burn rate"
