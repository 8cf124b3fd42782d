"""A throwaway PostgreSQL server, initialised with postgres/init.sql the way the postgres image does it."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
INIT_SQL = ROOT / "postgres" / "init.sql"


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary: Debian keeps them outside PATH."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} not found: install Debian's postgresql package")
    return str(candidates[-1])


class ThrowawayPostgres:
    """A private PostgreSQL on 127.0.0.1 with the project's schema, roles and sample rows.

    Like the postgres image: a superuser with a password, POSTGRES_DB created, then init.sql run by
    psql with ON_ERROR_STOP as that superuser, with the role passwords in the environment.
    Usage: `with ThrowawayPostgres() as pg: ...; pg.stop(); pg.start()` (leaving it destroys it).
    """

    api_user = "immigration_api"
    exporter_user = "metrics_exporter"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        superuser: str = "promethoide",
        superuser_password: str = "superuser-secret",
        database: str = "promethoide",
        api_password: str = "api-secret",
        exporter_password: str = "exporter-secret",
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.superuser = superuser
        self.superuser_password = superuser_password
        self.database = database
        self.api_password = api_password
        self.exporter_password = exporter_password
        self.dir = Path(tempfile.mkdtemp(prefix="promethoide-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0  # the server refuses to run as root
        self._initdb()

    def _run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the postgres user when we are root."""
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]

    def _initdb(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text(self.superuser_password)
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run([
            _pg_bin("initdb"), "-D", str(self.data), "-U", self.superuser, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
        ])
        pwfile.unlink()
        self.start()
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")
        self.load_init_sql(self.database, {"API_DB_PASSWORD": self.api_password, "EXPORTER_DB_PASSWORD": self.exporter_password})

    def load_init_sql(self, database: str, passwords: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run init.sql on `database` as the image's entrypoint does, with only `passwords` in its environment."""
        env = {key: value for key, value in os.environ.items() if not key.endswith("_DB_PASSWORD")} | passwords
        return subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", *self._conn_args(), "-d", database, "-f", str(INIT_SQL)],
            check=check, capture_output=True, text=True, env=env,
        )

    def _conn_args(self) -> list[str]:
        return ["-h", str(self.dir), "-p", str(self.port), "-U", self.superuser]

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        options = f"-h {self.host} -p {self.port} -k {self.dir} -c max_connections=100 -c fsync=off"
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate` is a crash: no checkpoint, clients cut off)."""
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        """Whether the server is up."""
        argv = [_pg_bin("pg_ctl"), "-D", str(self.data), "status"]
        if self._as_postgres:  # pg_ctl refuses to run as root, even for status
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True).returncode == 0

    def psql(self, sql: str, database: str | None = None, user: str | None = None) -> str:
        """Run SQL as the superuser (or `user`, over TCP with its password) and return unaligned output."""
        if user is None:
            argv = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", *self._conn_args(), "-d", database or self.database]
            env = dict(os.environ)
        else:
            argv = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                    "-U", user, "-d", database or self.database]
            env = {**os.environ, "PGPASSWORD": self.api_password if user == self.api_user else self.exporter_password}
        return subprocess.run(argv + ["-c", sql], check=True, capture_output=True, text=True, env=env).stdout.strip()

    def api_env(self) -> dict[str, str]:
        """The API's database settings, as compose gives them: the API's own role."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.database,
            "POSTGRES_USER": self.api_user,
            "POSTGRES_PASSWORD": self.api_password,
        }

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self

    def __exit__(self, *_: object) -> None:
        self.destroy()
