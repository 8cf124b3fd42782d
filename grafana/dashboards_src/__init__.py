"""Promethoide's Grafana dashboards as code (grafana-foundation-sdk): build, render, write.

`python -m grafana.dashboards_src` writes grafana/dashboards/*.json, which compose mounts where the
dashboard provider (provisioning/dashboards/dashboards.yaml) reads them.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from . import api, apache, host, overview, postgres, probes, runbooks, slo, smoke
from .common import to_json

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "dashboards"

# File name (without .json) -> builder. The names are what the README and the alert rules refer to.
BUILDERS: dict[str, Callable[[], Dashboard]] = {
    "overview": overview.build,
    "api": api.build,
    "postgres": postgres.build,
    "host": host.build,
    "apache": apache.build,
    "probes": probes.build,
    "smoke": smoke.build,
    # After slo: the runbooks link to its panels, read from the JSON written just before.
    "slo": slo.build,
    "runbooks": runbooks.build,
}


def render(name: str) -> str:
    """One dashboard's JSON text: sorted keys and a final newline, so that regenerating is byte-stable."""
    model: dict[str, Any] = to_json(BUILDERS[name]())
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path = OUTPUT_DIR) -> list[Path]:
    """Write every dashboard into `directory` and delete stale .json files there; return what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BUILDERS:
        path = directory / f"{name}.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written
