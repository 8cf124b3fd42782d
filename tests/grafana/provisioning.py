"""Grafana's provisioning files checked the way Grafana loads them, and for what it silently accepts.

Grafana is not installable here, so this module does its start-up checks (fatal there: datasources,
dashboard providers, alerting) and the ones it skips, which only show later as "No data", a rule
stuck in Error or a mail never sent (../shared/notes/grafana-provisioning.md).

    found = load()                 # the repository's grafana/ and the compose environment of grafana
    assert problems(found) == []   # each problem is one readable sentence

Tests feed `problems()` mutated copies of `load()` to prove every check can fail.
"""

import copy
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.compose import ROOT, compose

GRAFANA = ROOT / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS_SOURCE = GRAFANA / "dashboards"
PROVISIONING_MOUNT = "/etc/grafana/provisioning"

UID = re.compile(r"[a-zA-Z0-9_-]{1,40}")
# Stricter than Grafana for dashboards, as the project pins them: lowercase, digits, dashes.
DASHBOARD_UID = re.compile(r"[a-z0-9-]{1,40}")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
DURATION_UNITS_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)

REACT_PANELS = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "row", "heatmap", "piechart"}
SCHEMA_VERSIONS = range(36, 42)
GRID_COLUMNS = 24

DATASOURCE_ROOT_KEYS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
DATASOURCE_KEYS = {
    "name", "type", "uid", "access", "orgId", "url", "user", "database", "basicAuth", "basicAuthUser",
    "withCredentials", "isDefault", "jsonData", "secureJsonData", "version", "editable", "correlations",
}
PROVIDER_ROOT_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {
    "name", "orgId", "folder", "folderUid", "type", "disableDeletion", "updateIntervalSeconds",
    "allowUiUpdates", "options",
}
PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}
ALERTING_ROOT_KEYS = {
    "apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies",
    "resetPolicies", "templates", "deleteTemplates", "muteTimes", "deleteMuteTimes",
}
GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
RULE_KEYS = {
    "uid", "title", "condition", "data", "dashboardUid", "panelId", "noDataState", "execErrState", "for",
    "keepFiringFor", "missing_series_evals_to_resolve", "annotations", "labels", "isPaused",
    "notification_settings", "record",
}
QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
NO_DATA_STATES = {"NoData", "Alerting", "OK", "KeepLast"}
EXEC_ERR_STATES = {"Error", "Alerting", "OK", "KeepLast"}
EXPRESSION_TYPES = {"math", "reduce", "threshold", "classic_conditions", "resample"}
REDUCERS = {"last", "mean", "min", "max", "sum", "count"}
EVALUATOR_PARAMS = {"gt": 1, "lt": 1, "within_range": 2, "outside_range": 2}
CONTACT_POINT_KEYS = {"orgId", "name", "receivers"}
RECEIVER_KEYS = {"uid", "type", "settings", "disableResolveMessage"}
EMAIL_SETTINGS_KEYS = {"addresses", "singleEmail", "message", "subject"}
TEMPLATE_KEYS = {"orgId", "name", "template"}
POLICY_ROOT_KEYS = {
    "orgId", "receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "routes",
}
ROUTE_KEYS = {
    "receiver", "object_matchers", "matchers", "continue", "group_by", "group_wait", "group_interval",
    "repeat_interval", "mute_time_intervals", "active_time_intervals", "routes",
}
MATCHER_OPERATORS = {"=", "!=", "=~", "!~"}
EXPRESSION_UID = "__expr__"
# Go's strconv.ParseBool, which Grafana uses for provisioned booleans; YAML 1.1's yes/on/y are not.
GO_BOOLEANS = {"true", "True", "TRUE", "false", "False", "FALSE"}


@dataclass
class Provisioning:
    """The files Grafana would load, parsed, and the environment its provisioning expands with."""

    # file name -> document: raw text as loaded (parsed by problems()), or already parsed (parsed())
    datasources: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, Any] = field(default_factory=dict)
    alerting: dict[str, Any] = field(default_factory=dict)
    dashboards: dict[str, Any] = field(default_factory=dict)    # path relative to the JSON dir -> model
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, str] = field(default_factory=dict)        # host path (./grafana/...) -> container path
    ignored: list[str] = field(default_factory=list)            # files Grafana would not read

    def copy(self) -> "Provisioning":
        """A deep copy to mutate in tests."""
        return copy.deepcopy(self)


# ---------------------------------------------------------------------------------------------
# Loading


def grafana_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The grafana service's environment as compose computes it from `env` (default .example.env)."""
    model = compose(tuple(sorted(env.items())) if env is not None else None)
    environment = model["services"]["grafana"].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def grafana_mounts() -> dict[str, str]:
    """The grafana service's bind mounts: ./host/path -> /container/path."""
    mounts = {}
    for volume in compose()["services"]["grafana"].get("volumes", []):
        parts = volume.split(":") if isinstance(volume, str) else [volume["source"], volume["target"]]
        if parts[0].startswith("."):
            mounts[parts[0].rstrip("/")] = parts[1].rstrip("/")
    return mounts


def _yaml_files(directory: Path, suffixes: tuple[str, ...], ignored: list[str], root: Path) -> list[Path]:
    """The files Grafana reads in `directory`; what it would skip is appended to `ignored`."""
    if not directory.is_dir():
        return []
    read = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        # Provisioning directories are read flat: a file in a subdirectory is ignored.
        if path.suffix in suffixes and path.parent == directory:
            read.append(path)
        else:
            ignored.append(str(path.relative_to(root)))
    return read


def load(root: Path = GRAFANA, env: dict[str, str] | None = None) -> Provisioning:
    """Everything under `root` that Grafana's provisioning reads, plus compose's view of Grafana."""
    found = Provisioning(env=grafana_environment(env), mounts=grafana_mounts())
    provisioning = root / "provisioning"
    sections = (("datasources", (".yaml", ".yml")), ("dashboards", (".yaml", ".yml")),
                ("alerting", (".yaml", ".yml", ".json")))
    for section, suffixes in sections:
        target = found.providers if section == "dashboards" else getattr(found, section)
        for path in _yaml_files(provisioning / section, suffixes, found.ignored, root):
            name = str(path.relative_to(root))
            # Kept as text: problems() parses it, so that a YAML error is a problem, not a crash.
            target[name] = path.read_text(encoding="utf-8")
    dashboards_dir = root / "dashboards"
    for path in sorted(dashboards_dir.rglob("*.json")) if dashboards_dir.is_dir() else []:
        found.dashboards[str(path.relative_to(dashboards_dir))] = path.read_text(encoding="utf-8")
    return found


# ---------------------------------------------------------------------------------------------
# Small helpers


def duration_s(text: Any) -> float | None:
    """Seconds in a Prometheus-style duration ("1m30s"), or None if Grafana would refuse it."""
    if not isinstance(text, str) or not text:
        return None
    if text == "0":
        return 0.0
    match = DURATION.fullmatch(text)
    if not match or not any(match.groups()):
        return None
    return sum(int(part) * unit for part, unit in zip(match.groups(), DURATION_UNITS_S, strict=True) if part)


def _go_shell_name(text: str) -> tuple[str, int]:
    """Go's os.Expand getShellName: the variable name after a `$` and how many characters it takes."""
    if text.startswith("{"):
        if len(text) > 2 and text[1] in "*#$@!?-0123456789" and text[2] == "}":
            return text[1], 3
        end = text.find("}")
        if end == 1:
            return "", 2
        return (text[1:end], end + 1) if end > 0 else ("", 1)
    if text and text[0] in "*#$@!?-0123456789":
        return text[0], 1
    match = re.match(r"[A-Za-z0-9_]*", text)
    return match[0] if match else "", len(match[0]) if match else 0


def _go_expand(text: str, lookup: Callable[[str], str]) -> str:
    """Go's os.Expand: $NAME and ${NAME} replaced by lookup(NAME); a lone `$` kept."""
    out, index = [], 0
    while index < len(text):
        if text[index] == "$" and index + 1 < len(text):
            name, width = _go_shell_name(text[index + 1:])
            if name:
                out.append(lookup(name))
            elif width == 0:
                out.append("$")
            index += width + 1
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def expand(value: str, env: dict[str, str], unset: set[str] | None = None) -> str:
    """A provisioned value as Grafana expands it: `$$` is a literal `$`, $__env{X}, $X and ${X}.

    Names expanding to nothing are added to `unset`.
    """
    def lookup(name: str) -> str:
        if not env.get(name) and unset is not None:
            unset.add(name)
        return env.get(name, "")

    parts = []
    for part in value.split("$$"):
        part = re.sub(r"\$__env\{([^}]*)\}", lambda match: lookup(match[1]), part)
        parts.append(_go_expand(part, lookup))
    return "$".join(parts)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) in a parsed document, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _unknown_keys(where: str, mapping: Any, allowed: set[str]) -> list[str]:
    """Keys Grafana would silently ignore (a typo, or a key of another object)."""
    if not isinstance(mapping, dict):
        return [f"{where}: expected a mapping, got {type(mapping).__name__}"]
    return [f"{where}: unknown key {key!r} (Grafana ignores it silently)" for key in sorted(set(mapping) - allowed)]


def _bool_field(where: str, mapping: dict[str, Any], key: str) -> list[str]:
    """A boolean field must be a YAML boolean (true/false)."""
    if key in mapping and not isinstance(mapping[key], bool):
        return [f"{where}.{key}: {mapping[key]!r} is not true/false"]
    return []


def _duplicates(values: list[Any]) -> list[Any]:
    """Values that occur more than once."""
    return [value for value, count in Counter(values).items() if count > 1]


# ---------------------------------------------------------------------------------------------
# YAML text: what PyYAML and Grafana's Go YAML read differently


def yaml_problems(name: str, text: str) -> list[str]:
    """Parse errors (e.g. a bare `=`), and booleans written as yes/no/on/off that Go reads as strings."""
    try:
        root = yaml.compose(text)
        yaml.safe_load(text)  # constructing, not only composing, is what refuses a bare `=`
    except yaml.YAMLError as error:
        return [f"{name}: not valid YAML: {error}".replace("\n", " ")]
    found = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:bool" and node.value not in GO_BOOLEANS:
                found.append(f"{name}: line {node.start_mark.line + 1}: write true/false, not {node.value!r}")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in node.value for child in pair)
    return found


def _parse_all(found: Provisioning) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every YAML document parsed (by section), with the problems of those that do not parse."""
    parsed: dict[str, dict[str, Any]] = {"datasources": {}, "providers": {}, "alerting": {}}
    problems = []
    for section in parsed:
        for name, document in getattr(found, section).items():
            if isinstance(document, str):
                text_problems = yaml_problems(name, document)
                problems += text_problems
                if any("not valid YAML" in problem for problem in text_problems):
                    continue
                document = yaml.safe_load(document) or {}
            parsed[section][name] = document
    return parsed, problems


def _parsed_dashboards(found: Provisioning) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every dashboard JSON parsed; a file that does not parse is skipped by Grafana (only logged)."""
    parsed, problems = {}, []
    for name, document in found.dashboards.items():
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as error:
                problems.append(f"dashboards/{name}: not valid JSON ({error}): Grafana skips it")
                continue
        parsed[name] = document
    return parsed, problems


# ---------------------------------------------------------------------------------------------
# Environment expansion


def _expansion_problems(name: str, document: Any, env: dict[str, str], raw: Callable[[str], bool]) -> list[str]:
    """Variables a value names that are unset or empty in Grafana's environment (they expand to "")."""
    problems = []
    for path, value in _walk(document):
        if isinstance(value, str) and "$" in value and not raw(path):
            unset: set[str] = set()
            expand(value, env, unset)
            for variable in sorted(unset):
                problems.append(f"{name}: {path}: ${variable} is unset or empty in Grafana's environment, "
                                f"it expands to nothing (write $$ for a literal $)")
    return problems


def expanded(document: Any, env: dict[str, str], raw: Callable[[str], bool] = lambda path: False) -> Any:
    """A copy of `document` with every string expanded as Grafana does, except at `raw` paths."""
    def visit(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {key: visit(value, f"{path}.{key}" if path else str(key)) for key, value in node.items()}
        if isinstance(node, list):
            return [visit(value, f"{path}[{index}]") for index, value in enumerate(node)]
        if isinstance(node, str) and not raw(path):
            return expand(node, env)
        return node

    return visit(document, "")


def alerting_raw_path(path: str) -> bool:
    """Alerting values Grafana does not expand: query models, annotations, notification templates."""
    return bool(re.search(r"\.data\[\d+\]\.model\b|\.annotations\b|^templates\[\d+\]\.template$", path))


# ---------------------------------------------------------------------------------------------
# Datasources


def datasource_problems(documents: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Datasource files: keys, pinned uids, one default per org, booleans, env variables."""
    problems: list[str] = []
    defaults: Counter[int] = Counter()
    for name, document in documents.items():
        problems += _unknown_keys(name, document, DATASOURCE_ROOT_KEYS)
        if document.get("apiVersion") != 1:
            problems.append(f"{name}: apiVersion must be 1")
        problems += _expansion_problems(name, document, env, lambda path: False)
        for index, datasource in enumerate(document.get("datasources") or []):
            where = f"{name}: datasources[{index}]"
            problems += _unknown_keys(where, datasource, DATASOURCE_KEYS)
            for key in ("isDefault", "editable", "basicAuth", "withCredentials"):
                problems += _bool_field(where, datasource, key)
            if not isinstance(datasource.get("uid"), str) or not UID.fullmatch(datasource["uid"]):
                problems.append(f"{where}: uid must be pinned, <= 40 of [a-zA-Z0-9-_] (dashboards and rules name it)")
            if not datasource.get("name") or not datasource.get("type"):
                problems.append(f"{where}: name and type are required")
            if datasource.get("isDefault") is True:
                defaults[datasource.get("orgId", 1)] += 1
            interval = (datasource.get("jsonData") or {}).get("timeInterval")
            if interval is not None and duration_s(interval) is None:
                problems.append(f"{where}: jsonData.timeInterval {interval!r} is not a duration")
    problems += [f"org {org}: {count} datasources have isDefault: true (at most one)"
                 for org, count in defaults.items() if count > 1]
    return problems


def provisioned_datasources(documents: dict[str, Any]) -> dict[str, str]:
    """uid -> type of every provisioned datasource."""
    return {datasource["uid"]: datasource.get("type", "") for document in documents.values()
            for datasource in document.get("datasources") or [] if isinstance(datasource, dict) and "uid" in datasource}


# ---------------------------------------------------------------------------------------------
# Dashboard providers


def provider_problems(documents: dict[str, Any], env: dict[str, str], mounts: dict[str, str]) -> list[str]:
    """Dashboard provider files: keys, unique names, folders, and a path where compose mounts the JSON."""
    problems, names = [], []
    json_mount = mounts.get("./grafana/dashboards")
    for name, document in documents.items():
        problems += _unknown_keys(name, document, PROVIDER_ROOT_KEYS)
        if document.get("apiVersion") != 1:
            problems.append(f"{name}: apiVersion must be 1")
        problems += _expansion_problems(name, document, env, lambda path: False)
        for index, provider in enumerate(document.get("providers") or []):
            where = f"{name}: providers[{index}]"
            problems += _unknown_keys(where, provider, PROVIDER_KEYS)
            problems += _unknown_keys(f"{where}.options", provider.get("options") or {}, PROVIDER_OPTION_KEYS)
            for key in ("disableDeletion", "allowUiUpdates"):
                problems += _bool_field(where, provider, key)
            names.append(provider.get("name"))
            options = provider.get("options") or {}
            path = options.get("path")
            if not isinstance(path, str) or not path:
                problems.append(f"{where}: options.path is required")
            elif path.rstrip("/") != json_mount:
                problems.append(f"{where}: options.path {path} is not where compose mounts ./grafana/dashboards "
                                f"({json_mount}): every dashboard would be missing")
            if provider.get("type", "file") != "file":
                problems.append(f"{where}: type must be file")
            if options.get("foldersFromFilesStructure") and (provider.get("folder") or provider.get("folderUid")):
                problems.append(f"{where}: foldersFromFilesStructure excludes folder and folderUid")
            if provider.get("folderUid") is not None and not UID.fullmatch(str(provider["folderUid"])):
                problems.append(f"{where}: folderUid {provider['folderUid']!r} is not a valid uid")
    problems += [f"dashboard provider name {dup!r} is used twice (fatal)" for dup in _duplicates(names)]
    return problems


# ---------------------------------------------------------------------------------------------
# Dashboards


def _declared_variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A dashboard's template variables by name."""
    return {variable.get("name"): variable for variable in (model.get("templating") or {}).get("list", [])}


def _datasource_problems(where: str, datasource: Any, uids: dict[str, str], variables: dict[str, Any]) -> list[str]:
    """A panel's or target's datasource must be the provisioned Prometheus (by uid) or a datasource variable."""
    if not isinstance(datasource, dict):
        return [f"{where}: datasource must be {{type, uid}} of a provisioned datasource, got {datasource!r}"]
    uid = str(datasource.get("uid", ""))
    if match := re.fullmatch(r"\$\{?(\w+)\}?", uid):
        if (variables.get(match[1]) or {}).get("type") == "datasource":
            return []
        return [f"{where}: datasource {uid} is no datasource variable of this dashboard"]
    if uid not in uids:
        return [f"{where}: datasource uid {uid!r} is not provisioned (the panel would say No data)"]
    if datasource.get("type") != uids[uid]:
        return [f"{where}: datasource type {datasource.get('type')!r} is not {uids[uid]!r}"]
    return []


def _grid_problems(where: str, panel: dict[str, Any]) -> list[str]:
    """gridPos on Grafana's 24-column grid."""
    grid = panel.get("gridPos")
    if not isinstance(grid, dict) or not all(isinstance(grid.get(key), int) for key in ("x", "y", "w", "h")):
        return [f"{where}: gridPos needs integer x, y, w, h"]
    if grid["x"] < 0 or grid["y"] < 0 or grid["w"] < 1 or grid["h"] < 1 or grid["x"] + grid["w"] > GRID_COLUMNS:
        return [f"{where}: gridPos {grid} is off the {GRID_COLUMNS}-column grid"]
    return []


def _overlaps(name: str, panels: list[dict[str, Any]]) -> list[str]:
    """Panels sharing grid cells (Grafana pushes one of them somewhere else)."""
    taken: dict[tuple[int, int], str] = {}
    problems = []
    for panel in panels:
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(key), int) for key in ("x", "y", "w", "h")):
            continue
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        clash = {taken[cell] for cell in cells if cell in taken}
        if clash:
            problems.append(f"{name}: panel {panel.get('title')!r} overlaps {sorted(clash)}")
        taken.update(dict.fromkeys(cells, str(panel.get("title"))))
    return problems


def _query_text_problems(where: str, expr: str, variables: dict[str, Any]) -> list[str]:
    """Variables in a PromQL expression: declared, matched with =~ when multi-valued; sane range windows."""
    problems = []
    for match in re.finditer(r"\$\{?(\w+)(?::\w+)?\}?|\[\[(\w+)\]\]", expr):
        name = match[1] or match[2]
        if name.startswith("__"):
            continue
        if name not in variables:
            problems.append(f"{where}: ${name} is not a template variable of this dashboard")
            continue
        variable = variables[name]
        multi = variable.get("multi") or variable.get("includeAll")
        if multi and not re.search(r"[=!]~\s*\"[^\"]*$", expr[:match.start()]):
            problems.append(f"{where}: ${name} is multi-value/All (a regex): match it with =~, not =")
    for window in re.findall(r"\[([^\]]+)\]", re.sub(r"\[\[\w+\]\]", "", expr)):
        if window not in ("$__rate_interval", "$__range", "${__rate_interval}", "${__range}"):
            problems.append(f"{where}: range [{window}]: use $__rate_interval (or $__range for totals over the range)")
    return problems


def _panel_problems(where: str, panel: dict[str, Any], uids: dict[str, str],
                    variables: dict[str, Any]) -> list[str]:
    """One panel: React type, grid, datasource, unique refIds, non-empty expressions, repeat variable."""
    problems = []
    if panel.get("type") not in REACT_PANELS:
        problems.append(f"{where}: type {panel.get('type')!r} is not a React panel (Angular panels were removed)")
    problems += _grid_problems(where, panel)
    targets = panel.get("targets") or []
    if targets and "datasource" not in panel:
        problems.append(f"{where}: a panel with targets needs its datasource")
    elif targets:
        problems += _datasource_problems(where, panel["datasource"], uids, variables)
    refs = [target.get("refId") for target in targets]
    problems += [f"{where}: refId {ref!r} is used twice" for ref in _duplicates(refs)]
    for target in targets:
        at = f"{where} target {target.get('refId')}"
        if not target.get("refId"):
            problems.append(f"{at}: refId is required")
        problems += _datasource_problems(at, target.get("datasource"), uids, variables)
        if not str(target.get("expr", "")).strip():
            problems.append(f"{at}: empty expr")
        problems += _query_text_problems(at, str(target.get("expr", "")), variables)
    repeat = panel.get("repeat")
    if repeat and not ((variables.get(repeat) or {}).get("multi") or (variables.get(repeat) or {}).get("includeAll")):
        problems.append(f"{where}: repeats over {repeat!r}, which is no multi-value variable")
    return problems


def _variable_problems(name: str, model: dict[str, Any], uids: dict[str, str]) -> list[str]:
    """Template variables: names unique, query variables on a provisioned datasource."""
    variables = (model.get("templating") or {}).get("list", [])
    problems = [f"{name}: variable {dup!r} declared twice" for dup in _duplicates([v.get("name") for v in variables])]
    declared = _declared_variables(model)
    for variable in variables:
        if variable.get("type") == "query":
            where = f"{name}: variable {variable.get('name')}"
            problems += _datasource_problems(where, variable.get("datasource"), uids, declared)
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else query
            if not str(text or "").strip():
                problems.append(f"{where}: empty query")
    return problems


def dashboard_problems(name: str, model: dict[str, Any], uids: dict[str, str]) -> list[str]:
    """One dashboard: what makes Grafana skip it, and what makes its panels empty."""
    where = f"dashboards/{name}"
    problems = []
    if not str(model.get("title", "")).strip():
        problems.append(f"{where}: empty title (Grafana skips the file)")
    if not isinstance(model.get("uid"), str) or not DASHBOARD_UID.fullmatch(model["uid"]):
        problems.append(f"{where}: uid must be pinned, <= 40 of [a-z0-9-]")
    if model.get("schemaVersion") not in SCHEMA_VERSIONS:
        problems.append(f"{where}: schemaVersion {model.get('schemaVersion')} is outside 36-41")
    text = json.dumps(model)
    if "__inputs" in model or "${DS_" in text:
        problems.append(f"{where}: __inputs/${{DS_...}} placeholders are only resolved by the UI import dialog")
    variables = _declared_variables(model)
    problems += _variable_problems(where, model, uids)
    top = model.get("panels") or []
    nested = [inner for panel in top for inner in panel.get("panels") or []]
    ids = [panel.get("id") for panel in top + nested]
    problems += [f"{where}: panel id {dup} is used twice" for dup in _duplicates(ids)]
    problems += [f"{where}: a panel has no integer id" for panel_id in ids if not isinstance(panel_id, int)]
    for panel in top + nested:
        problems += _panel_problems(f"{where} panel {panel.get('id')} ({panel.get('title')})", panel, uids, variables)
    problems += _overlaps(where, [panel for panel in top if not panel.get("collapsed")])
    return problems


def dashboards_problems(models: dict[str, dict[str, Any]], uids: dict[str, str]) -> list[str]:
    """Every dashboard, and uids and titles unique across them (one provider folder)."""
    problems = []
    for name, model in models.items():
        problems += dashboard_problems(name, model, uids)
    problems += [f"dashboard uid {dup!r} is used twice (which one loads is undefined)"
                 for dup in _duplicates([model.get("uid") for model in models.values()])]
    problems += [f"dashboard title {dup!r} is used twice in the folder"
                 for dup in _duplicates([model.get("title") for model in models.values()])]
    return problems


# ---------------------------------------------------------------------------------------------
# Alerting: rules


def _expression_refs(model: dict[str, Any]) -> list[str]:
    """The refIds an expression reads."""
    kind = model.get("type")
    if kind == "math":
        return re.findall(r"\$\{?([A-Za-z_][\w]*)\}?", str(model.get("expression", "")))
    if kind in ("reduce", "threshold", "resample"):
        return [str(model.get("expression", "")).lstrip("$")]
    if kind == "classic_conditions":
        return [params for condition in model.get("conditions") or []
                for params in (condition.get("query") or {}).get("params") or []]
    return []


def _expression_problems(where: str, model: dict[str, Any], ref_ids: set[str], own: str) -> list[str]:
    """A server-side expression's model: type, inputs that exist, reducer, evaluator."""
    kind = model.get("type")
    if kind not in EXPRESSION_TYPES:
        return [f"{where}: expression type {kind!r} is none of {sorted(EXPRESSION_TYPES)}"]
    problems = []
    refs = _expression_refs(model)
    if not refs or not all(refs):
        problems.append(f"{where}: the {kind} expression reads no refId")
    for ref in refs:
        if ref and (ref not in ref_ids or ref == own):
            problems.append(f"{where}: reads {ref!r}, which is no other step of the rule")
    if kind == "reduce":
        if model.get("reducer") not in REDUCERS:
            problems.append(f"{where}: reducer {model.get('reducer')!r} is none of {sorted(REDUCERS)}")
        settings = model.get("settings") or {}
        if settings.get("mode", "") not in ("", "dropNN", "replaceNN"):
            problems.append(f"{where}: reduce mode {settings.get('mode')!r} is none of '', dropNN, replaceNN")
        if settings.get("mode") == "replaceNN" and not isinstance(settings.get("replaceWithValue"), (int, float)):
            problems.append(f"{where}: replaceNN needs a numeric replaceWithValue")
    if kind == "threshold":
        problems += _threshold_problems(where, model)
    return problems


def _threshold_problems(where: str, model: dict[str, Any]) -> list[str]:
    """A threshold expression: exactly one condition, a known evaluator with numeric params."""
    conditions = model.get("conditions") or []
    if len(conditions) != 1:
        return [f"{where}: a threshold needs exactly one condition, has {len(conditions)}"]
    evaluator = conditions[0].get("evaluator") or {}
    expected = EVALUATOR_PARAMS.get(str(evaluator.get("type")))
    params = evaluator.get("params")
    if expected is None:
        return [f"{where}: evaluator type {evaluator.get('type')!r} is none of {sorted(EVALUATOR_PARAMS)}"]
    if not isinstance(params, list) or len(params) < expected or not all(isinstance(p, (int, float)) for p in params):
        return [f"{where}: evaluator {evaluator.get('type')} needs {expected} numeric params, got {params!r}"]
    return []


def _query_step_problems(where: str, step: dict[str, Any], uids: dict[str, str]) -> list[str]:
    """One step of a rule: keys, time range, datasource, and its model."""
    problems = _unknown_keys(where, step, QUERY_KEYS)
    window = step.get("relativeTimeRange") or {}
    start, end = window.get("from", 0), window.get("to", 0)
    if not isinstance(start, int) or not isinstance(end, int) or not start >= end >= 0:
        problems.append(f"{where}: relativeTimeRange needs integer seconds with from >= to >= 0")
    uid = step.get("datasourceUid")
    model = step.get("model")
    if not isinstance(model, dict):
        return [*problems, f"{where}: model is required"]
    if model.get("refId", step.get("refId")) != step.get("refId"):
        problems.append(f"{where}: model.refId {model.get('refId')!r} differs from refId {step.get('refId')!r}")
    if uid != EXPRESSION_UID and uid not in uids:
        problems.append(f"{where}: datasourceUid {uid!r} is not provisioned (the rule would sit in Error)")
    if uid not in (EXPRESSION_UID, None) and "datasource" in model and (model["datasource"] or {}).get("uid") != uid:
        problems.append(f"{where}: model.datasource.uid differs from datasourceUid")
    if uid != EXPRESSION_UID and uids.get(str(uid)) == "prometheus" and not str(model.get("expr", "")).strip():
        problems.append(f"{where}: a Prometheus step needs an expr")
    return problems


def _rule_problems(where: str, rule: dict[str, Any], interval_s: float | None, uids: dict[str, str],
                   panels: dict[str, set[int]], receivers: set[str]) -> list[str]:
    """One rule: identity, condition, steps, states, durations, labels, annotations, links."""
    problems = _unknown_keys(where, rule, RULE_KEYS)
    if not isinstance(rule.get("uid"), str) or not UID.fullmatch(rule["uid"]):
        problems.append(f"{where}: uid is required, <= 40 of [a-zA-Z0-9-_]")
    if not str(rule.get("title", "")).strip():
        problems.append(f"{where}: title is required")
    steps = rule.get("data") or []
    if not steps:
        problems.append(f"{where}: data is required")
    refs = [step.get("refId") for step in steps]
    problems += [f"{where}: refId {dup!r} is used twice (silently accepted, then one step is lost)"
                 for dup in _duplicates(refs)]
    if rule.get("condition") not in refs:
        problems.append(f"{where}: condition {rule.get('condition')!r} is no refId of its data (silently accepted)")
    for step in steps:
        at = f"{where} step {step.get('refId')}"
        problems += _query_step_problems(at, step, uids)
        if step.get("datasourceUid") == EXPRESSION_UID and isinstance(step.get("model"), dict):
            problems += _expression_problems(at, step["model"], set(refs), step.get("refId"))
    problems += _rule_state_problems(where, rule, interval_s)
    problems += _rule_text_problems(where, rule)
    problems += _rule_link_problems(where, rule, panels, receivers)
    return problems


def _rule_state_problems(where: str, rule: dict[str, Any], interval_s: float | None) -> list[str]:
    """noDataState, execErrState, for, isPaused."""
    problems = []
    if rule.get("noDataState", "NoData") not in NO_DATA_STATES:
        problems.append(f"{where}: noDataState {rule.get('noDataState')!r} is none of {sorted(NO_DATA_STATES)}")
    if rule.get("execErrState", "Error") not in EXEC_ERR_STATES:
        problems.append(f"{where}: execErrState {rule.get('execErrState')!r} is none of {sorted(EXEC_ERR_STATES)}")
    pending = duration_s(rule.get("for", "0"))
    if pending is None:
        problems.append(f"{where}: for {rule.get('for')!r} is not a duration")
    elif interval_s and pending % interval_s:
        problems.append(f"{where}: for {rule.get('for')} is no multiple of the group interval (rounded up silently)")
    problems += _bool_field(where, rule, "isPaused")
    return problems


def _rule_text_problems(where: str, rule: dict[str, Any]) -> list[str]:
    """Labels are valid names with string values; annotations are never env-expanded, so no $$ or ${...}."""
    problems = []
    for key, value in (rule.get("labels") or {}).items():
        if not LABEL_NAME.fullmatch(str(key)) or not isinstance(value, str):
            problems.append(f"{where}: label {key!r}: {value!r} needs a label name and a string value")
    for key, value in (rule.get("annotations") or {}).items():
        if not isinstance(value, str):
            problems.append(f"{where}: annotation {key} must be a string")
        elif "$$" in value or "${" in value:
            problems.append(f"{where}: annotation {key}: annotations are not env-expanded (up to 12.x): "
                            f"$$ stays $$ and breaks the template; use {{{{ .Labels.x }}}}")
    return problems


def _rule_link_problems(where: str, rule: dict[str, Any], panels: dict[str, set[int]],
                        receivers: set[str]) -> list[str]:
    """dashboardUid/panelId name a real panel; notification_settings name a real contact point."""
    problems = []
    dashboard_uid, panel_id = rule.get("dashboardUid"), rule.get("panelId")
    if panel_id is not None and not dashboard_uid:
        problems.append(f"{where}: panelId needs dashboardUid")
    if dashboard_uid and dashboard_uid not in panels:
        problems.append(f"{where}: dashboardUid {dashboard_uid!r} is no provisioned dashboard")
    elif dashboard_uid and panel_id is not None and panel_id not in panels[dashboard_uid]:
        problems.append(f"{where}: panelId {panel_id} is no panel of {dashboard_uid}")
    receiver = (rule.get("notification_settings") or {}).get("receiver")
    if "notification_settings" in rule and receiver not in receivers:
        problems.append(f"{where}: notification_settings.receiver {receiver!r} is no contact point")
    return problems


def rules_problems(documents: dict[str, Any], uids: dict[str, str], panels: dict[str, set[int]],
                   receivers: set[str]) -> list[str]:
    """Every rule group of every alerting file, and uids/titles unique across them."""
    problems, rule_uids, titles, groups = [], [], [], []
    for name, document in documents.items():
        for index, group in enumerate(document.get("groups") or []):
            where = f"{name}: groups[{index}] ({group.get('name')})"
            problems += _unknown_keys(where, group, GROUP_KEYS)
            if not str(group.get("name", "")).strip() or not str(group.get("folder", "")).strip():
                problems.append(f"{where}: name and folder are required (fatal)")
            interval = duration_s(group.get("interval"))
            if interval is None or interval <= 0 or interval % 10:
                problems.append(f"{where}: interval {group.get('interval')!r} must be a multiple of 10s")
            groups.append((group.get("folder"), group.get("name")))
            for rule in group.get("rules") or []:
                problems += _rule_problems(f"{where} rule {rule.get('uid')}", rule, interval, uids, panels, receivers)
                rule_uids.append(rule.get("uid"))
                titles.append((group.get("folder"), rule.get("title")))
    problems += [f"rule uid {dup!r} is used twice" for dup in _duplicates(rule_uids)]
    problems += [f"rule title {dup[1]!r} is used twice in folder {dup[0]!r}" for dup in _duplicates(titles)]
    problems += [f"rule group {dup[1]!r} is defined twice in folder {dup[0]!r}" for dup in _duplicates(groups)]
    return problems


# ---------------------------------------------------------------------------------------------
# Alerting: contact points, templates, policies


def _template_names(documents: dict[str, Any]) -> set[str]:
    """Names `define`d by the provisioned notification templates."""
    return {name for document in documents.values() for template in document.get("templates") or []
            for name in re.findall(r'define\s+"([^"]+)"', str(template.get("template", "")))}


def _go_template_problems(where: str, text: str) -> list[str]:
    """Balanced {{ }} and block actions (if/range/with/define/block ... end)."""
    if text.count("{{") != text.count("}}"):
        return [f"{where}: unbalanced {{{{ }}}}"]
    depth = 0
    for action in re.findall(r"\{\{-?\s*(\w+)", text):
        depth += action in ("if", "range", "with", "define", "block")
        depth -= action == "end"
        if depth < 0:
            return [f"{where}: an {{{{ end }}}} closes nothing"]
    return [f"{where}: {depth} block(s) never closed with {{{{ end }}}}"] if depth else []


def templates_problems(documents: dict[str, Any]) -> list[str]:
    """Notification templates: keys, names, well-formed Go templates."""
    problems, names = [], []
    for name, document in documents.items():
        for index, template in enumerate(document.get("templates") or []):
            where = f"{name}: templates[{index}]"
            problems += _unknown_keys(where, template, TEMPLATE_KEYS)
            names.append(template.get("name"))
            if not str(template.get("name", "")).strip() or not str(template.get("template", "")).strip():
                problems.append(f"{where}: name and template are required")
            problems += _go_template_problems(where, str(template.get("template", "")))
    return problems + [f"template {dup!r} is defined twice" for dup in _duplicates(names)]


def contact_point_problems(documents: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Contact points as Grafana reads them after env expansion: non-empty addresses above all."""
    problems, names, receiver_uids = [], [], []
    templates = _template_names(documents)
    for name, document in documents.items():
        view = expanded(document, env, alerting_raw_path)
        for index, point in enumerate(view.get("contactPoints") or []):
            where = f"{name}: contactPoints[{index}] ({point.get('name')})"
            problems += _unknown_keys(where, point, CONTACT_POINT_KEYS)
            names.append(point.get("name"))
            if not str(point.get("name", "")).strip():
                problems.append(f"{where}: name is required (fatal)")
            for receiver in point.get("receivers") or []:
                problems += _receiver_problems(f"{where} receiver {receiver.get('uid')}", receiver, templates)
                receiver_uids.append(receiver.get("uid"))
    problems += [f"contact point {dup!r} is defined twice" for dup in _duplicates(names)]
    problems += [f"receiver uid {dup!r} is used twice" for dup in _duplicates(receiver_uids)]
    return problems


def _receiver_problems(where: str, receiver: dict[str, Any], templates: set[str]) -> list[str]:
    """One (expanded) receiver: uid, type, settings; for email, at least one address."""
    problems = _unknown_keys(where, receiver, RECEIVER_KEYS) + _bool_field(where, receiver, "disableResolveMessage")
    if not str(receiver.get("uid", "")).strip() or not UID.fullmatch(str(receiver.get("uid"))):
        problems.append(f"{where}: uid is required, <= 40 of [a-zA-Z0-9-_] (fatal)")
    settings = receiver.get("settings") or {}
    if not settings:
        problems.append(f"{where}: settings are required (fatal)")
    if receiver.get("type") != "email":
        return problems + ([f"{where}: type is required (fatal)"] if not receiver.get("type") else [])
    problems += _unknown_keys(f"{where}.settings", settings, EMAIL_SETTINGS_KEYS)
    problems += _bool_field(f"{where}.settings", settings, "singleEmail")
    addresses = [part.strip() for part in re.split(r"[;,\n]", str(settings.get("addresses") or "")) if part.strip()]
    if not addresses:
        problems.append(f"{where}: addresses expand to nothing: Grafana refuses to start")
    problems += [f"{where}: {address!r} is not an email address" for address in addresses
                 if not re.fullmatch(r"[^@\s]+@[^@\s]+", address)]
    for key in ("subject", "message"):
        for used in re.findall(r'template\s+"([^"]+)"', str(settings.get(key, ""))):
            if used not in templates:
                problems.append(f"{where}: {key} uses template {used!r}, which no provisioned template defines")
    return problems


def _route_problems(where: str, route: dict[str, Any], receivers: set[str], mute_times: set[str]) -> list[str]:
    """A policy route and its children: receivers and mute timings exist, matchers well formed."""
    problems = _unknown_keys(where, route, ROUTE_KEYS)
    if "receiver" in route and route["receiver"] not in receivers:
        problems.append(f"{where}: receiver {route['receiver']!r} is no contact point (fatal)")
    for matcher in route.get("object_matchers") or []:
        if not (isinstance(matcher, list) and len(matcher) == 3 and all(isinstance(part, str) for part in matcher)):
            problems.append(f"{where}: object matcher {matcher!r} must be [label, operator, value] strings")
        elif matcher[1] not in MATCHER_OPERATORS or not LABEL_NAME.fullmatch(matcher[0]):
            problems.append(f"{where}: object matcher {matcher!r}: bad label or operator")
    problems += _bool_field(where, route, "continue")
    problems += _policy_timing_problems(where, route)
    for timing in (route.get("mute_time_intervals") or []) + (route.get("active_time_intervals") or []):
        if timing not in mute_times:
            problems.append(f"{where}: time interval {timing!r} is not defined (fatal)")
    for index, child in enumerate(route.get("routes") or []):
        problems += _route_problems(f"{where}.routes[{index}]", child, receivers, mute_times)
    return problems


def _policy_timing_problems(where: str, route: dict[str, Any]) -> list[str]:
    """group_by without duplicates; durations that parse."""
    problems = [f"{where}: group_by lists {dup!r} twice" for dup in _duplicates(route.get("group_by") or [])]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in route and duration_s(route[key]) is None:
            problems.append(f"{where}: {key} {route[key]!r} is not a duration")
    return problems


def policy_problems(documents: dict[str, Any], env: dict[str, str], receivers: set[str]) -> list[str]:
    """The notification policy tree (one per org): root receiver, no root matchers, routes."""
    problems, orgs = [], []
    mute_times = {timing.get("name") for document in documents.values() for timing in document.get("muteTimes") or []}
    for name, document in documents.items():
        view = expanded(document, env, alerting_raw_path)
        for index, policy in enumerate(view.get("policies") or []):
            where = f"{name}: policies[{index}]"
            orgs.append(policy.get("orgId", 1))
            problems += _unknown_keys(where, policy, POLICY_ROOT_KEYS)
            if policy.get("receiver") not in receivers:
                problems.append(f"{where}: root receiver {policy.get('receiver')!r} is no contact point (fatal)")
            child = {key: value for key, value in policy.items() if key in ROUTE_KEYS}
            problems += _route_problems(where, child, receivers, mute_times)
    problems += [f"org {org}: more than one policy tree (each replaces the whole tree)" for org in _duplicates(orgs)]
    return problems


def alerting_problems(documents: dict[str, Any], env: dict[str, str], uids: dict[str, str],
                      panels: dict[str, set[int]]) -> list[str]:
    """The alerting files: root keys, env expansion, rules, templates, contact points, policies."""
    problems = []
    receivers = {str(point.get("name")) for document in documents.values()
                 for point in expanded(document, env, alerting_raw_path).get("contactPoints") or []}
    for name, document in documents.items():
        problems += _unknown_keys(name, document, ALERTING_ROOT_KEYS)
        if document.get("apiVersion") != 1:
            problems.append(f"{name}: apiVersion must be 1")
        problems += _expansion_problems(name, document, env, alerting_raw_path)
    problems += rules_problems(documents, uids, panels, receivers)
    problems += templates_problems(documents)
    problems += contact_point_problems(documents, env)
    problems += policy_problems(documents, env, receivers)
    return problems


# ---------------------------------------------------------------------------------------------
# Everything


def mount_problems(mounts: dict[str, str]) -> list[str]:
    """Compose must mount the provisioning directory where Grafana reads it."""
    if mounts.get("./grafana/provisioning") != PROVISIONING_MOUNT:
        return [f"compose does not mount ./grafana/provisioning at {PROVISIONING_MOUNT}"]
    return []


def problems(found: Provisioning) -> list[str]:
    """Every problem in the provisioned files, as readable sentences; [] when Grafana would be happy."""
    parsed, found_problems = _parse_all(found)
    models, json_problems = _parsed_dashboards(found)
    found_problems += json_problems + mount_problems(found.mounts)
    found_problems += [f"{name}: Grafana does not read this file (wrong extension or nested)" for name in found.ignored]
    uids = provisioned_datasources(parsed["datasources"])
    panels = {str(model.get("uid")): {panel.get("id") for panel in model.get("panels") or []}
              | {inner.get("id") for panel in model.get("panels") or [] for inner in panel.get("panels") or []}
              for model in models.values()}
    found_problems += datasource_problems(parsed["datasources"], found.env)
    found_problems += provider_problems(parsed["providers"], found.env, found.mounts)
    found_problems += dashboards_problems(models, uids)
    found_problems += alerting_problems(parsed["alerting"], found.env, uids, panels)
    return found_problems


def parsed(found: Provisioning) -> Provisioning:
    """A copy of `found` with every document parsed (YAML and JSON), convenient to mutate."""
    documents, _ = _parse_all(found)
    models, _ = _parsed_dashboards(found)
    result = found.copy()
    result.datasources, result.providers, result.alerting = (
        documents["datasources"], documents["providers"], documents["alerting"])
    result.dashboards = models
    return result


def route(labels: dict[str, str], documents: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    """The contact points an alert with `labels` reaches through the (expanded) policy tree."""
    for document in documents.values():
        for policy in expanded(document, env or {}, alerting_raw_path).get("policies") or []:
            return _route_receivers(policy, labels, policy["receiver"])
    return []


def _route_receivers(node: dict[str, Any], labels: dict[str, str], inherited: str) -> list[str]:
    """Alertmanager routing: the first matching child (more with continue), else this node."""
    receiver = node.get("receiver", inherited)
    reached = []
    for child in node.get("routes") or []:
        matchers = child.get("object_matchers") or []
        if all(_matches(labels.get(name, ""), operator, value) for name, operator, value in matchers):
            reached += _route_receivers(child, labels, receiver)
            if not child.get("continue"):
                break
    return reached or [receiver]


def _matches(actual: str, operator: str, expected: str) -> bool:
    """One Alertmanager matcher."""
    if operator in ("=~", "!~"):
        found = re.fullmatch(expected, actual) is not None
        return found if operator == "=~" else not found
    return (actual == expected) == (operator == "=")
