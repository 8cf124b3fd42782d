"""`promtool test rules` cases generated from prometheus/slos.yaml for the burn-rate alerts of
prometheus/rules/slo.yml: for every objective, a steady burn just above the fastest page rate pages within
minutes, a 1x burn never pages, a short spike does not page, a real outage pages and its recovery
resolves, and a steady 3x burn opens a ticket without paging.

Traffic is synthesised per SLI kind from the spec (the base series, the route group's matchers, the
latency threshold), one sample a minute; the expected timings follow from the objective and the burn
rates, so changing slos.yaml changes the cases with it.
"""

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.app.metrics import LATENCY_BUCKETS
from prometheus.rulegen import slo as slo_rules
from prometheus.rulegen.spec import Slo, load_slos, seconds
from tests.support.compose import ROOT

PROMTOOL = "/usr/bin/promtool"
RULES = ROOT / "prometheus" / "rules" / "slo.yml"
SPEC = load_slos()
REQUESTS_PER_MINUTE = 1000
TICKET = "Ticket"   # the warning alerts are renamed <Alert>Ticket in the copy under test: pages apart
HEALTHY_HISTORY = 6 * 60  # minutes of good traffic before a spike or an outage: the 6h window full


@dataclass(frozen=True)
class Objective:
    """One objective of the spec, and the burn thresholds that matter for it."""

    slo: Slo
    group: str

    @property
    def budget(self) -> float:
        return slo_rules.budget(self.slo.objectives[self.group].objective)

    def page_rates(self) -> list[Any]:
        return [rate for rate in SPEC.burn_rates if rate.severity == "critical"]

    def minutes_to_page(self) -> float:
        """A full outage after a long healthy history crosses the fastest page condition after this long."""
        return min(rate.burn * self.budget * seconds(rate.long) / 60 for rate in self.page_rates())

    def labels(self) -> dict[str, str]:
        return {"severity": "critical", "team": self.slo.team, "service": self.slo.service,
                **slo_rules.labels(self.slo, self.group)}

    def __str__(self) -> str:
        return f"{self.slo.name}/{self.group}"


OBJECTIVES = [Objective(slo, group) for slo, group in slo_rules.objectives(SPEC)]


def matcher_labels(matchers: str) -> dict[str, str]:
    """The equality matchers of a route group (`method="POST", handler="/immigration"`) as labels."""
    found = {}
    for matcher in matchers.split(","):
        name, _, value = matcher.strip().partition("=")
        if value.startswith('"'):
            found[name] = value.strip('"')
    return found


def shares_per_minute(phases: list[tuple[int, float]]) -> list[float]:
    """Bad events in each minute: phases of (minutes, share of bad events)."""
    return [ratio for minutes, ratio in phases for _ in range(minutes)]


def runs(shares: list[float]) -> list[int]:
    """Synthetic runs, one a minute, 1 = passed, spreading failures evenly (error diffusion): any n
    consecutive runs of a phase with share r hold floor or ceil of n*r failures."""
    passed, debt = [], 0.0
    for share in shares:
        debt += share
        failed = debt >= 1 - 1e-9
        debt -= 1 if failed else 0
        passed.append(0 if failed else 1)
    return passed


def cumulative(per_minute: list[float]) -> str:
    """A counter's samples (from 0) for promtool."""
    total, values = 0.0, ["0"]
    for amount in per_minute:
        total += amount
        values.append(f"{total:g}")
    return " ".join(values)


def series(objective: Objective, phases: list[tuple[int, float]]) -> dict[str, str]:
    """Input series making `objective`'s SLI bad at each phase's share, plus noise the SLI must ignore."""
    shares = shares_per_minute(phases)
    if objective.slo.sli == "synthetic":
        selector = SPEC.synthetic.success
        return {selector: " ".join(map(str, [1, *runs(shares)]))}
    api = SPEC.api
    route = {"job": api.job, "handler": "/dni/{dni}", **matcher_labels(SPEC.route_groups[objective.group])}
    route_labels = ", ".join(f'{k}="{v}"' for k, v in route.items())
    # Excluded from every SLI (`not_traffic`), they must change nothing: a failing health check, and a
    # scanner's burst of fast 404s on paths that match no route (handler "none"), a hundred times the
    # traffic, which would dilute every ratio below its alert threshold if it were counted.
    noise = f'{api.requests}{{job="{api.job}", handler="/readyz", method="GET", status="5xx"}}'
    scan = {"job": api.job, "handler": "none", "method": "GET", "status": "4xx"}
    scan_labels = ", ".join(f'{k}="{v}"' for k, v in scan.items())
    found = {noise: cumulative([100.0] * len(shares)),
             f"{api.requests}{{{scan_labels}}}": cumulative([100.0 * REQUESTS_PER_MINUTE] * len(shares))}
    if objective.slo.sli == "latency":
        for le in [*LATENCY_BUCKETS, math.inf]:
            label = "+Inf" if le == math.inf else slo_rules.le(le)
            found[f'{api.latency_buckets}{{{scan_labels}, le="{label}"}}'] = cumulative(
                [100.0 * REQUESTS_PER_MINUTE] * len(shares))
    if objective.slo.sli == "availability":
        found[f'{api.requests}{{{route_labels}, status="2xx"}}'] = cumulative(
            [REQUESTS_PER_MINUTE * (1 - s) for s in shares])
        found[f'{api.requests}{{{route_labels}, status="5xx"}}'] = cumulative(
            [REQUESTS_PER_MINUTE * s for s in shares])
        return found
    threshold = objective.slo.objectives[objective.group].faster_than
    assert threshold is not None
    slow = min(b for b in LATENCY_BUCKETS if b > threshold)   # just too slow
    fast = LATENCY_BUCKETS[0]
    for le in [*LATENCY_BUCKETS, math.inf]:
        label = "+Inf" if le == math.inf else slo_rules.le(le)
        found[f'{api.latency_buckets}{{{route_labels}, le="{label}"}}'] = cumulative(
            [REQUESTS_PER_MINUTE * ((1 - s) * (fast <= le) + s * (slow <= le)) for s in shares])
    found[f"{api.latency_count}{{{route_labels}}}"] = cumulative([REQUESTS_PER_MINUTE] * len(shares))
    return found


def at(minute: float) -> str:
    """An evaluation time half a minute after a sample: windows then hold whole minutes of runs."""
    return f"{int(minute * 60) + 30}s"


def alerts_test(objective: Objective, phases: list[tuple[int, float]],
                expect: list[tuple[float, bool, bool | None]]) -> dict[str, Any]:
    """A promtool test: at each (minute, pages, tickets) the page and the ticket fire or not (None: the
    ticket is not checked; a long outage may rightly open one too)."""
    checks = []
    for minute, pages, tickets in expect:
        for name, fires, severity in ((objective.slo.alert, pages, "critical"),
                                      (objective.slo.alert + TICKET, tickets, "warning")):
            if fires is None:
                continue
            checks.append({"eval_time": at(minute), "alertname": name,
                           "exp_alerts": [{"exp_labels": {**objective.labels(), "severity": severity}}] if fires
                           else []})
    return {"interval": "1m", "input_series": [{"series": s, "values": v}
                                               for s, v in series(objective, phases).items()],
            "alert_rule_test": checks}


def rules_under_test(directory: Path) -> Path:
    """slo.yml with the warning alerts renamed <Alert>Ticket and annotations dropped (the cases are about
    expressions; `promtool check rules` parses the annotations' templates)."""
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
            if rule.get("labels", {}).get("severity") == "warning" and "alert" in rule:
                rule["alert"] += TICKET
    path = directory / "slo-under-test.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def promtool(directory: Path, name: str, test: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    unit = {"rule_files": [str(rules_under_test(directory))], "evaluation_interval": "30s",
            "tests": [{"name": name, **test}]}
    (directory / "test.yaml").write_text(yaml.safe_dump(unit))
    return subprocess.run([PROMTOOL, "test", "rules", str(directory / "test.yaml")], capture_output=True,
                          text=True, timeout=600)


def fastest_page_share(objective: Objective) -> float:
    """Just above the fastest page burn (x1.1); synthetic runs rounded up to a whole run in five."""
    share = min(1.0, max(r.burn for r in objective.page_rates()) * objective.budget * 1.1)
    return math.ceil(share * 5) / 5 if objective.slo.sli == "synthetic" else share


def case_steady_fast_burn(o: Objective) -> dict[str, Any]:
    return alerts_test(o, [(30, fastest_page_share(o))], [(10, True, False)])


def case_steady_1x_burn(o: Objective) -> dict[str, Any]:
    minutes = HEALTHY_HISTORY + 60
    return alerts_test(o, [(minutes, o.budget)], [(m, False, None) for m in (15, 60, 120, 360, minutes - 1)])


def case_short_spike(o: Objective) -> dict[str, Any]:
    spike = max(1, int(o.minutes_to_page() / 2))
    end = HEALTHY_HISTORY + spike
    return alerts_test(o, [(HEALTHY_HISTORY, 0.0), (spike, 1.0), (90, 0.0)],
                       [(end - 1, False, None), (end + 5, False, None), (end + 30, False, None),
                        (end + 85, False, None)])


def case_outage_and_recovery(o: Objective) -> dict[str, Any]:
    outage = math.ceil(o.minutes_to_page() * 1.25) + seconds(o.page_rates()[0].for_) // 60 + 2
    end = HEALTHY_HISTORY + outage
    short = min(seconds(r.short) for r in o.page_rates()) // 60
    return alerts_test(o, [(HEALTHY_HISTORY, 0.0), (outage, 1.0), (60, 0.0)],
                       [(HEALTHY_HISTORY - 1, False, False), (end - 1, True, None), (end + 2 * short, False, None)])


def case_steady_3x_burn(o: Objective) -> dict[str, Any]:
    slowest_ticket = min(r.burn for r in SPEC.burn_rates if r.severity == "warning" and r.burn > 1)
    share = slowest_ticket * o.budget * 1.1
    share = math.ceil(share * 20) / 20 if o.slo.sli == "synthetic" else share
    pending = max(seconds(r.for_) for r in SPEC.burn_rates if r.severity == "warning") // 60
    return alerts_test(o, [(pending + 90, share)], [(pending + 60, False, True)])


CASES = {
    "a steady burn just above the fastest page rate pages within minutes": case_steady_fast_burn,
    "a steady 1x burn never pages": case_steady_1x_burn,
    "a short spike does not page": case_short_spike,
    "an outage pages, and its recovery resolves": case_outage_and_recovery,
    "a steady 3x burn opens a ticket and does not page": case_steady_3x_burn,
}
PARAMS = [(objective, name) for objective in OBJECTIVES for name in CASES]


@pytest.mark.parametrize(("objective", "case"), PARAMS, ids=[f"{o}: {name}" for o, name in PARAMS])
def test_burn_rate_alert(tmp_path: Path, objective: Objective, case: str) -> None:
    result = promtool(tmp_path, f"{objective}: {case}", CASES[case](objective))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_objective_is_covered() -> None:
    assert {(o.slo.name, o.group) for o in OBJECTIVES} == {
        (slo.name, group) for slo in SPEC.slos for group in slo.objectives}
    assert len(OBJECTIVES) >= 5


def test_latency_thresholds_are_bucket_boundaries() -> None:
    for slo in SPEC.slos:
        for group, objective in slo.objectives.items():
            if objective.faster_than is not None:
                assert objective.faster_than in LATENCY_BUCKETS, f"{slo.name}/{group}: not a bucket boundary"


def test_the_harness_notices_an_alert_that_never_pages(tmp_path: Path) -> None:
    objective = OBJECTIVES[0]
    test = case_steady_fast_burn(objective)
    # Expect silence where the case expects a page: promtool must fail.
    for check in test["alert_rule_test"]:
        check["exp_alerts"] = []
    assert promtool(tmp_path, "inverted", test).returncode != 0


def test_health_checks_do_not_count(tmp_path: Path) -> None:
    # Only the failing /readyz noise, no route traffic: no SLI at all, hence no alert.
    objective = next(o for o in OBJECTIVES if o.slo.sli == "availability")
    test = alerts_test(objective, [(30, 0.0)], [(20, False, False)])
    test["input_series"] = [s for s in test["input_series"] if "/readyz" in s["series"]]
    assert len(test["input_series"]) == 1
    result = promtool(tmp_path, "health checks only", test)
    assert result.returncode == 0, result.stdout + result.stderr


def test_spec_and_file_agree_on_windows() -> None:
    recorded = {rule["record"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
                if "record" in rule}
    assert {slo_rules.RECORD.format(window=w) for w in [*SPEC.windows(), SPEC.window]} <= recorded

