"""The alert rules' conditions, read from prometheus/alerts.yaml and prometheus/slos.yaml.

A tile that mirrors an alert takes the rule's query and threshold from here, so that the tile and the
rule cannot disagree (issue 13, kind 3): change the threshold in alerts.yaml and both move.
"""

import re
from dataclasses import dataclass
from functools import cache

from prometheus.rulegen.spec import Alert, AlertsSpec, SlosSpec, load_alerts, load_slos

# `<query> <op> <number>`, optionally followed by `and|or|unless ...`: the shape of a threshold rule.
_CONDITION = re.compile(
    r"^(?P<query>.+?)\s*(?P<op><=|>=|<|>|==)\s*(?P<threshold>-?[0-9]+(?:\.[0-9]+)?)"
    r"(?:\s+(?P<rest>(?:and|or|unless)\b.*))?$",
    re.DOTALL,
)


@dataclass(frozen=True)
class Condition:
    """An alert's condition split: `query op threshold`, and what follows it (`and <filter>`...)."""

    alert: str
    query: str
    op: str
    threshold: float
    rest: str = ""

    @property
    def selected(self) -> str:
        """The query's series the rule looks at: the query, narrowed by an `and` filter if the rule has one."""
        rest = self.rest.split(" or ")[0].strip()
        return f"({self.query}) {rest}" if rest.startswith("and ") else self.query


@cache
def alerts_spec() -> AlertsSpec:
    """alerts.yaml, validated."""
    return load_alerts()


@cache
def slos_spec() -> SlosSpec:
    """slos.yaml, validated."""
    return load_slos()


def alert(name: str) -> Alert:
    """The alert called `name`; KeyError if alerts.yaml has none."""
    for group in alerts_spec().groups:
        for candidate in group.alerts:
            if candidate.alert == name:
                return candidate
    raise KeyError(f"no alert {name!r} in prometheus/alerts.yaml")


def parse(name: str, expr: str) -> Condition | None:
    """The condition of a threshold rule, or None if `expr` is not `<query> <op> <number> [and ...]`."""
    match = _CONDITION.match(" ".join(expr.split()))
    if match is None:
        return None
    return Condition(name, match["query"], match["op"], float(match["threshold"]), match["rest"] or "")


def condition(name: str) -> Condition:
    """The condition of the alert `name`; ValueError if it is not a threshold rule."""
    found = parse(name, alert(name).expr)
    if found is None:
        raise ValueError(f"{name}: not a `<query> <op> <number>` rule: {alert(name).expr}")
    return found
