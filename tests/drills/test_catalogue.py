"""drills/catalogue.json: valid (pydantic, unknown keys refused), true to the rules it names, and complete:
every alert rule is drilled by a scenario or listed in `not_drilled` with why and what proves it instead."""

import json
import re
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drills.runner import ACTIONS, CATALOGUE, CatalogueError, load_catalogue, markdown
from tests.support.compose import services

ROOT = Path(__file__).resolve().parents[2]
# Rule groups are evaluated every 30 s (prometheus/alerts.yaml): a deadline must leave the rule its
# `for`, one evaluation to notice and one scrape to see the fault.
EVALUATION_S = 30
SCRAPE_S = 15


def rules() -> dict[str, dict[str, Any]]:
    """Every alerting rule Prometheus loads (prometheus/rules/*.yml), by alertname; the shortest `for` of a name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                seconds = sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", rule.get("for", "0s")))
                known = found.get(rule["alert"])
                if known is None or seconds < known["for_s"]:
                    found[rule["alert"]] = {"for_s": seconds, "team": rule["labels"]["team"],
                                            "title": rule["annotations"]["title"]}
    return found


RULES = rules()
AlertName = Literal[tuple(RULES)]  # type: ignore[valid-type]
Service = Literal[tuple(services())]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fault(Strict):
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    service: Service
    sql: str | None = None
    undo: str | None = None
    setting: str | None = None
    value: str | None = None
    username: str | None = None
    count: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> "Fault":
        if self.action == "failed-sign-ins":
            assert self.username and self.count, "a failed-sign-ins fault needs username and count"
        if self.action == "sql":
            assert self.sql and self.undo, "an sql fault needs sql and its undo"
        if self.action == "setting":
            assert self.setting and self.value is not None, "a setting fault needs setting and value"
        return self


class Fire(Strict):
    alert: AlertName
    within_s: float = Field(gt=0)
    labels: dict[str, str] = {}
    seen_in: Literal["alertmanager", "prometheus"] = "alertmanager"
    outlasts_drill: str | None = None  # why its resolution is not waited for

    @model_validator(mode="after")
    def _possible(self) -> "Fire":
        least = RULES[self.alert]["for_s"] + EVALUATION_S + SCRAPE_S
        assert self.within_s >= least, f"{self.alert} cannot fire within {self.within_s} s (its for + an evaluation + a scrape: {least} s)"
        return self


class MailExpectation(Strict):
    alert: AlertName
    team: Literal["operations", "developers"]
    subject: str
    once: bool = False

    @model_validator(mode="after")
    def _true_to_the_rule(self) -> "MailExpectation":
        rule = RULES[self.alert]
        assert self.team == rule["team"], f"{self.alert} goes to {rule['team']}, not {self.team}"
        assert self.subject == rule["title"], f"{self.alert}'s mail subject says {rule['title']!r}"
        return self


class PageCheck(Strict):
    path: str = Field(pattern=r"^/")
    status: list[int]
    reason: str | None = None


class Load(Strict):
    paths: list[str]
    workers: int = Field(gt=0, le=16)


class ScenarioModel(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]+$")
    proves: str
    fault: Fault
    disturbs: list[str] = Field(min_length=1)
    fire: list[Fire] = Field(min_length=1)
    silent: list[AlertName]
    mail: list[MailExpectation]
    resolve_within_s: float = Field(gt=0)
    page: list[PageCheck] = []
    load: Load | None = None
    exclusive: bool = False
    keeps_silences: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "ScenarioModel":
        fired = {f.alert for f in self.fire}
        assert not fired & set(self.silent), f"{self.name}: an alert cannot both fire and stay silent"
        assert {m.alert for m in self.mail} <= fired, f"{self.name}: a mail about an alert not expected to fire"
        return self


class NotDrilled(Strict):
    alert: AlertName
    why: str
    proved_by: str


class Elsewhere(Strict):
    name: str
    proves: str
    proved_by: str


class CatalogueModel(Strict):
    about: str
    scenarios: list[ScenarioModel]
    not_drilled: list[NotDrilled]
    elsewhere: list[Elsewhere]


@pytest.fixture(scope="module")
def catalogue() -> CatalogueModel:
    return CatalogueModel.model_validate_json(CATALOGUE.read_text())


def test_every_alert_rule_is_drilled_or_listed_with_why(catalogue: CatalogueModel) -> None:
    drilled = {f.alert for s in catalogue.scenarios for f in s.fire}
    listed = [n.alert for n in catalogue.not_drilled]
    assert len(listed) == len(set(listed))
    assert not drilled & set(listed), "drilled, yet listed as not drilled"
    assert drilled | set(listed) == set(RULES)


def test_the_issue_s_scenarios_are_there(catalogue: CatalogueModel) -> None:
    faults = {(s.fault.action, s.fault.service) for s in catalogue.scenarios}
    for wanted in [("kill-one", "api"), ("kill", "api"), ("pause", "api"), ("stop", "postgres"), ("pause", "postgres"),
                   ("stop", "apache"), ("setting", "apache"), ("sql", "postgres"), ("stop", "k6"),
                   ("stop", "alertmanager"), ("stop", "pushgateway"), ("stop", "postgres-exporter"),
                   ("failed-sign-ins", "api")]:
        assert wanted in faults


def test_what_proves_the_rest_exists(catalogue: CatalogueModel) -> None:
    for entry in [*catalogue.not_drilled, *catalogue.elsewhere]:
        path = entry.proved_by.split()[0].rstrip(";")
        assert (ROOT / path).is_file(), entry


def test_the_settings_a_drill_changes_are_settings_of_the_product(catalogue: CatalogueModel) -> None:
    example = (ROOT / ".example.env").read_text()
    for scenario in catalogue.scenarios:
        if scenario.fault.setting:
            assert re.search(rf"^{scenario.fault.setting}=", example, re.M), scenario.name


def test_the_runner_reads_the_same_catalogue(catalogue: CatalogueModel) -> None:
    loaded = load_catalogue()
    assert [s.name for s in loaded.scenarios] == [s.name for s in catalogue.scenarios]
    assert loaded.named(["api-down"])[0].fire[0]["alert"] == "ApiDown"
    with pytest.raises(KeyError, match="no such drill: nonsense"):
        loaded.named(["nonsense"])
    # A drill run by other means is named, with how to run it, not called unknown.
    with pytest.raises(KeyError, match="backup-restore is not run by ./run.sh drill: tests/stack/test_restore_drill.py"):
        loaded.named(["api-down", "backup-restore"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(fault={"action": "explode", "service": "api"}), "fault action must be one of"),
    (lambda s: s.update(surprise=1), "unknown keys"),
    (lambda s: s.pop("fire"), "`fire` is missing"),
    (lambda s: s["fire"].append({"alert": "ApiDown"}), "needs `alert` and `within_s`"),
    (lambda s: s.update(fault={"action": "failed-sign-ins", "service": "api", "count": 25}), "needs `username` and `count`"),
])
def test_the_runner_refuses_a_broken_catalogue_naming_the_scenario(tmp_path: Path, change: Any, message: str) -> None:
    data = json.loads(CATALOGUE.read_text())
    change(data["scenarios"][1])
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogueError, match=f"scenario '{data['scenarios'][1]['name']}'.*{message}"):
        load_catalogue(path)


def test_the_readme_s_table_is_the_catalogue_s() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- generated: drills \(python3 -m drills --markdown\) -->\n(.*?)\n<!-- end: drills -->", readme, re.S)
    assert block, "README.md lost its drills table markers"
    assert block.group(1) == markdown(load_catalogue()), "README.md's drills table is stale: python3 -m drills --markdown"


def test_the_readme_lists_every_alert_no_drill_fires(catalogue: CatalogueModel) -> None:
    section = (ROOT / "README.md").read_text().split("## Drills", 1)[1].split("\n## ", 1)[0]
    for entry in catalogue.not_drilled:
        assert f"`{entry.alert}`" in section
