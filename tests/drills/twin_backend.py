"""The drills' faults on the native twin: what `docker compose stop/kill/pause` does to a container,
done to the twin's processes (drills/docker.py does the same on a Docker host).

| fault action | on the twin |
|---|---|
| `stop` | the service stopped as compose stops it (SIGTERM; PostgreSQL: a fast shutdown) |
| `kill` | SIGKILL to every replica (PostgreSQL: an immediate shutdown, no checkpoint) |
| `kill-one` | SIGKILL to the first replica; the others carry on |
| `pause` | SIGSTOP to every process of the service (docker's cgroup freezer stops them all the same way) |
| `sql` | the statement run by the superuser on the twin's PostgreSQL |
| `setting` | the service restarted with the .env setting changed, as `SETTING=VALUE docker compose up -d` |
"""

import os
import signal
from pathlib import Path
from typing import Any

from drills.runner import Backend
from tests.support.compose import compose
from tests.twin.stack import Twin


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc), so a frozen service has no thread left running."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


class TwinBackend(Backend):
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.saved_settings: dict[str, str] = {}

    def unhealthy(self) -> list[str]:
        return [f"{name}-{replica.index}" for name, replicas in self.twin.replicas.items()
                for replica in replicas if not self.twin.healthy(replica)]

    def _processes(self, service: str) -> list[int]:
        pids: list[int] = []
        for replica in self.twin.replicas[service]:
            if replica.database is not None:
                postmaster = int((replica.database.data / "postmaster.pid").read_text().split()[0])
                pids += descendants(postmaster)
            elif replica.process is not None:
                pids += descendants(replica.process.pid)
        return pids

    def _signal(self, service: str, sig: signal.Signals) -> None:
        """Signal every process of the service, again until no new one appears: a parent (PostgreSQL's
        postmaster) may fork a child between the scan and its own stop, and that child must stop too."""
        done: set[int] = set()
        while True:
            pids = [pid for pid in self._processes(service) if pid not in done]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                done.add(pid)

    def _restart_with(self, service: str, setting: str, value: str) -> None:
        self.twin.env[setting] = value
        self.twin.services[service] = compose(tuple(self.twin.env.items()))["services"][service]
        self.twin.stop(service)
        self.twin.start_service(service)

    def inject(self, fault: dict[str, Any]) -> None:
        action, service = fault["action"], fault["service"]
        if action in ("stop", "kill"):
            self.twin.stop(service, kill=action == "kill")
        elif action == "kill-one":
            self.twin.stop_replica(service, 0, kill=True)
        elif action == "pause":
            self._signal(service, signal.SIGSTOP)
        elif action == "sql":
            database = self.twin.replicas[service][0].database
            assert database is not None
            database.psql(fault["sql"])
        elif action == "setting":
            self.saved_settings[fault["setting"]] = self.twin.env[fault["setting"]]
            self._restart_with(service, fault["setting"], fault["value"])

    def repair(self, fault: dict[str, Any]) -> None:
        action, service = fault["action"], fault["service"]
        if action in ("stop", "kill"):
            if service not in self.twin.replicas:
                self.twin.start_service(service)
        elif action == "kill-one":
            process = self.twin.replicas[service][0].process
            if process is None or process.poll() is not None:
                self.twin.start_replica(service, 0)
        elif action == "pause":
            self._signal(service, signal.SIGCONT)
        elif action == "sql":
            database = self.twin.replicas[service][0].database
            assert database is not None
            database.psql(fault["undo"])
        elif action == "setting" and fault["setting"] in self.saved_settings:
            self._restart_with(service, fault["setting"], self.saved_settings.pop(fault["setting"]))
