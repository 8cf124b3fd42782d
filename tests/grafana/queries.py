"""Every PromQL query Grafana will send, and how to send it to a Prometheus the way Grafana does.

Reusable against any Prometheus: `PromQL(url)` is a small client, `panel_queries()` and
`variable_queries()` list what the provisioned dashboards ask, `substitute()` turns Grafana's
variables into what Grafana would send, and `PromQL.evaluate_panel/_variable` run one query and return
its result (or raise QueryError), e.g. for the twin:

    prom = PromQL(twin_prometheus_url)
    empty = [query for query in panel_queries() if not prom.evaluate_panel(query, Window(range_s=600))]

Alert rules are Prometheus's own (prometheus/rules), checked by promtool and on the twin.
"""

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"
DATASOURCE_UID = "promethoide-prometheus"


@dataclass(frozen=True)
class Window:
    """The time range Grafana would query and what it derives from it.

    Defaults follow the shared notes: the last hour, a 60 s step, Prometheus scraping every 15 s.
    """

    range_s: int = 3600
    step_s: int = 60
    scrape_s: int = 15

    @property
    def rate_interval_s(self) -> int:
        """Grafana's $__rate_interval: max(step + scrape interval, 4 x scrape interval)."""
        return max(self.step_s + self.scrape_s, 4 * self.scrape_s)


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    dashboard: str
    panel_id: int
    panel: str
    ref_id: str
    expr: str
    instant: bool
    range: bool
    variables: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.dashboard} panel {self.panel_id} ({self.panel}) {self.ref_id}"


@dataclass(frozen=True)
class VariableQuery:
    """A dashboard's template variable query (label_values(...), query_result(...))."""

    dashboard: str
    name: str
    query: str
    # The dashboard's other variables, for a query that names them (the host's instances of $site).
    variables: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.dashboard} variable {self.name}"


class QueryError(Exception):
    """Prometheus refused or failed a query (bad_data, execution error), or a variable was left over."""


# ---------------------------------------------------------------------------------------------
# What the provisioned files ask


def dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, dict[str, Any]]:
    """Every dashboard JSON under `directory` (recursively, as Grafana walks it), keyed by uid."""
    found = {}
    for path in sorted(directory.rglob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        found[model["uid"]] = model
    return found


def all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """A dashboard's panels, including those inside collapsed rows."""
    panels = []
    for panel in model.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def variable_values(model: dict[str, Any]) -> dict[str, str]:
    """What each template variable stands for in a query: its "All" value (.* unless set)."""
    values = {}
    for variable in model.get("templating", {}).get("list", []):
        if variable.get("type") in ("query", "custom", "textbox", "constant", "interval"):
            values[variable["name"]] = variable.get("allValue") or ".*"
    return values


def panel_queries(directory: Path = DASHBOARDS_DIR) -> list[PanelQuery]:
    """Every Prometheus target of every panel of every dashboard."""
    queries = []
    for uid, model in dashboards(directory).items():
        variables = variable_values(model)
        for panel in all_panels(model):
            for target in panel.get("targets", []):
                queries.append(PanelQuery(
                    dashboard=uid, panel_id=panel.get("id", 0), panel=panel.get("title", ""),
                    ref_id=target.get("refId", ""), expr=target.get("expr", ""),
                    instant=bool(target.get("instant")),
                    # A target that says neither is a range query in Grafana.
                    range=bool(target.get("range", not target.get("instant"))),
                    variables=variables,
                ))
    return queries


def variable_queries(directory: Path = DASHBOARDS_DIR) -> list[VariableQuery]:
    """Every query template variable of every dashboard."""
    found = []
    for uid, model in dashboards(directory).items():
        for variable in model.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable.get("query")
                text = query.get("query", "") if isinstance(query, dict) else query
                found.append(VariableQuery(uid, variable["name"], text or "", variable_values(model)))
    return found


# ---------------------------------------------------------------------------------------------
# Grafana's variables


def interval_variables(window: Window) -> dict[str, str]:
    """Grafana's built-in interval variables for `window`, as its Prometheus backend computes them."""
    return {
        "__interval_ms": str(window.step_s * 1000),
        "__interval": f"{window.step_s}s",
        "__rate_interval_ms": str(window.rate_interval_s * 1000),
        "__rate_interval": f"{window.rate_interval_s}s",
        "__range_ms": str(window.range_s * 1000),
        "__range_s": str(window.range_s),
        "__range": f"{window.range_s}s",
    }


def substitute(expr: str, window: Window = Window(), variables: dict[str, str] | None = None) -> str:
    """`expr` as Grafana sends it: interval variables, then user variables, longest names first.

    Handles $name, ${name}, ${name:format} and [[name]]; raises QueryError if any `$` is left.
    """
    values = {**(variables or {}), **interval_variables(window)}
    for name in sorted(values, key=len, reverse=True):
        pattern = re.compile(
            rf"\$\{{{re.escape(name)}(?::[^}}]*)?\}}|\[\[{re.escape(name)}(?::[^\]]*)?\]\]|\${re.escape(name)}(?!\w)"
        )
        expr = pattern.sub(values[name].replace("\\", "\\\\"), expr)
    if "$" in expr:
        raise QueryError(f"unresolved variable in: {expr}")
    return expr


def grafana_regex_escape(value: str) -> str:
    """One value of a multi-value variable as Grafana writes it into a PromQL regex, e.g. a row repeated
    per value (the Prometheus datasource's prometheusSpecialRegexEscape: regex metacharacters get a
    backslash, itself doubled inside the PromQL string)."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda match: "\\\\" + match.group(0), value)


# ---------------------------------------------------------------------------------------------
# Asking Prometheus


class PromQL:
    """A Prometheus HTTP API client for exactly what Grafana does: range, instant, label values."""

    def __init__(self, url: str, timeout: float = 10, auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.auth = auth  # the datasource's basic auth (Prometheus asks for it beyond loopback)

    def _get_data(self, path: str, params: dict[str, Any]) -> Any:
        """POST to the API (as Grafana's httpMethod: POST) and return `data`, or raise QueryError."""
        response = httpx.post(self.url + path, data=params, auth=self.auth, timeout=self.timeout)
        try:
            body = response.json()
        except ValueError as error:
            raise QueryError(f"{path}: HTTP {response.status_code}, not JSON: {response.text[:200]}") from error
        if response.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"{path}: HTTP {response.status_code} {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result."""
        params = {"query": expr, "time": f"{at if at is not None else time.time():.3f}"}
        return self._get_data("/api/v1/query", params)["result"]  # type: ignore[no-any-return]

    def query_range(self, expr: str, start: float, end: float, step_s: int) -> list[dict[str, Any]]:
        """A range query's result (one series per label set)."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s}s"}
        return self._get_data("/api/v1/query_range", params)["result"]  # type: ignore[no-any-return]

    def label_values(self, label: str, match: str | None, start: float, end: float) -> list[str]:
        """Values of `label`, optionally only on series matching the selector `match`."""
        params: dict[str, Any] = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if match:
            params["match[]"] = match
        response = httpx.get(f"{self.url}/api/v1/label/{label}/values", params=params, auth=self.auth,
                             timeout=self.timeout)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"label_values({match}, {label}): {body.get('errorType')}: {body.get('error')}")
        return body["data"]  # type: ignore[no-any-return]

    def evaluate_panel(self, query: PanelQuery, window: Window = Window(),
                       end: float | None = None) -> list[dict[str, Any]]:
        """Run a panel target as Grafana would: instant at the end, range over the window, or both."""
        end = end if end is not None else time.time()
        expr = substitute(query.expr, window, query.variables)
        results = []
        if query.instant:
            results += self.query(expr, end)
        if query.range:
            results += self.query_range(expr, end - window.range_s, end, window.step_s)
        return results

    def evaluate_variable(self, query: VariableQuery, window: Window = Window(),
                          end: float | None = None) -> list[str]:
        """Resolve a template variable query the way Grafana's Prometheus datasource does."""
        end = end if end is not None else time.time()
        start = end - window.range_s
        # A chained variable names others (the host's instances of $site): at their defaults, All, unless
        # the query carries values (a VariableQuery made by hand carries none: the dashboard's are read).
        variables = query.variables or variable_values(dashboards().get(query.dashboard, {}))
        text = substitute(query.query, window, variables).strip()
        if match := re.fullmatch(r"label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)", text):
            return self.label_values(match["label"], match["selector"], start, end)
        if match := re.fullmatch(r"query_result\((?P<expr>.+)\)", text):
            return [json.dumps(sample) for sample in self.query(match["expr"], end)]
        raise QueryError(f"{query}: not a variable query this check understands: {text}")


# ---------------------------------------------------------------------------------------------
# How a tile colours a value


def tile_colour(panel: dict[str, Any], value: float | None) -> str:
    """The colour Grafana gives `value` on a stat or gauge: a value mapping's colour first, then the
    thresholds (the highest step at or below the value); "no data" for no value."""
    if value is None:
        return "no data"
    defaults = panel["fieldConfig"]["defaults"]
    for mapping in defaults.get("mappings", []):
        for key, result in mapping.get("options", {}).items():
            if mapping.get("type") == "value" and float(key) == value and result.get("color"):
                return str(result["color"])
    colour = "no data"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step["value"] is None or value >= step["value"]:
            colour = step["color"]
    return colour


# ---------------------------------------------------------------------------------------------
# The series a query reads

# PromQL words that are not metric names (prometheus/promql/parser/lex.go: key, aggregators, modifiers).
_KEYWORDS = {"and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "bool", "start", "end", "inf", "nan", "sum", "avg", "count", "min", "max", "group",
             "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}
# Words followed by a parenthesised list of label names, not of expressions.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|[a-zA-Z_:][a-zA-Z0-9_:]*|\$\{\w+(?::\w+)?\}|\$\w+|\d[\w.]*'
                    r'|=~|!~|!=|==|>=|<=|\S')
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')


@dataclass(frozen=True)
class Selector:
    """One vector selector of a query: its metric name ("" for `{...}` alone) and its label matchers."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value without quotes)

    def matches(self, label: str, op: str, value: str) -> bool:
        return (label, op, value) in self.matchers


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in a PromQL expression, found by its lexical shape.

    A name followed by `(` is a function or aggregation, a keyword is not a metric, the names after
    by/on/... are labels, `[...]` holds a duration; what remains, with or without `{...}`, is a selector.
    Raises QueryError on braces this reading cannot pair.
    """
    tokens = _TOKEN.findall(expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _LABEL_LISTS and following == "(":
            i = tokens.index(")", i) + 1
        elif token == "[":
            i = tokens.index("]", i) + 1
        elif token == "{" or (re.fullmatch(r"[a-zA-Z_:][\w:]*", token) and token.lower() not in _KEYWORDS
                               and following != "("):
            metric = "" if token == "{" else token
            matchers: tuple[tuple[str, str, str], ...] = ()
            start = i if token == "{" else i + 1
            if start < len(tokens) and tokens[start] == "{":
                if "}" not in tokens[start:]:
                    raise QueryError(f"unclosed {{ in: {expr}")
                end = tokens.index("}", start)
                body = expr_between(tokens, start + 1, end)
                matchers = tuple((m[1], m[2], m[3][1:-1]) for m in _MATCHER.finditer(body))
                if _MATCHER.sub("", body).strip():
                    raise QueryError(f"cannot read the matchers {{{body}}} in: {expr}")
                i = end + 1
            else:
                i += 1
            found.append(Selector(metric, matchers))
        else:
            i += 1
    return found


def expr_between(tokens: list[str], start: int, end: int) -> str:
    """The tokens start..end-1 joined back (matchers: label, operator, quoted value, comma)."""
    return " ".join(tokens[start:end])
