"""Config validation: every bad input is refused at start with a message naming the field, exit 2."""

import pytest

from .helpers import SERVICE_DIR, config, run_scheduler, write_config

GOOD_TASK = {"name": "t", "interval": 5, "timeout": 1, "command": ["true"]}


def _with(**changes):
    """GOOD_TASK with keys changed (a value of None removes the key)."""
    task = dict(GOOD_TASK)
    for key, value in changes.items():
        if value is None:
            task.pop(key, None)
        else:
            task[key] = value
    return task


# (file content, the message: field path and problem)
BAD_CONFIGS = [
    ({"tasks": [_with(intervall=5)]}, "tasks[0] (t).intervall: unknown key"),
    ({"tasks": [GOOD_TASK], "taks": []}, "taks: unknown key"),
    ({"tasks": [_with(cron="* * * * *")]}, "tasks[0] (t): exactly one of 'cron' or 'interval' is required"),
    ({"tasks": [_with(interval=None)]}, "tasks[0] (t): exactly one of 'cron' or 'interval' is required"),
    ({"tasks": [_with(interval=None, cron="61 * * * *")]},
     "tasks[0] (t).cron: not a valid 5-field cron expression: '61 * * * *'"),
    ({"tasks": [_with(interval=None, cron="not cron")]}, "tasks[0] (t).cron: not a valid 5-field cron expression"),
    ({"tasks": [_with(interval=None, cron="0 * * * * *")]},
     "tasks[0] (t).cron: not a valid 5-field cron expression"),
    ({"tasks": [_with(interval=None, cron="0 0 30 2 *")]}, "tasks[0] (t).cron: never matches a date: '0 0 30 2 *'"),
    ({"tasks": [_with(interval=None, cron=5)]}, "tasks[0] (t).cron: must be a string, got 5"),
    ({"tasks": [_with(interval=0)]}, "tasks[0] (t).interval: must be > 0, got 0"),
    ({"tasks": [_with(interval=-3)]}, "tasks[0] (t).interval: must be > 0, got -3"),
    ({"tasks": [_with(interval=float("inf"))]}, "tasks[0] (t).interval: must be a finite number"),
    ({"tasks": [_with(timeout=0)]}, "tasks[0] (t).timeout: must be > 0, got 0"),
    ({"tasks": [_with(timeout=None)]}, "tasks[0] (t).timeout: required"),
    ({"tasks": [_with(timeout=True)]}, "tasks[0] (t).timeout: must be a number, got True"),
    ({"tasks": [_with(interval="5")]}, "tasks[0] (t).interval: must be a number, got '5'"),
    ({"tasks": [GOOD_TASK], "kill_grace_seconds": -1}, "kill_grace_seconds: must be > 0, got -1"),
    ({"tasks": [_with(command="echo hi")]}, "tasks[0] (t).command: must be a list, got 'echo hi'"),
    ({"tasks": [_with(command=["echo", 1])]}, "tasks[0] (t).command[1]: must be a string, got 1"),
    ({"tasks": [_with(command=[])]}, "tasks[0] (t).command: must not be empty"),
    ({"tasks": [_with(command=None)]}, "tasks[0] (t): exactly one of 'command' or 'k6' is required"),
    ({"tasks": [_with(k6={"script": "x.js"})]}, "tasks[0] (t): exactly one of 'command' or 'k6' is required"),
    ({"tasks": [_with(command=None, k6={"script": "x.js", "vus": 3})]}, "tasks[0] (t).k6.vus: unknown key"),
    ({"tasks": [_with(command=None, k6={"args": []})]}, "tasks[0] (t).k6.script: required"),
    ({"tasks": [_with(command=None, k6={"script": ""})]}, "tasks[0] (t).k6.script: must not be empty"),
    ({"tasks": [_with(command=None, k6="x.js")]}, "tasks[0] (t).k6: must be a mapping, got 'x.js'"),
    ({"tasks": [_with(name="bad name")]}, "tasks[0] (bad name).name: must match ^[A-Za-z0-9_.-]+$, got 'bad name'"),
    ({"tasks": [GOOD_TASK, _with(name="u"), GOOD_TASK]}, "duplicate task name(s): t"),
    ({"tasks": []}, "tasks: must not be empty"),
    ({"tasks": ["echo"]}, "tasks[0]: must be a mapping, got 'echo'"),
    ({"tasks": [GOOD_TASK, _with(name="u", timeout=-1)]}, "tasks[1] (u).timeout: must be > 0, got -1"),
]


@pytest.mark.parametrize(("content", "message"), BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config_is_refused_in_process(tmp_path, content, message):
    """The validator rejects each bad config with a message naming the field and the problem."""
    with pytest.raises(config.ConfigError) as info:
        config.load_config(write_config(tmp_path / "c.yaml", **content))
    assert message in str(info.value)


def test_every_bad_field_is_reported_at_once(tmp_path):
    """Several mistakes give one message listing each of them, not only the first."""
    bad = {"tasks": [_with(interval=0, timeout="x")], "kill_grace_seconds": 0}
    with pytest.raises(config.ConfigError) as info:
        config.load_config(write_config(tmp_path / "c.yaml", **bad))
    text = str(info.value)
    assert "tasks[0] (t).interval: must be > 0" in text
    assert "tasks[0] (t).timeout: must be a number, got 'x'" in text
    assert "kill_grace_seconds: must be > 0" in text


@pytest.mark.parametrize("text", ["", "[]", "just a string\n"], ids=["empty", "list", "scalar"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    """A file that is not a mapping says so."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match="top level: must be a mapping"):
        config.load_config(path)


@pytest.mark.parametrize(("content", "message"), BAD_CONFIGS[:6], ids=[m for _, m in BAD_CONFIGS[:6]])
def test_bad_config_exits_non_zero(tmp_path, base_env, content, message):
    """Started with a bad config, the scheduler prints the problem and exits 2 without running anything."""
    path = write_config(tmp_path / "c.yaml", **content)
    result = run_scheduler([], {**base_env, "SCHEDULER_CONFIG": str(path)}, timeout=60)
    assert result.returncode == 2
    assert f"config error: {path}: " in result.stderr and message in result.stderr
    assert "run start" not in result.stdout


def test_unreadable_and_invalid_yaml(tmp_path, base_env):
    """A missing file and broken YAML are both reported as config errors."""
    missing = run_scheduler(["--config", str(tmp_path / "nope.yaml")], base_env, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [\n  - name: x\n")
    result = run_scheduler(["--config", str(broken)], base_env, timeout=60)
    assert result.returncode == 2 and "invalid YAML" in result.stderr


def test_relative_script_is_relative_to_the_config_file(tmp_path):
    """A k6 script path is resolved against the config file's folder, not the working directory."""
    (tmp_path / "sub").mkdir()
    path = write_config(tmp_path / "sub" / "c.yaml", [_with(command=None, k6={"script": "s.js", "args": ["--vus", "2"]})])
    [task] = config.load_config(path).tasks
    assert task.k6.script == str(tmp_path / "sub" / "s.js")
    assert task.k6.args == ["--vus", "2"] and task.is_k6


def test_shipped_config_is_valid(base_env):
    """my_config.yaml validates and holds the every-minute k6 smoke test."""
    result = run_scheduler(["--check-config"], base_env, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = config.load_config(SERVICE_DIR / "my_config.yaml")
    [task] = loaded.tasks
    assert task.cron == "* * * * *" and task.timeout == 50 and task.is_k6
    assert task.k6.script == str(SERVICE_DIR / "web_workflow_test.js")
    assert loaded.kill_grace_seconds == 5


def test_once_unknown_task(tmp_path, base_env):
    """--once with a name not in the config is a config error."""
    path = write_config(tmp_path / "c.yaml", tasks=[GOOD_TASK])
    result = run_scheduler(["--config", str(path), "--once", "other"], base_env, timeout=60)
    assert result.returncode == 2 and "no task named 'other'" in result.stderr
