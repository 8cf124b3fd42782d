"""Grafana panel links: a [dashboard, title] reference resolved to `/d/<uid>?viewPanel=<id>`.

Panels are named by title in the specs (ids move when a panel is added above); the id is read from the
committed dashboard JSON (grafana/dashboards/*.json, itself checked for staleness by
tests/grafana/test_dashboards_generated.py). A title that does not exist, or exists twice, is an error.
Grafana's scenes dashboards (11 and later) still open `viewPanel=<id>`: findVizPanelByKey falls back to
the numeric panel id (grafana/grafana, public/app/features/dashboard-scene/utils/utils.ts).
"""

import json
from pathlib import Path
from typing import Any

from .spec import ROOT, PanelRef

DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"
RUNBOOKS_DASHBOARD = "runbooks"


class PanelNotFound(LookupError):
    """The spec names a dashboard or panel that the dashboards do not have."""


def _dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in model.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_path(ref: PanelRef, directory: Path = DASHBOARDS_DIR) -> str:
    """The panel's path under Grafana's URL, e.g. /d/promethoide-api?viewPanel=2; raises PanelNotFound."""
    path = directory / f"{ref.dashboard}.json"
    if not path.is_file():
        raise PanelNotFound(f"no dashboard {ref.dashboard!r} ({path})")
    model = _dashboard(path)
    ids = [panel["id"] for panel in _panels(model) if panel.get("title") == ref.title and panel.get("type") != "row"]
    if len(ids) != 1:
        raise PanelNotFound(f"dashboard {ref.dashboard!r} has {len(ids)} panels titled {ref.title!r}, not one")
    return f"/d/{model['uid']}?viewPanel={ids[0]}"


# A dashboard with a `site` variable (the Host dashboard) opens on the alert's site: Prometheus expands
# the annotation's template per alert; an alert without the label opens every site ($__all, Grafana's
# "All"). Only in the alert's annotation: the README and runbooks link the panel itself.
SITE_OF_THE_ALERT = "&var-site={{ with $labels.site }}{{ . | urlquery }}{{ else }}$__all{{ end }}"


def alert_panel_path(ref: PanelRef, directory: Path = DASHBOARDS_DIR) -> str:
    """panel_path, plus the alert's own site when the dashboard has a `site` variable."""
    model = _dashboard(directory / f"{ref.dashboard}.json") if (directory / f"{ref.dashboard}.json").is_file() else {}
    variables = {v.get("name") for v in (model.get("templating") or {}).get("list", [])}
    return panel_path(ref, directory) + (SITE_OF_THE_ALERT if "site" in variables else "")


def runbook_path(alert: str, directory: Path = DASHBOARDS_DIR) -> str:
    """The runbook's panel on the runbooks dashboard (one text panel per alert, titled by its name)."""
    return panel_path(PanelRef(dashboard=RUNBOOKS_DASHBOARD, title=alert), directory)
