"""The scheduler's YAML configuration, validated by pydantic.

Shape (units: seconds)::

    kill_grace_seconds: 5          # optional: SIGTERM -> SIGKILL delay
    tasks:
      - name: web_workflow         # [A-Za-z0-9_.-]+, also the Pushgateway "scenario" label
        cron: "* * * * *"          # 5-field cron on the local wall clock  -- or --  interval: 30
        timeout: 50
        k6:                        # a k6 run: results are pushed to the Pushgateway
          script: web_workflow_test.js   # relative paths are relative to the config file
          args: []                       # optional extra `k6 run` arguments
      - name: plain
        interval: 300
        timeout: 10
        command: ["sh", "-c", "echo hello"]   # a plain command: nothing is pushed

Every error names the offending field, e.g. ``tasks[0] (web_workflow).timeout: must be > 0``.
"""

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import yaml
from croniter import CroniterBadDateError, croniter
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class ConfigError(ValueError):
    """An invalid scheduler configuration; str() is a readable message naming each bad field."""


def _finite(value: float) -> float:
    """Refuse NaN and infinities, which YAML spells .nan and .inf."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


# Strict: "5" and true are not numbers; ints are accepted as floats.
Seconds = Annotated[float, Field(gt=0, strict=True), AfterValidator(_finite)]


class _Strict(BaseModel):
    """Unknown keys are errors (a typo must not silently drop a setting)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class K6Run(_Strict):
    """A k6 run of one script; its results are pushed."""

    script: Annotated[str, Field(min_length=1)]
    args: list[str] = []

    @field_validator("script")
    @classmethod
    def _resolve(cls, script: str, info: ValidationInfo) -> str:
        """Make the script path absolute, relative to the config file's folder."""
        base = (info.context or {}).get("base_dir", Path.cwd())
        return str((Path(base) / script).resolve())


class Task(_Strict):
    """One task: what to run (command or k6), when (cron or interval) and for how long at most."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    timeout: Seconds
    cron: str | None = None
    interval: Seconds | None = None
    command: Annotated[list[str], Field(min_length=1)] | None = None
    k6: K6Run | None = None

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, expr: str) -> str:
        """Classic 5-field cron only (croniter also takes 6/7-field forms with seconds and years)."""
        if len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise ValueError(f"not a valid 5-field cron expression: {expr!r}")
        try:
            croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            # Valid syntax for a date that does not exist (February 30th): it would never run.
            raise ValueError(f"never matches a date: {expr!r}") from None
        return expr

    @model_validator(mode="after")
    def _one_of_each(self) -> "Task":
        """Exactly one schedule and exactly one thing to run."""
        if (self.cron is None) == (self.interval is None):
            raise ValueError("exactly one of 'cron' or 'interval' is required")
        if (self.command is None) == (self.k6 is None):
            raise ValueError("exactly one of 'command' or 'k6' is required")
        return self

    @property
    def is_k6(self) -> bool:
        """True when this task is a k6 run whose results are pushed."""
        return self.k6 is not None


class Config(_Strict):
    """The whole configuration file."""

    kill_grace_seconds: Seconds = 5.0
    tasks: Annotated[list[Task], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> "Config":
        """Task names are Pushgateway groups: two tasks must not share one."""
        names = [task.name for task in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate task name(s): {', '.join(dupes)}")
        return self

    def task(self, name: str) -> Task | None:
        """The task called name, or None."""
        return next((t for t in self.tasks if t.name == name), None)


def _where(loc: tuple, data: object) -> str:
    """Render a pydantic error location as the config path, naming the task: tasks[0] (x).timeout."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                parts[-1] += f" ({node['name']})"
        elif str(item).startswith(("function-", "constrained-")):
            continue  # validator wrappers pydantic puts in the path, not keys of the file
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "top level"


def _message(error: dict) -> str:
    """One error as text, in the file's vocabulary rather than pydantic's."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "greater_than":
        return f"must be > {error['ctx']['gt']:g}, got {error['input']!r}"
    if kind in ("float_type", "int_type"):
        return f"must be a number, got {error['input']!r}"
    if kind == "string_type":
        return f"must be a string, got {error['input']!r}"
    if kind == "list_type":
        return f"must be a list, got {error['input']!r}"
    if kind == "string_pattern_mismatch":
        return f"must match {NAME_PATTERN}, got {error['input']!r}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "model_type":
        return f"must be a mapping, got {error['input']!r}"
    return error["msg"].removeprefix("Value error, ")


def parse_config(data: object, base_dir: Path) -> Config:
    """Validate a loaded YAML document; raise ConfigError listing every bad field."""
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [f"{_where(e['loc'], data)}: {_message(e)}" for e in exc.errors()]
        raise ConfigError("; ".join(lines)) from None


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML file at path; raise ConfigError (unreadable, bad YAML, bad field)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from exc
    return parse_config(data, path.resolve().parent)
