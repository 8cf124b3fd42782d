"""The two specs, prometheus/alerts.yaml and prometheus/slos.yaml, read and checked.

Both are validated with pydantic (unknown keys refused): a typo is a clear error naming the field, not
a rule that silently loses a label.
"""

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "prometheus"
ALERTS_FILE = PROMETHEUS_DIR / "alerts.yaml"
SLOS_FILE = PROMETHEUS_DIR / "slos.yaml"

Severity = Literal["critical", "warning", "info"]
Team = Literal["operations", "developers", "heartbeat"]
# Prometheus's duration syntax, the subset the specs use (5m, 1h, 1d, 30d...).
Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(s|m|h|d|w)$")]
AlertName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]+$")]

DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> int:
    """Seconds in a Prometheus duration such as "5m" or "30d"."""
    match = re.fullmatch(r"([0-9]+)([smhdw])", duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


class Strict(BaseModel):
    """Every spec object: unknown keys are an error, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(Strict):
    """A first command to run, and why."""

    command: str
    why: str


class Runbook(Strict):
    """What the runbook says beyond the alert's own summary and description."""

    affects: str
    check: list[Check] = Field(min_length=1)
    over: str

    @field_validator("check", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        """The spec writes each check as a [command, why] pair."""
        if isinstance(value, list):
            return [{"command": item[0], "why": item[1]} if isinstance(item, list) and len(item) == 2 else item
                    for item in value]
        return value


class PanelRef(Strict):
    """A dashboard panel: the dashboard's file name (grafana/dashboards/<dashboard>.json) and its title."""

    dashboard: str
    title: str


def _panel(value: object) -> object:
    """The spec writes a panel as [dashboard, title]."""
    if isinstance(value, list) and len(value) == 2:
        return {"dashboard": value[0], "title": value[1]}
    return value


class Alert(Strict):
    """One threshold alert of alerts.yaml."""

    alert: AlertName
    title: str
    expr: str
    for_: Duration = Field(alias="for")
    severity: Severity
    team: Team
    service: str | None = None
    panel: PanelRef
    summary: str
    description: str
    runbook: Runbook

    _panel_pair = field_validator("panel", mode="before")(_panel)


class AlertGroup(Strict):
    """A rule group: alerts evaluated together."""

    name: str
    alerts: list[Alert] = Field(min_length=1)


class AlertsSpec(Strict):
    """alerts.yaml."""

    groups: list[AlertGroup] = Field(min_length=1)


class ApiSeries(Strict):
    """The API's request metrics, named once."""

    job: str
    requests: str
    server_errors: str
    latency_buckets: str
    latency_count: str
    not_traffic: str


class Synthetic(Strict):
    """The synthetic check's success gauge (1 = the run passed)."""

    success: str


class BurnRate(Strict):
    """One row of the workbook's table: burn `burn` over `long`, confirmed over `short`."""

    severity: Severity
    burn: float = Field(gt=0)
    long: Duration
    short: Duration
    for_: Duration = Field(alias="for")


class Objective(Strict):
    """The objective of one route group (a ratio in (0, 1)); latency SLIs also name their threshold."""

    objective: float = Field(gt=0, lt=1)
    faster_than: float | None = Field(default=None, gt=0)


class Slo(Strict):
    """One SLO: an SLI and an objective per route group, with the alert its burn raises."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]+$")]
    alert: AlertName
    title: str
    sli: Literal["availability", "latency", "synthetic"]
    team: Team
    service: str
    objectives: dict[str, Objective] = Field(min_length=1)
    description: str
    runbook: Runbook


class SlosSpec(Strict):
    """slos.yaml."""

    window: Duration
    api: ApiSeries
    route_groups: dict[str, str]
    synthetic: Synthetic
    burn_rates: list[BurnRate] = Field(min_length=1)
    slos: list[Slo] = Field(min_length=1)

    def check(self) -> "SlosSpec":
        """Cross-field rules pydantic cannot express field by field; raises ValueError."""
        for slo in self.slos:
            for group, objective in slo.objectives.items():
                if slo.sli != "synthetic" and group not in self.route_groups:
                    raise ValueError(f"{slo.name}: unknown route group {group!r}")
                if (slo.sli == "latency") != (objective.faster_than is not None):
                    raise ValueError(f"{slo.name}/{group}: faster_than is required for latency SLIs, and only there")
        for rate in self.burn_rates:
            if seconds(rate.short) * 12 != seconds(rate.long):
                raise ValueError(f"burn rate {rate.burn}: the short window must be 1/12 of the long one")
        return self

    def windows(self) -> list[str]:
        """Every window an SLI is recorded over, shortest first."""
        durations = {w for rate in self.burn_rates for w in (rate.long, rate.short)}
        return sorted(durations, key=seconds)


def load_alerts(path: Path = ALERTS_FILE) -> AlertsSpec:
    """alerts.yaml, validated; raises pydantic.ValidationError naming the bad field."""
    spec = AlertsSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    names = [alert.alert for group in spec.groups for alert in group.alerts]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"alerts declared twice: {sorted(duplicates)}")
    return spec


def load_slos(path: Path = SLOS_FILE) -> SlosSpec:
    """slos.yaml, validated; raises pydantic.ValidationError or ValueError naming the problem."""
    return SlosSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).check()
