"""Heartbeat (written by the loop) and healthcheck (a separate process reading it).

The heartbeat is a JSON file, replaced atomically on every loop iteration::

    {"pid": 7, "monotonic": 1234.5,
     "tasks": {"web_workflow": {"last_start_monotonic": 1200.0, "allowed_gap_seconds": 200.0}}}

Times are CLOCK_MONOTONIC seconds (time.monotonic), which every process on the host shares and no
wall-clock step moves. The healthcheck fails when the file is missing or unreadable, when the loop
has not written it for more than max_age seconds (the loop is stuck or stopped), or when a task has
not started for longer than its allowed gap plus max_age (the loop runs but the schedule stalls):
a fresh file alone does not make the scheduler healthy.
"""

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_HEARTBEAT = "/tmp/k6-pycron.heartbeat"
DEFAULT_MAX_AGE = 30.0  # seconds; env HEARTBEAT_MAX_AGE


@dataclass(frozen=True)
class TaskBeat:
    """What the healthcheck needs to know about one task."""

    last_start_monotonic: float  # last launch, or the loop's start before the first one
    allowed_gap_seconds: float  # period + hold-back + timeout + kill grace: longest healthy gap


def write_heartbeat(path: str | Path, monotonic: float, tasks: dict[str, TaskBeat]) -> None:
    """Replace the heartbeat file atomically (write a sibling, then rename over it)."""
    path = Path(path)
    body = {"pid": os.getpid(), "monotonic": monotonic, "tasks": {n: asdict(b) for n, b in tasks.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)


def problems(path: str | Path, max_age: float, now_monotonic: float) -> list[str]:
    """Everything unhealthy about the heartbeat at path, as readable lines ([] = healthy)."""
    try:
        beat = json.loads(Path(path).read_text(encoding="utf-8"))
        written = float(beat["monotonic"])
        tasks = {n: TaskBeat(**t) for n, t in beat["tasks"].items()}
    except OSError as exc:
        return [f"no heartbeat at {path}: {exc.strerror}"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return [f"unreadable heartbeat at {path}: {exc!r}"]
    found = []
    age = now_monotonic - written
    if age > max_age:
        found.append(f"heartbeat is {age:.0f}s old (max {max_age:g}s): the loop is stuck")
    for name, task in sorted(tasks.items()):
        gap = now_monotonic - task.last_start_monotonic
        if gap > task.allowed_gap_seconds + max_age:
            found.append(f"task {name} has not started for {gap:.0f}s "
                         f"(allowed {task.allowed_gap_seconds:.0f}s + {max_age:g}s): the schedule stalls")
    return found


def check_health(path: str | Path, max_age: float, now_monotonic: float | None = None) -> int:
    """Healthcheck exit code: 0 healthy, 1 unhealthy (each problem printed to stderr)."""
    found = problems(path, max_age, time.monotonic() if now_monotonic is None else now_monotonic)
    for line in found:
        print(f"unhealthy: {line}", file=sys.stderr)
    return 1 if found else 0
