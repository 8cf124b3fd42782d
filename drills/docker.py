"""Faults on the Docker host, through the `docker compose` CLI (Compose v2), Python stdlib only.

| fault action | injected by | repaired by |
|---|---|---|
| `stop` | `docker compose stop S` | `docker compose start S` |
| `kill` | `docker compose kill S` (SIGKILL: a crash) | `docker compose start S` |
| `kill-one` | `docker kill ID` of the service's first container (needs 2 or more) | `docker start ID` |
| `pause` | `docker compose pause S` (cgroup freezer: alive, not answering) | `docker compose unpause S` |
| `sql` | `docker compose exec -T postgres psql ... -c SQL` as the superuser | the same with `undo` |
| `setting` | `SETTING=VALUE docker compose up -d --no-deps S` (the shell's value beats .env) | `docker compose up -d --no-deps S` without it |

Health comes from `docker compose ps --all --format json` (one JSON object per line since Compose
2.21, one JSON array before): every service of `docker compose config --services` must have a
running container, healthy where it has a healthcheck.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Dict, List

from drills.runner import Backend

# The psql of the postgres image, as the superuser its environment names (compose's POSTGRES_USER).
PSQL = 'exec psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"'


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its error output."""


class DockerBackend(Backend):
    def __init__(self, docker: str = "docker") -> None:
        self.docker = docker
        self.killed: Dict[str, str] = {}  # service -> container id killed by kill-one

    def _run(self, *args: str, env: Dict[str, str] | None = None) -> str:
        result = subprocess.run([self.docker, *args], capture_output=True, text=True,
                                env=env if env is not None else None)
        if result.returncode != 0:
            raise DockerError(f"{self.docker} {' '.join(args)}: {result.stderr.strip() or result.returncode}")
        return result.stdout

    def containers(self) -> List[Dict[str, Any]]:
        """`docker compose ps --all --format json`, as a list of objects whatever the Compose version."""
        out = self._run("compose", "ps", "--all", "--format", "json").strip()
        if out.startswith("["):
            return list(json.loads(out))
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def unhealthy(self) -> List[str]:
        services = [s for s in self._run("compose", "config", "--services").split() if s]
        containers = self.containers()
        problems = []
        for service in services:
            mine = [c for c in containers if c.get("Service") == service]
            if not mine:
                problems.append(f"{service} (no container: ./run.sh starts it)")
            for container in mine:
                state, health = container.get("State", ""), container.get("Health", "")
                if state != "running" or health not in ("", "healthy"):
                    problems.append(f"{service} ({state}{', ' + health if health else ''})")
        return problems

    def inject(self, fault: Dict[str, Any]) -> None:
        action, service = fault["action"], fault["service"]
        if action in ("stop", "kill", "pause"):
            self._run("compose", action, service)
        elif action == "kill-one":
            ids = self._run("compose", "ps", "-q", service).split()
            if len(ids) < 2:
                raise DockerError(f"{service} runs {len(ids)} container(s): this drill needs 2 or more "
                                  f"(docker compose up -d --scale {service}=2)")
            self.killed[service] = ids[0]
            self._run("kill", ids[0])
        elif action == "sql":
            self._run("compose", "exec", "-T", service, "sh", "-c", PSQL, "psql", fault["sql"])
        elif action == "setting":
            self._run("compose", "up", "-d", "--no-deps", service, env={**os.environ, fault["setting"]: fault["value"]})

    def repair(self, fault: Dict[str, Any]) -> None:
        action, service = fault["action"], fault["service"]
        if action in ("stop", "kill"):
            self._run("compose", "start", service)
        elif action == "pause":
            self._run("compose", "unpause", service)
        elif action == "kill-one":
            if service in self.killed:
                self._run("start", self.killed.pop(service))
        elif action == "sql":
            self._run("compose", "exec", "-T", service, "sh", "-c", PSQL, "psql", fault["undo"])
        elif action == "setting":
            env = {k: v for k, v in os.environ.items() if k != fault["setting"]}
            self._run("compose", "up", "-d", "--no-deps", service, env=env)
