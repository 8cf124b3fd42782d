"""./run.sh in a copy of the project, with the stand-in docker of docker_standin.py on PATH."""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[2]
# What run.sh backup and restore read besides run.sh itself.
PROJECT_FILES = ["run.sh", ".example.env", "backup/backup.sh", "postgres/backup.sh", "postgres/init.sql"]


def postgres_env(pg: ThrowawayPostgres) -> str:
    """The postgres container's environment, pointing at `pg` through its local socket."""
    return json.dumps({"PGHOST": str(pg.dir), "PGPORT": str(pg.port), "POSTGRES_USER": pg.superuser, "POSTGRES_DB": pg.database})


@dataclass
class RunSh:
    """A project copy in `dir`: `run("backup", ...)`; `calls()` lists what docker was asked."""

    dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def copy(cls, dir: Path, pg: ThrowawayPostgres, services: str, **env: str) -> "RunSh":
        for name in PROJECT_FILES:
            (dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dir / name)
        (dir / "bin").mkdir()
        docker = dir / "bin" / "docker"
        docker.write_text(f"#!{sys.executable}\n" + (ROOT / "tests" / "support" / "docker_standin.py").read_text())
        docker.chmod(0o755)
        (dir / ".env").write_text(f"POSTGRES_DB={pg.database}\nPOSTGRES_USER={pg.superuser}\n")
        base = {"PATH": f"{dir / 'bin'}:/usr/bin:/bin", "HOME": str(dir), "DOCKER_CALLS": str(dir / "calls"),
                "STANDIN_SERVICES": services, "STANDIN_ENV_POSTGRES": postgres_env(pg)}
        return cls(dir, {**base, **env})

    def run(self, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(self.dir / "run.sh"), *args], capture_output=True, text=True,
                              env={**self.env, **extra}, timeout=600, cwd=cwd)

    def calls(self) -> list[str]:
        path = self.dir / "calls"
        return path.read_text().splitlines() if path.exists() else []
