"""Every drill of drills/catalogue.json, on native twins with the real Prometheus, Alertmanager and SMTP sink.

The catalogue is split over TWINS twins, each in its own network namespace (tests/drills/twin_worker.py),
so drills that would disturb each other in one stack run at the same time in different ones; inside a
twin, drills that disturb nothing in common run at the same time too (drills.runner.waves). The table
of every drill (fired, mailed, resolved after, verdict) goes to tests/artifacts/drills.txt.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from drills.runner import Report, Scenario, load_catalogue, table, waves

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TWINS = int(os.environ.get("DRILL_TWINS", "5"))


def lane_time(lane: list[Scenario]) -> float:
    """How long a twin takes for these drills: its rounds one after the other, each as long as its slowest."""
    return sum(max(s.expected_s for s in group) for group in waves(lane))


def plan(scenarios: list[Scenario], twins: int) -> list[list[Scenario]]:
    """Longest first, each drill to the twin it lengthens least (exclusive drills share a twin when they must)."""
    lanes: list[list[Scenario]] = [[] for _ in range(twins)]
    for scenario in sorted(scenarios, key=lambda s: -s.expected_s):
        best = min(lanes, key=lambda lane: lane_time(lane + [scenario]))
        best.append(scenario)
    return [lane for lane in lanes if lane]


def test_the_plan_keeps_every_drill_once_and_conflicting_drills_apart() -> None:
    scenarios = load_catalogue().scenarios
    lanes = plan(scenarios, TWINS)
    assert sorted(s.name for lane in lanes for s in lane) == sorted(s.name for s in scenarios)
    for lane in lanes:
        groups = waves(lane)
        for group in groups:
            assert not any(a.conflicts_with(b) for a in group for b in group if a is not b)
        # What outlasts a drill must meet no later drill: those drills only in the last rounds, alone.
        kinds = [{s.outlasts for s in group} for group in groups]
        assert all(len(kind) == 1 for kind in kinds)
        assert [kind.pop() for kind in kinds] == sorted(s.outlasts for s in [g[0] for g in groups])


@pytest.mark.timeout(2400)
def test_every_drill_passes_on_the_twin(tmp_path: Path) -> None:
    lanes = plan(load_catalogue().scenarios, TWINS)
    started = time.monotonic()
    workers = []
    for index, lane in enumerate(lanes):
        report = tmp_path / f"lane-{index}.json"
        ARTIFACTS.mkdir(exist_ok=True)
        log = (ARTIFACTS / f"drills-twin-{index}.log").open("wb")
        argv = ["unshare", "--net", "--mount", "--propagation", "private", "--",
                sys.executable, "-m", "tests.drills.twin_worker", "--report", str(report), *[s.name for s in lane]]
        workers.append((report, log, subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
    try:
        for _, _, process in workers:
            process.wait(timeout=2300)
    finally:
        for _, log, process in workers:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)
            log.close()
    wall_s = time.monotonic() - started
    reports: list[Report] = []
    lines = []
    mails: list[tuple[dict[str, Any], dict[str, str]]] = []
    for index, (path, _, process) in enumerate(workers):
        assert process.returncode == 0 and path.exists(), (ARTIFACTS / f"drills-twin-{index}.log").read_text()[-4000:]
        data = json.loads(path.read_text())
        mails += [(mail, data["env"]) for mail in data["mails"]]
        lines.append(f"twin {index}: booted and settled in {data['boot_s']} s, drills took {data['drills_s']} s: "
                     + ", ".join(r["scenario"] for r in data["reports"]))
        for r in data["reports"]:
            report = Report(r["scenario"], r["fired_after_s"], r["mailed_after_s"], r["resolved_after_s"], r["failures"])
            report.interrupted = r["verdict"] == "INTERRUPTED"
            reports.append(report)
    summary = table(reports) + "\n\n" + "\n".join(lines) + f"\nwall time: {wall_s:.0f} s on {len(workers)} twins\n"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "drills.txt").write_text(summary)
    print(summary)
    assert [r.scenario for r in reports if r.verdict != "PASS"] == [], summary
    check_mails(mails)


def opens(link: str, dashboard_url: str) -> bool:
    """Whether a mailed link is the rule's dashboard_url; a templated part (the Host dashboard's
    `var-site={{ ... $labels.site ... }}`) is whatever Prometheus expanded it to, up to the next `&`."""
    if "{{" not in dashboard_url:
        return link == dashboard_url
    fixed = dashboard_url.split("{{")[0]
    return link.startswith(fixed) and "&" not in link[len(fixed):] and "{" not in link


def check_mails(mails: list[tuple[dict[str, Any], dict[str, str]]]) -> None:
    """Every mail a drill caused comes from SMTP_FROM and links, under Grafana's external URL, the
    runbook of its alert and a panel its rule names (the rules' dashboard_url and runbook_url)."""
    rules = [rule for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
             for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]
    checked = set()
    for mail, env in mails:
        mine = [r for r in rules if f"] {r['annotations']['title']} (" in mail["subject"]]
        if not mine or mine[0]["alert"] == "GrafanaDown":  # GrafanaDown: the twin has no Grafana, see tests/stack
            continue
        grafana = env["GRAFANA_EXTERNAL_URL"].rstrip("/")
        assert mail["sender"] == env["SMTP_FROM"].lower(), mail
        assert grafana + mine[0]["annotations"]["runbook_url"] in mail["links"], mail
        assert any(opens(link, grafana + r["annotations"]["dashboard_url"]) for r in mine for link in mail["links"]), mail
        checked.add(mine[0]["alert"])
    drilled_with_mail = {m["alert"] for s in load_catalogue().scenarios for m in s.mail}
    assert drilled_with_mail <= checked
