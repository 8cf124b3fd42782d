"""Config validation: every bad input is refused at start with a clear message and exit code 2."""

import pytest

from .helpers import SERVICE_DIR, run_scheduler, sched, write_config

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


BAD_CONFIGS = [
    ({"tasks": [_with(intervall=5)]}, "unknown key(s) intervall"),
    ({"tasks": [GOOD_TASK], "taks": []}, "unknown key(s) taks"),
    ({"tasks": [_with(cron="* * * * *")]}, "exactly one of 'cron' or 'interval'"),
    ({"tasks": [_with(interval=None)]}, "exactly one of 'cron' or 'interval'"),
    ({"tasks": [_with(interval=None, cron="61 * * * *")]}, "not a valid 5-field cron expression"),
    ({"tasks": [_with(interval=None, cron="not cron")]}, "not a valid 5-field cron expression"),
    ({"tasks": [_with(interval=None, cron="0 * * * * *")]}, "not a valid 5-field cron expression"),
    ({"tasks": [_with(interval=0)]}, "interval must be > 0"),
    ({"tasks": [_with(interval=-3)]}, "interval must be > 0"),
    ({"tasks": [_with(timeout=0)]}, "timeout must be > 0"),
    ({"tasks": [_with(timeout=None)]}, "'timeout' is required"),
    ({"tasks": [_with(timeout=True)]}, "timeout must be a number"),
    ({"tasks": [_with(interval="5")]}, "interval must be a number"),
    ({"tasks": [GOOD_TASK], "kill_grace_seconds": -1}, "kill_grace_seconds must be > 0"),
    ({"tasks": [_with(command="echo hi")]}, "command must be a list of strings"),
    ({"tasks": [_with(command=[])]}, "command must not be empty"),
    ({"tasks": [_with(command=None)]}, "exactly one of 'command' or 'k6'"),
    ({"tasks": [_with(k6={"script": "x.js"})]}, "exactly one of 'command' or 'k6'"),
    ({"tasks": [_with(command=None, k6={"script": "x.js", "vus": 3})]}, "unknown key(s) vus"),
    ({"tasks": [_with(command=None, k6={"args": []})]}, "k6.script must be a non-empty string"),
    ({"tasks": [_with(name="bad name")]}, "name must match"),
    ({"tasks": [GOOD_TASK, GOOD_TASK]}, "duplicate task name(s): t"),
    ({"tasks": []}, "'tasks' must be a non-empty list"),
    ({"tasks": ["echo"]}, "tasks[0] must be a mapping"),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config_is_refused_in_process(tmp_path, config, message):
    """The validator rejects each bad config with a message naming the problem."""
    with pytest.raises(sched.ConfigError, match=None) as info:
        sched.load_config(write_config(tmp_path / "c.yaml", **config))
    assert message in str(info.value)


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS[:6], ids=[m for _, m in BAD_CONFIGS[:6]])
def test_bad_config_exits_non_zero(tmp_path, base_env, config, message):
    """Started with a bad config, the scheduler prints the problem and exits 2 without running anything."""
    path = write_config(tmp_path / "c.yaml", **config)
    result = run_scheduler([], {**base_env, "SCHEDULER_CONFIG": str(path)}, timeout=20)
    assert result.returncode == 2
    assert "config error" in result.stderr and message in result.stderr
    assert "run start" not in result.stdout


def test_unreadable_and_invalid_yaml(tmp_path, base_env):
    """A missing file and broken YAML are both reported as config errors."""
    missing = run_scheduler(["--config", str(tmp_path / "nope.yaml")], base_env, timeout=20)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [\n  - name: x\n")
    result = run_scheduler(["--config", str(broken)], base_env, timeout=20)
    assert result.returncode == 2 and "invalid YAML" in result.stderr


def test_shipped_config_is_valid(base_env):
    """my_config.yaml validates and holds the every-minute k6 smoke test."""
    result = run_scheduler(["--check-config"], base_env, timeout=20)
    assert result.returncode == 0, result.stderr
    config = sched.load_config(SERVICE_DIR / "my_config.yaml")
    [task] = config.tasks
    assert task.cron == "* * * * *" and task.timeout == 50 and task.is_k6
    assert task.k6_script == str(SERVICE_DIR / "web_workflow_test.js")


def test_once_unknown_task(tmp_path, base_env):
    """--once with a name not in the config is a config error."""
    path = write_config(tmp_path / "c.yaml", tasks=[GOOD_TASK])
    result = run_scheduler(["--config", str(path), "--once", "other"], base_env, timeout=20)
    assert result.returncode == 2 and "no task named 'other'" in result.stderr
