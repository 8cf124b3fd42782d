"""Issue 13's review of the generated dashboards, one test per kind of defect, over the committed JSON.

1. Health tiles turn red (or empty) when what they show is broken: evaluated by promtool on synthetic
   series (a replica down, every replica gone, a dead scheduler), coloured by the tile's own thresholds.
2. Informational numbers are neutral, never green.
3. A tile and the rule behind it share one query and one threshold (prometheus/alerts.yaml, slos.yaml).
4. Threshold lines are inside the axis; nothing slow by design shares an axis with milliseconds.
5. Every panel has a unit; counts have 0 decimals; status classes have fixed colours.
6. Apache's busy share is over capacity (the scoreboard), not over spawned workers.
7. The signals the exporters serve are on the dashboards.
8. Variables and selectors default to what an operator means (no template databases, no RAM disks).
The live side (every panel has data, a stopped target turns its tile red) is tests/stack.
"""

import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.dashboards_src.common import NOT_DISK_DEVICES, STATUS_COLOURS
from grafana.dashboards_src.rules import alerts_spec, parse, slos_spec
from tests.grafana.queries import Window, all_panels, dashboards, substitute, tile_colour

PROMTOOL = "/usr/bin/promtool"
BOARDS = {model["uid"].removeprefix("promethoide-"): model for model in dashboards().values()}
DRAWN = {"stat", "gauge", "bargauge", "timeseries", "table", "heatmap", "state-timeline"}
HEALTH_COLOURS = {"red", "orange", "yellow", "green"}


def panel(board: str, title: str) -> dict[str, Any]:
    """The one panel titled `title` on the dashboard `board`."""
    found = [p for p in all_panels(BOARDS[board]) if p.get("title") == title]
    assert len(found) == 1, f"{board}: {len(found)} panels titled {title!r}"
    return found[0]


def exprs(p: dict[str, Any]) -> list[str]:
    return [target.get("expr", "") for target in p.get("targets", [])]


def steps(p: dict[str, Any]) -> list[dict[str, Any]]:
    return p["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])


def colour_of(p: dict[str, Any], value: float | None) -> str:
    return tile_colour(p, value)


def every_panel() -> list[tuple[str, dict[str, Any]]]:
    return [(name, p) for name, model in BOARDS.items() for p in all_panels(model)]


# ---------------------------------------------------------------------------------------------
# 1. Health tiles go red or empty: the tile's query evaluated by promtool on synthetic series

API_JOBS = [job["job_name"] for job in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]]


def _all_up(*, except_job: str = "", api: tuple[int, ...] = (1, 1)) -> dict[str, str]:
    # Every central job labels its targets site="centre" (prometheus.yml); a remote site's node-exporter,
    # up or down, is not the centre's and moves no Overview tile.
    series = {f'up{{job="{job}", instance="{job}:1", site="centre"}}': "1x40"
              for job in API_JOBS if job not in ("api", except_job)}
    series.update({f'up{{job="api", instance="api-{i}:8000", site="centre"}}': f"{v}x40" for i, v in enumerate(api)})
    series['up{job="node", instance="127.0.0.1:9100", site="remote"}'] = "0x40"
    return series


def _smoke(result: int, pushed_at: float) -> dict[str, str]:
    return {'k6_smoke_success{job="k6_smoke", scenario="web_workflow"}': f"{result}x40",
            'push_time_seconds{job="k6_smoke", scenario="web_workflow"}': f"{pushed_at}x40"}


def _backup(last_success: float, success: int = 1) -> dict[str, str]:
    """What ./run.sh backup leaves on the Pushgateway (a failed run keeps the last success's time)."""
    return {'promethoide_backup_last_success_timestamp_seconds{job="promethoide_backup"}': f"{last_success}x40",
            'promethoide_backup_success{job="promethoide_backup"}': f"{success}x40"}


# (dashboard, tile, series, what it must show at 9 min, the colour it must take). None = no data.
HEALTH_CASES = [
    ("overview", "API replicas up", _all_up(), 1.0, "green"),
    ("overview", "API replicas up", _all_up(api=(1, 0)), 0.5, "yellow"),   # green at 1 of 2 before
    ("overview", "API replicas up", _all_up(api=(0, 0)), 0.0, "red"),
    ("overview", "API replicas up", _all_up(api=()), None, "no data"),     # every replica vanished
    ("api", "Replicas up", _all_up(api=(1, 0)), 0.5, "yellow"),
    ("overview", "Targets down", _all_up(), 0.0, "green"),
    ("overview", "Targets down", _all_up(api=()), 1.0, "red"),             # vanished from discovery
    ("overview", "Targets down", _all_up(except_job="postgres"), 1.0, "red"),
    ("overview", "Targets down", _all_up(api=(0, 1)), 1.0, "red"),
    ("overview", "Smoke test", _smoke(1, 530), 1.0, "green"),
    ("overview", "Smoke test", _smoke(0, 530), 0.0, "red"),
    ("overview", "Smoke test", _smoke(1, 0), -1.0, "red"),                 # the scheduler died: PASS forever before
    ("overview", "Smoke test", {}, -1.0, "red"),                           # never pushed
    ("smoke", "Last result", _smoke(1, 0), -1.0, "red"),
    ("postgres", "Last backup", _backup(last_success=0), 540.0, "green"),        # 9 minutes old
    ("postgres", "Last backup", _backup(last_success=-86000), 86540.0, "red"),   # over a day: BackupTooOld's
    ("postgres", "Last backup", {}, None, "no data"),                            # never: the tile says so
    ("postgres", "Last backup run", _backup(last_success=0), 1.0, "green"),
    ("postgres", "Last backup run", _backup(last_success=-86000, success=0), 0.0, "red"),
]


def evaluate_with_promtool(tmp_path: Path, expr: str, series: dict[str, str], expected: float | None) -> str:
    """Run `expr` at 9 min over `series` (15 s samples) with promtool; return its complaint, or ""."""
    samples = [] if expected is None else [{"labels": "{}", "value": expected}]
    case = {"rule_files": [], "evaluation_interval": "15s", "tests": [{
        "interval": "15s",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "promql_expr_test": [{"expr": expr, "eval_time": "9m", "exp_samples": samples}],
    }]}
    path = tmp_path / "case.yml"
    path.write_text(yaml.safe_dump(case))
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    return "" if result.returncode == 0 else result.stdout + result.stderr


@pytest.mark.parametrize(("board", "title", "series", "value", "colour"), HEALTH_CASES,
                         ids=[f"{b}/{t}={v}" for b, t, _, v, _ in HEALTH_CASES])
def test_health_tile_turns_red_or_empty(tmp_path: Path, board: str, title: str, series: dict[str, str],
                                        value: float | None, colour: str) -> None:
    tile = panel(board, title)
    (expr,) = exprs(tile)
    # A tile that computes time() compares with the sample times promtool starts at 0.
    query = substitute(expr, Window(range_s=600, step_s=15), {"instance": ".+", "scenario": ".+"})
    # Instant query results carry no labels once aggregated; promtool compares labels exactly.
    complaint = evaluate_with_promtool(tmp_path, query, series, value)
    assert not complaint, f"{board}/{title} should show {value}:\n{complaint}"
    assert colour_of(tile, value) == colour


def test_every_service_up_tile_reads_down_when_its_exporter_is_gone() -> None:
    # `min(x_up) or vector(0)`: an exporter that stopped answering (no x_up at all) reads DOWN, not "No data".
    for name, p in every_panel():
        if p["type"] == "stat" and re.search(r"min\((pg|apache)_up|min\(probe_success", " ".join(exprs(p))):
            assert all(expr.endswith("or vector(0)") for expr in exprs(p)), f"{name}/{p['title']}"
            assert colour_of(p, 0) == "red"


def test_no_health_tile_reads_a_pushed_value_without_its_age() -> None:
    # The Pushgateway serves the last push forever: a pushed result means nothing without push_time_seconds.
    for name, p in every_panel():
        if p["type"] == "stat" and len(steps(p)) > 1:
            for expr in exprs(p):
                if "k6_smoke_success" in expr:
                    assert "push_time_seconds" in expr, f"{name}/{p['title']}: {expr}"


# A tile's "no value" text ("never", "no success yet") takes its base threshold colour: Grafana's
# display processor colours what has no number with the step of -Infinity (grafana/grafana,
# packages/grafana-data/src/field/displayProcessor.ts). Nothing recorded proves nothing healthy.
# Only "no traffic" may be green: no requests, so none failed or was slow.
NOTHING_TO_JUDGE = {"no traffic"}


def test_a_tile_that_has_no_value_is_not_painted_healthy() -> None:
    checked = []
    for name, p in every_panel():
        no_value = p.get("fieldConfig", {}).get("defaults", {}).get("noValue")
        if p["type"] == "stat" and no_value and len(steps(p)) > 1 and no_value not in NOTHING_TO_JUDGE:
            checked.append(f"{name}/{p['title']}")
            assert steps(p)[0]["color"] != "green", f"{name}/{p['title']}: {no_value!r} would show green"
    assert {"postgres/Last backup", "smoke/Since last success"} <= set(checked)


# ---------------------------------------------------------------------------------------------
# 2. Informational numbers are not painted as health

INFORMATIONAL = [("overview", "API requests/s"), ("overview", "Apache requests/s"), ("api", "Requests/s"),
                 ("api", "Registrations"), ("api", "Mean concurrency"), ("apache", "Requests/s"),
                 ("apache", "Uptime"), ("host", "Uptime"), ("host", "CPU cores"), ("host", "Memory total"),
                 ("smoke", "Checks passed")]


@pytest.mark.parametrize(("board", "title"), INFORMATIONAL)
def test_informational_stat_is_neutral(board: str, title: str) -> None:
    p = panel(board, title)
    assert p["options"]["colorMode"] == "none"
    assert [step["color"] for step in steps(p)] == ["text"]


def test_no_stat_is_green_whatever_its_value() -> None:
    # One threshold step means one colour for every value: it must not be a health colour.
    for name, p in every_panel():
        if p["type"] == "stat" and len(steps(p)) == 1 and not p["fieldConfig"]["defaults"].get("mappings"):
            assert steps(p)[0]["color"] not in HEALTH_COLOURS, f"{name}/{p['title']}"


# ---------------------------------------------------------------------------------------------
# 3. Tiles and rules agree: one query, one threshold

def _without_dashboard_variables(expr: str) -> str:
    return re.sub(r',\s*(site|instance)=~"\$(site|instance)"', "", " ".join(expr.split()))


def _rule_tiles() -> list[tuple[str, str, str]]:
    """(alert, dashboard, panel title) for every threshold rule whose panel is a tile, bar or graph."""
    found = []
    for group in alerts_spec().groups:
        for rule in group.alerts:
            if parse(rule.alert, rule.expr) is not None and rule.panel.dashboard in BOARDS:
                found.append((rule.alert, rule.panel.dashboard, rule.panel.title))
    return found


RULE_TILES = _rule_tiles()


def test_the_rule_tiles_cover_the_threshold_rules_with_panels() -> None:
    # Guard: the parametrised test below must not pass by checking nothing.
    assert {alert for alert, _, _ in RULE_TILES} >= {
        "HostDiskAlmostFull", "HostMemoryLow", "OperatorPageSlow", "SlowPageSlowerThanDesigned", "SmokeTestStale",
        "PostgresqlDown", "ApacheDown", "SmokeTestFailing"}


@pytest.mark.parametrize(("alert", "board", "title"), RULE_TILES, ids=[a for a, _, _ in RULE_TILES])
def test_tile_shares_query_and_threshold_with_its_rule(alert: str, board: str, title: str) -> None:
    rule = next(r for g in alerts_spec().groups for r in g.alerts if r.alert == alert)
    condition = parse(alert, rule.expr)
    assert condition is not None
    p = panel(board, title)
    queries = [_without_dashboard_variables(expr) for expr in exprs(p)]
    metric = re.match(r"[a-zA-Z_:]+", condition.query.removeprefix("time() - "))
    assert metric and any(metric.group(0) in query for query in queries), f"{title} does not read {metric}"
    values = {step["value"] for step in steps(p) if step["value"] is not None}
    values |= {float(key) for m in p["fieldConfig"]["defaults"].get("mappings", []) for key in m.get("options", {})}
    threshold = condition.threshold
    # `> 0` (any failure) needs no threshold: every non-zero value is the condition.
    assert {threshold, round(1 - threshold, 6)} & values or condition.op == "==" or threshold == 0, \
        f"{board}/{title}: thresholds {values} do not include {alert}'s {threshold}"
    if alert in ("HostDiskAlmostFull", "HostMemoryLow"):
        # The very query of the rule (its series and its filter), only narrowed by the dashboard variables.
        assert any(_without_dashboard_variables(condition.selected) in query for query in queries), queries


def test_api_summary_tiles_leave_health_checks_out_as_the_slos_do() -> None:
    not_traffic = slos_spec().api.not_traffic
    for board, titles in {"overview": ["API requests/s", "API 5xx ratio", "API p95"],
                          "api": ["Requests/s", "5xx ratio", "p95 latency"]}.items():
        for title in titles:
            for expr in exprs(panel(board, title)):
                for selector in re.findall(r"http_request_duration_seconds_\w+\{([^}]*)\}", expr):
                    assert f'handler!~"{not_traffic}"' in selector, f"{board}/{title}: {expr}"


def test_the_same_query_has_the_same_thresholds_everywhere() -> None:
    seen: dict[str, tuple[str, list[Any]]] = {}
    for name, p in every_panel():
        if p["type"] in ("stat", "gauge") and len(steps(p)) > 1:
            for expr in exprs(p):
                key = " ".join(expr.split())
                marks = [(s["value"], s["color"]) for s in steps(p)]
                if key in seen:
                    assert seen[key][1] == marks, f"{name}/{p['title']} and {seen[key][0]} disagree on {key}"
                seen[key] = (f"{name}/{p['title']}", marks)
    assert (" ".join(exprs(panel("overview", "DB connections used"))[0].split())
            == " ".join(exprs(panel("postgres", "Connections used"))[0].split()))


def test_latency_and_error_colours_come_from_the_slos() -> None:
    objectives = sorted({o.faster_than for s in slos_spec().slos for o in s.objectives.values() if o.faster_than})
    for board, title in (("overview", "API p95"), ("api", "p95 latency")):
        assert [s["value"] for s in steps(panel(board, title))][1:] == objectives
    budget = round(1 - min(o.objective for s in slos_spec().slos if s.sli == "availability"
                           for o in s.objectives.values()), 6)
    assert steps(panel("overview", "API 5xx ratio"))[1]["value"] == budget


# ---------------------------------------------------------------------------------------------
# 4. Scales that show the signal

def test_threshold_lines_are_always_on_the_axis() -> None:
    # Grafana's auto-scale ignores thresholds: a dashed objective needs a soft max that reaches it.
    for name, p in every_panel():
        if p["type"] != "timeseries":
            continue
        custom = p["fieldConfig"]["defaults"].get("custom", {})
        if custom.get("thresholdsStyle", {}).get("mode", "off") == "off":
            continue
        highest = max(s["value"] for s in steps(p) if s["value"] is not None)
        assert custom.get("axisSoftMax", -math.inf) >= highest or p["fieldConfig"]["defaults"].get("max", -1) >= highest, \
            f"{name}/{p['title']}: the {highest} line is off the axis at normal values"


def test_latency_axes_with_far_objectives_are_logarithmic() -> None:
    # Milliseconds under a line hundreds of times higher: linear would flatten them to zero.
    for name, p in every_panel():
        if p["type"] != "timeseries":
            continue
        custom = p["fieldConfig"]["defaults"].get("custom", {})
        if p["fieldConfig"]["defaults"].get("unit") == "s" and \
                custom.get("thresholdsStyle", {}).get("mode", "off") != "off" and "Slow page" not in p["title"]:
            assert custom.get("scaleDistribution", {}).get("type") == "log", f"{name}/{p['title']}"


def test_slow_by_design_never_shares_a_linear_axis_with_milliseconds() -> None:
    for name, p in every_panel():
        if p["type"] != "timeseries":
            continue
        linear = p["fieldConfig"]["defaults"].get("custom", {}).get("scaleDistribution", {}).get("type") != "log"
        for expr in exprs(p):
            if "probe_duration_seconds" in expr and linear and 'instance="http://apache:80/delay"' not in expr:
                assert 'instance!="http://apache:80/delay"' in expr, f"{name}/{p['title']}: {expr}"
        joined = " ".join(exprs(p))
        assert not ("k6_smoke_run_duration_seconds" in joined and "p95" in joined), f"{name}/{p['title']}"


def test_expected_4xx_never_share_an_axis_with_the_5xx() -> None:
    for name, p in every_panel():
        joined = " ".join(exprs(p))
        if p["type"] == "timeseries" and "ratio" in p["title"].lower():
            assert not ('status="5xx"' in joined and 'status="4xx"' in joined), f"{name}/{p['title']}"


# ---------------------------------------------------------------------------------------------
# 5. Units, counts, colours

def test_every_panel_has_a_unit() -> None:
    for name, p in every_panel():
        if p["type"] in DRAWN:
            assert p["fieldConfig"]["defaults"].get("unit"), f"{name}/{p['title']} has no unit"


def test_per_minute_panels_say_per_minute() -> None:
    for name, p in every_panel():
        if "per minute" in p.get("title", ""):
            assert p["fieldConfig"]["defaults"]["unit"] == "opm", f"{name}/{p['title']}"


def test_counts_have_no_decimals() -> None:
    for name, p in every_panel():
        if p["type"] in ("stat", "bargauge") and any(
                re.search(r"increase\(|count\(|checks_(passed|failed)|exit_code|status_code", e) and " / " not in e
                for e in exprs(p)) \
                and p["fieldConfig"]["defaults"].get("unit") in ("short", "none"):
            assert p["fieldConfig"]["defaults"].get("decimals") == 0, f"{name}/{p['title']}"


def test_status_classes_have_fixed_colours() -> None:
    for name, p in every_panel():
        legends = " ".join(target.get("legendFormat", "") for target in p.get("targets", []))
        if p["type"] == "timeseries" and ("{{status}}" in legends or re.search(r"\dxx", legends)):
            colours = {o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
                       for o in p["fieldConfig"].get("overrides", []) if o["matcher"]["id"] == "byRegexp"}
            for status, colour in STATUS_COLOURS.items():
                assert colours.get(f".*{status}.*") == colour, f"{name}/{p['title']}"


def test_a_little_law_mean_is_not_called_in_flight() -> None:
    for name, p in every_panel():
        if any("http_request_duration_seconds_sum" in e for e in exprs(p)):
            assert "in flight" not in p["title"].lower() and "right now" not in p.get("description", ""), \
                f"{name}/{p['title']}"


def test_a_pass_fail_history_is_drawn_as_bars() -> None:
    p = panel("smoke", "Result")
    assert p["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"
    assert p["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds"


# ---------------------------------------------------------------------------------------------
# 6. Denominators

def test_apache_busy_share_is_over_capacity() -> None:
    (expr,) = exprs(panel("apache", "Busy workers"))
    denominator = expr.split(" / ", 1)[1]
    assert "apache_scoreboard" in denominator and "apache_workers" not in denominator


# ---------------------------------------------------------------------------------------------
# 7. The signals the exporters already serve

SIGNALS = {
    "apache": ["apache_duration_ms_total", "apache_cpu_time_ms_total", "apache_connections", "apache_scoreboard"],
    "postgres": ["pg_stat_database_tup_fetched", "pg_stat_database_temp_bytes", "pg_stat_bgwriter_checkpoints_timed",
                 "pg_stat_activity_max_tx_duration", "pg_exporter_last_scrape_error", 'state=~"idle in transaction'],
    "host": ["node_memory_SwapTotal_bytes", "node_vmstat_pswpout", "node_disk_read_time_seconds_total",
             "node_disk_reads_completed_total", "node_filesystem_files_free", "node_filesystem_size_bytes",
             "node_memory_MemTotal_bytes", "node_load1"],
    "probes": ["avg_over_time(probe_success", "probe_dns_lookup_time_seconds"],
    "api": ["api_db_pool_size", "api_db_pool_in_use", "api_db_pool_waits_total", "api_db_pool_acquire_timeouts_total",
            'le="', "api_workers_cpu_seconds_total", "api_workers_resident_memory_bytes"],
}


@pytest.mark.parametrize("board", sorted(SIGNALS))
def test_the_exporters_signals_are_shown(board: str) -> None:
    text = " ".join(expr for p in all_panels(BOARDS[board]) for expr in exprs(p))
    missing = [signal for signal in SIGNALS[board] if signal not in text]
    assert not missing, f"{board} lacks {missing}"


def test_apache_says_where_its_errors_are_seen() -> None:
    note = panel("apache", "Errors")["options"]["content"]
    assert "probes" in note and "5xx" in note


# ---------------------------------------------------------------------------------------------
# 8. Defaults an operator means

def test_postgres_panels_leave_template_databases_out() -> None:
    for p in all_panels(BOARDS["postgres"]):
        for expr in exprs(p):
            if "$datname" in expr:
                assert 'datname!~"template.*"' in expr, f"{p['title']}: {expr}"
    variable = next(v for v in BOARDS["postgres"]["templating"]["list"] if v["name"] == "datname")
    query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
    assert 'datname!~"template.*"' in query


def test_disk_device_panels_leave_ram_and_loop_devices_out() -> None:
    for p in all_panels(BOARDS["host"]):
        for expr in exprs(p):
            for selector in re.findall(r"node_disk_\w+\{([^}]*)\}", expr):
                assert f'device!~"{NOT_DISK_DEVICES}"' in selector, f"{p['title']}: {expr}"
