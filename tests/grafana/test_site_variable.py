"""The dashboards' `site` variable (issue 14): where it is, that every query obeys it, and that the
dashboards without it cannot mix in a remote site's series.

Every series in the central Prometheus names its site: the centre's scrape jobs label their targets
`site: centre` (prometheus/prometheus.yml), remote sites' agents send theirs with `site: NAME`
(site/prometheus-agent.yml). Remote sites send only what their agent scrapes, so a dashboard gets the
variable exactly when it reads those jobs; the rest (API, PostgreSQL, Apache, probes, smoke tests,
SLOs: services that run only at the centre) would offer a choice that filters nothing.

Everything is generated from the dashboard JSON and the two Prometheus configurations: a new panel, a
new dashboard or a new job on the site is checked without touching this file.
"""

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.queries import (QueryError, Selector, all_panels, dashboards, selectors, variable_queries)

ROOT = Path(__file__).resolve().parents[2]
BOARDS = dashboards()
CENTRE_JOBS = {job["job_name"] for job in yaml.safe_load(
    (ROOT / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))["scrape_configs"]}
SITE_JOBS = {job["job_name"] for job in yaml.safe_load(
    (ROOT / "site" / "prometheus-agent.yml").read_text(encoding="utf-8"))["scrape_configs"]}
# Series this Prometheus makes itself, from the centre's series: recording rules (level:metric:ops,
# prometheus/rules) and its alerts.
OWN_SERIES = re.compile(r"[a-zA-Z_]\w*:[\w:]*|ALERTS|ALERTS_FOR_STATE")
SITE_FILTER = ("site", "=~", "$site")


def has_site_variable(model: dict[str, Any]) -> bool:
    return any(variable["name"] == "site" for variable in model.get("templating", {}).get("list", []))


def site_variable(model: dict[str, Any]) -> dict[str, Any]:
    (variable,) = [v for v in model["templating"]["list"] if v["name"] == "site"]
    return variable


def panels_with_their_row(model: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every panel with the row it sits under (None above the first row); collapsed rows hold theirs."""
    found: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    current = None
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            current = panel
            found += [(inner, panel) for inner in panel.get("panels", [])]
        else:
            found.append((panel, current))
    return found


def unfiltered(model: dict[str, Any]) -> list[str]:
    """On a dashboard with the variable: every selector, in panels and other variables, not filtered by it."""
    problems = []
    for panel in all_panels(model):
        for target in panel.get("targets", []):
            problems += [f"{panel['title']} {target['refId']}: {s.metric}{{...}} without site=~\"$site\""
                         for s in selectors(target.get("expr", "")) if SITE_FILTER not in s.matchers]
    for variable in model["templating"]["list"]:
        if variable.get("type") == "query" and variable["name"] != "site":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((?P<selector>.+), \w+\)", query)
            problems += [f"variable {variable['name']}: {s.metric} without site=~\"$site\""
                         for s in selectors(match["selector"] if match else query) if SITE_FILTER not in s.matchers]
    return problems


def mixed_sites(model: dict[str, Any]) -> list[str]:
    """On a dashboard with the variable: panels whose values could come from several sites unnamed.

    A panel under a row repeated over `site` sees one site per copy; any other panel must name the
    site of each series in its legend (and so keep the label, `by (site)`).
    """
    problems = []
    for panel, parent in panels_with_their_row(model):
        if (parent or {}).get("repeat") == "site" or panel.get("repeat") == "site":
            continue
        problems += [f"{panel['title']} {target['refId']}: legend {target.get('legendFormat')!r} names no site"
                     for target in panel.get("targets", []) if "{{site}}" not in (target.get("legendFormat") or "")]
    return problems


def reads_a_site(selector: Selector) -> bool:
    """Whether a remote site's series can match `selector`: it pins no job other than the site bundle's
    (a site sends only what its agent scrapes) and does not pin site="centre"."""
    if OWN_SERIES.fullmatch(selector.metric) or selector.matches("site", "=", "centre"):
        return False
    # A job matcher, equality or regex (fully anchored, as PromQL's), admits a site's series only if it
    # admits one of the site's jobs.
    admits = {"=": lambda value, job: value == job, "=~": lambda value, job: re.fullmatch(value, job) is not None}
    return all(any(admits[op](value, job) for job in SITE_JOBS)
               for label, op, value in selector.matchers if label == "job" and op in admits)


def reads_sites_without_the_variable(model: dict[str, Any]) -> list[str]:
    """On a dashboard without the variable: every selector that a remote site's series could match."""
    return [f"{panel['title']} {target['refId']}: {s}" for panel in all_panels(model)
            for target in panel.get("targets", []) for s in selectors(target.get("expr", "")) if reads_a_site(s)]


SITE_AWARE = sorted(uid for uid, model in BOARDS.items() if has_site_variable(model))
CENTRE_ONLY = sorted(uid for uid, model in BOARDS.items() if not has_site_variable(model))


# ---------------------------------------------------------------------------------------------
# Which dashboards have it


def test_the_site_jobs_are_what_the_site_bundle_scrapes() -> None:
    # Guards for the checks below: the site sends node-exporter and its agent; the centre scrapes node too.
    assert SITE_JOBS == {"node", "prometheus-agent"}
    assert "node" in CENTRE_JOBS and "prometheus-agent" not in CENTRE_JOBS


def test_exactly_the_dashboards_reading_site_series_have_the_variable() -> None:
    reading = {uid for uid, model in BOARDS.items()
               if any(reads_a_site(s) for p in all_panels(model) for t in p.get("targets", [])
                      for s in selectors(t.get("expr", "")))}
    assert SITE_AWARE == ["promethoide-host"]
    # Had a centre-only dashboard read a site's job, it would need the variable (or site="centre").
    assert reading <= set(SITE_AWARE)


def test_the_variable_lists_every_site_from_a_series_every_site_sends() -> None:
    for uid in SITE_AWARE:
        variable = site_variable(BOARDS[uid])
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (True, True, ".+")
        assert variable["current"]["value"] == "$__all"  # every site, the centre among them
        match = re.fullmatch(r"label_values\((?P<selector>.+), site\)", variable["query"])
        assert match, variable["query"]
        (selector,) = selectors(match["selector"])
        jobs = {value for label, op, value in selector.matchers if label == "job" and op == "="}
        assert jobs and jobs <= SITE_JOBS & CENTRE_JOBS, f"{uid}: {selector} is not sent by the centre and every site"


# ---------------------------------------------------------------------------------------------
# Every query obeys it


@pytest.mark.parametrize("uid", SITE_AWARE)
def test_every_query_of_a_site_aware_dashboard_filters_by_site(uid: str) -> None:
    assert len([t for p in all_panels(BOARDS[uid]) for t in p.get("targets", [])]) > 20
    assert unfiltered(BOARDS[uid]) == []


@pytest.mark.parametrize("uid", SITE_AWARE)
def test_no_panel_mixes_sites_unnamed(uid: str) -> None:
    assert mixed_sites(BOARDS[uid]) == []
    repeated = [row["title"] for row in BOARDS[uid]["panels"] if row.get("repeat") == "site"]
    assert repeated and all("$site" in title for title in repeated)


@pytest.mark.parametrize("uid", CENTRE_ONLY)
def test_a_dashboard_without_the_variable_reads_only_the_centre(uid: str) -> None:
    assert reads_sites_without_the_variable(BOARDS[uid]) == []


def test_the_other_variables_follow_the_site() -> None:
    chained = [query for query in variable_queries() if query.dashboard in SITE_AWARE and query.name != "site"]
    assert chained and all("$site" in query.query for query in chained)


# ---------------------------------------------------------------------------------------------
# The checks fail where they must


def _host() -> dict[str, Any]:
    return copy.deepcopy(BOARDS["promethoide-host"])


def _first_target(model: dict[str, Any], title: str) -> dict[str, Any]:
    (panel,) = [p for p in all_panels(model) if p.get("title") == title]
    return panel["targets"][0]  # type: ignore[no-any-return]


def test_a_query_without_the_filter_is_caught() -> None:
    host = _host()
    target = _first_target(host, "Uptime")
    target["expr"] = target["expr"].replace(', site=~"$site"', "")
    assert [problem for problem in unfiltered(host) if problem.startswith("Uptime")]
    host = _host()
    host["templating"]["list"][1]["query"] = 'label_values(up{job="node"}, instance)'
    assert unfiltered(host)


def test_a_panel_outside_the_repeated_rows_must_name_the_site() -> None:
    host = _host()
    _first_target(host, "Site last seen")["legendFormat"] = "seen"
    assert mixed_sites(host)
    host = _host()
    for row in host["panels"]:
        row.pop("repeat", None)
    assert len(mixed_sites(host)) > 20


def test_a_centre_dashboard_reading_a_site_job_is_caught() -> None:
    overview = copy.deepcopy(BOARDS["promethoide-overview"])
    _first_target(overview, "CPU busy")["expr"] = 'avg(rate(node_cpu_seconds_total{job="node"}[5m]))'
    _first_target(overview, "Scrape targets")["expr"] = "up"
    assert len(reads_sites_without_the_variable(overview)) == 2


# ---------------------------------------------------------------------------------------------
# Reading the selectors (tests/grafana/queries.py)

SELECTOR_CASES = [
    ("up", [("up", ())]),
    ('sum by (job, site) (rate(x_total{job="a", site=~"$site"}[$__rate_interval]))',
     [("x_total", (("job", "=", "a"), ("site", "=~", "$site")))]),
    ('a{x="1"} / on (site, instance) group_left count by (site, instance) (b{y!~"z|w"})',
     [("a", (("x", "=", "1"),)), ("b", (("y", "!~", "z|w"),))]),
    ('{__name__="up"} and absent(c) or vector(0) unless d offset 5m', [("", (("__name__", "=", "up"),)), ("c", ()),
                                                                      ("d", ())]),
    ('slo:sli_error:ratio_rate5m{slo="a"} > bool 0.5', [("slo:sli_error:ratio_rate5m", (("slo", "=", "a"),))]),
    ('label_replace(e{l="a,b"}, "dst", "$1", "src", "(.*)")', [("e", (("l", "=", "a,b"),))]),
]


@pytest.mark.parametrize(("expr", "expected"), SELECTOR_CASES, ids=[c[0][:40] for c in SELECTOR_CASES])
def test_selectors_are_read_from_promql(expr: str, expected: list[tuple[str, tuple[Any, ...]]]) -> None:
    assert [(s.metric, s.matchers) for s in selectors(expr)] == expected


def test_unreadable_matchers_are_an_error() -> None:
    with pytest.raises(QueryError):
        selectors('x{job=~$job}')


@pytest.mark.parametrize(("matchers", "reads"), [
    ((), True),
    ((("job", "=", "node"),), True),
    ((("job", "=", "api"),), False),
    ((("job", "=~", "blackbox|blackbox-api"),), False),
    ((("job", "=~", "node|api"),), True),
    ((("job", "=~", "no"),), False),  # anchored: "no" does not match "node"
    ((("job", "=~", ".+"),), True),
    ((("job", "=", "node"), ("site", "=", "centre")), False),
])
def test_which_selectors_a_site_s_series_can_match(matchers: tuple[tuple[str, str, str], ...], reads: bool) -> None:
    assert reads_a_site(Selector("node_load1", matchers)) is reads
