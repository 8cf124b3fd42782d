"""Grafana's provisioning files checked the way Grafana loads them, and for what it silently accepts.

Grafana is not installable here, so this module does its start-up checks (fatal there: datasources,
dashboard providers) and the ones it skips, which only show later as "No data" or an Alerting page
that cannot reach its Alertmanager (../shared/notes/grafana-provisioning.md). Alert rules are not
Grafana's here: Prometheus evaluates them and Alertmanager mails them, so a Grafana alerting file
(rules or contact points that would mail a second time) is a problem too.

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
# Grafana's Alertmanager datasource speaks to one of these; without jsonData.implementation it
# assumes Mimir's API paths, which Prometheus's Alertmanager does not serve.
ALERTMANAGER_IMPLEMENTATIONS = {"prometheus", "mimir", "cortex"}
PROVIDER_ROOT_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {
    "name", "orgId", "folder", "folderUid", "type", "disableDeletion", "updateIntervalSeconds",
    "allowUiUpdates", "options",
}
PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}
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
        if not path.is_file() or path.name == "README.md":  # says why a folder is empty; meant to be skipped
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
            if datasource.get("type") == "alertmanager":
                problems += _alertmanager_datasource_problems(where, datasource)
    problems += [f"org {org}: {count} datasources have isDefault: true (at most one)"
                 for org, count in defaults.items() if count > 1]
    return problems


def _alertmanager_datasource_problems(where: str, datasource: dict[str, Any]) -> list[str]:
    """An Alertmanager datasource: a URL, its implementation named, booleans that are booleans."""
    problems = []
    json_data = datasource.get("jsonData") or {}
    if not str(datasource.get("url", "")).strip():
        problems.append(f"{where}: an alertmanager datasource needs a url")
    implementation = json_data.get("implementation")
    if implementation is None:
        problems.append(f"{where}: jsonData.implementation is unset: Grafana then assumes Mimir's API, and the "
                        f"Alerting pages of Prometheus's Alertmanager fail")
    elif implementation not in ALERTMANAGER_IMPLEMENTATIONS:
        problems.append(f"{where}: jsonData.implementation {implementation!r} is not one of "
                        f"{sorted(ALERTMANAGER_IMPLEMENTATIONS)}")
    problems += _bool_field(f"{where}.jsonData", json_data, "handleGrafanaManagedAlerts")
    if datasource.get("isDefault") is True:
        problems.append(f"{where}: an alertmanager datasource cannot answer queries: it must not be the default")
    return problems


def one_alert_path_problems(found: "Provisioning", documents: dict[str, Any]) -> list[str]:
    """The project's alerting: Prometheus's rules, Alertmanager's mail, Grafana only showing them.

    Exactly one Alertmanager datasource, Prometheus's implementation, not fed Grafana's own rules; and no
    Grafana alerting file (rules, contact points, policies), which would evaluate and mail a second time.
    """
    problems = [f"{name}: Grafana-managed alerting is provisioned: alert rules live in prometheus/rules and "
                f"Alertmanager mails them; a second path would mail every alert twice" for name in found.alerting]
    managers = [datasource for document in documents.values() for datasource in document.get("datasources") or []
                if isinstance(datasource, dict) and datasource.get("type") == "alertmanager"]
    if len(managers) != 1:
        return problems + [f"{len(managers)} alertmanager datasources: Grafana's Alerting pages need exactly one"]
    json_data = managers[0].get("jsonData") or {}
    if json_data.get("implementation") != "prometheus":
        problems.append(f"the alertmanager datasource's implementation is {json_data.get('implementation')!r}, "
                        f"not 'prometheus', the Alertmanager compose runs")
    if json_data.get("handleGrafanaManagedAlerts") is not False:
        problems.append("the alertmanager datasource must set handleGrafanaManagedAlerts: false (rules added in "
                        "Grafana's UI mail through Grafana's own SMTP, not a second time through Alertmanager)")
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
    # last_over_time(x[1d]) is "the last value seen within a day": its fixed window is a horizon (an alert
    # rule's, shared with its tile), not a resolution that should follow the step.
    horizons_removed = re.sub(r"last_over_time\([^\[]*\[[^\]]+\]\)", "", re.sub(r"\[\[\w+\]\]", "", expr))
    for window in re.findall(r"\[([^\]]+)\]", horizons_removed):
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
    found_problems += datasource_problems(parsed["datasources"], found.env)
    found_problems += one_alert_path_problems(found, parsed["datasources"])
    found_problems += provider_problems(parsed["providers"], found.env, found.mounts)
    found_problems += dashboards_problems(models, uids)
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
