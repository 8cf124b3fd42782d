"""Runbooks dashboard: one text panel per alert, the runbook of prometheus/runbooks/<Alert>.md.

Every alert's `runbook_url` opens its panel here (`/d/promethoide-runbooks?viewPanel=<id>`): Grafana is
what operators already open from an alert mail, and the same page is in the repository for when
Grafana itself is down (the mail names both).
"""

from grafana_foundation_sdk.builders import dashboard

from prometheus.rulegen import pages
from prometheus.rulegen.runbooks import GRAFANA, render

from .common import new_dashboard, text_panel


def _relative_links(markdown: str) -> str:
    """Links into Grafana made relative: they then follow whatever URL Grafana is opened at."""
    return markdown.replace(f"]({GRAFANA}/", "](/")


def build() -> dashboard.Dashboard:
    """The runbooks dashboard."""
    board = new_dashboard(
        "runbooks", "Promethoide / Runbooks",
        "What each alert means, who is affected, what to run first, how to silence it and how to see it is "
        "over. Generated from prometheus/alerts.yaml and slos.yaml (python -m prometheus.rulegen).",
    )
    for page in pages():
        board = board.with_panel(text_panel(page.alert, _relative_links(render(page)), height=22))
    return board
