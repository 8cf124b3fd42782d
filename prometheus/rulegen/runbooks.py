"""Runbooks, one Markdown page per alert, from the runbook fields of the specs.

Each says what the alert means, who is affected, the dashboard panel to open, the first commands to run,
how to silence it and how to see it is over. They are written to prometheus/runbooks/<Alert>.md and
shown in Grafana's runbooks dashboard, where each alert's `runbook_url` points.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from .spec import Runbook

# Where people open things by default (the ports ./run.sh prints; .env may change the host).
GRAFANA = "http://localhost:3000"
ALERTMANAGER = "http://localhost:9093"


@dataclass(frozen=True)
class Page:
    """Everything one runbook says."""

    alert: str
    title: str
    meaning: str
    severity: str
    team: str
    service: str
    pending: str
    expr: str
    panels: list[tuple[str, str]]   # (what, /d/... path)
    runbook: Runbook


def plain(template: str) -> str:
    """An annotation's text with Prometheus templating turned into placeholders: `<instance>`."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"<\1>", template)
    return re.sub(r"\{\{\s*\$value[^}]*\}\}", "<value>", text)


def silence_url(alert: str) -> str:
    """Alertmanager's new-silence form, prefilled with the alert's name."""
    matcher = quote('{alertname="' + alert + '"}', safe="")
    return f"{ALERTMANAGER}/#/silences/new?filter={matcher}"


def render(page: Page) -> str:
    """The runbook's Markdown."""
    panels = "\n".join(f"- [{what}]({GRAFANA}{path})" for what, path in page.panels)
    steps = "\n".join(f"{number}. `{check.command}`: {check.why}"
                      for number, check in enumerate(page.runbook.check, start=1))
    if page.alert == "Watchdog":
        silence = "Never: the Watchdog is the heartbeat. Silencing it makes the dead-man's switch page everyone."
    else:
        silence = (
            f"Only once someone owns the problem, for as long as the fix takes. In Alertmanager: "
            f"[{ALERTMANAGER}/#/silences/new]({silence_url(page.alert)}) (the mail's *Silence* link "
            f"fills it in), or from the repository:\n\n"
            f"```sh\ndocker compose exec alertmanager amtool --alertmanager.url=http://localhost:9093 \\\n"
            f"    silence add alertname={page.alert} --duration=2h --comment='who is on it, and why'\n```")
    return f"""# {page.alert}: {page.title}

| severity | team | service | for |
|---|---|---|---|
| {page.severity} | {page.team} | {page.service} | {page.pending} |

```promql
{page.expr.strip()}
```

## What it means

{page.meaning}

## Who is affected

{page.runbook.affects}

## Dashboard

{panels}

## First steps

From the repository's directory (where `./run.sh` and `docker-compose.yaml` are):

{steps}

## Silence it

{silence}

## Is it over?

{page.runbook.over}
"""
