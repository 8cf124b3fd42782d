"""An inhibition only mutes a consequence while its cause already fires: every cause's `for` must be
shorter than that of each alert it inhibits, or the consequence can fire first and be mailed (the
pushgateway-stopped drill caught SmokeTestStale doing so while PushgatewayDown had the same 2m)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def seconds(duration: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", duration))


RULES = [rule for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
         for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]
INHIBITIONS = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())["inhibit_rules"]


def labels(rule: dict[str, Any]) -> dict[str, str]:
    return {"alertname": rule["alert"], **rule.get("labels", {})}


def selects(matchers: list[str], rule: dict[str, Any]) -> bool:
    """Whether the rule's alerts can match the matchers on alertname and severity (the labels a rule
    fixes; other matchers only narrow which of its series are meant)."""
    fixed = labels(rule)
    for matcher in matchers:
        name, op, value = re.fullmatch(r'(\w+)(=~|!=|=)"(.*)"', matcher).groups()  # type: ignore[union-attr]
        if name not in ("alertname", "severity"):
            continue
        if op == "=" and fixed.get(name) != value or op == "=~" and not re.fullmatch(value, fixed.get(name, "")):
            return False
    return True


PAIRS = sorted({(source["alert"], source["for"], target["alert"], target["for"])
                for inhibition in INHIBITIONS
                for source in RULES if selects(inhibition["source_matchers"], source)
                for target in RULES if selects(inhibition["target_matchers"], target)
                if all(labels(source).get(label) == labels(target).get(label)
                       for label in inhibition.get("equal", []) if label in ("alertname", "severity"))
                and source is not target})


def test_there_are_inhibitions_to_check() -> None:
    assert len(PAIRS) > 20


@pytest.mark.parametrize(("cause", "cause_for", "consequence", "consequence_for"), PAIRS)
def test_a_cause_fires_before_what_it_inhibits(cause: str, cause_for: str, consequence: str, consequence_for: str) -> None:
    assert seconds(cause_for) < seconds(consequence_for), f"{cause} ({cause_for}) must fire before {consequence} ({consequence_for})"
