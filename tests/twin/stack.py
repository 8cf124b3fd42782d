"""The twin: the compose stack's services run natively, from the project's own files.

Each service is started with the command, flags, environment and mounted files its compose entry
gives, read from docker-compose.yaml: container paths are mapped back to the files compose mounts
(or to a private directory for a named volume or a container's /tmp), `127.0.0.1` in a healthcheck
becomes the service's own address, and the Debian binary gets the listen flag its version spells.
A service on the host's network (`network_mode: host`) keeps its own listen flags: the namespace is
its host, and gets Docker's host-gateway address, which `host.docker.internal` names (extra_hosts).
Grafana has no package on Debian or PyPI and is not started (its files are checked in tests/grafana).
Prometheus runs its config unchanged, so its `grafana` job scrapes an address where nothing listens:
in the twin `up{job="grafana"}` is 0 and the GrafanaDown alert fires, truthfully.

Stand-ins: mailpit is tests/twin/mailsink.py (a real SMTP server that keeps every mail, read through
mailpit's REST API); Alertmanager is Debian's 0.25 started through the project's own entrypoint.sh,
which is told where that binary is by ALERTMANAGER_BIN, as compose tells it where the image's is.
Settings that .env may change can be given to the twin (`settings=`), as a .env would give them.

As ./run.sh does after start-up, the service accounts the smoke and load tests sign in with
(SMOKE_TEST_*, LOAD_TEST_* of .env) are made to exist with the API's own CLI (`python -m app.operators
ensure`), as soon as the API is healthy and before the smoke test starts. And as ./run.sh does when
BIND_ADDRESS is not a loopback address, Apache gets a self-signed certificate from apache/tls.sh and
serves its published port 443 over HTTPS (`twin.tls_dir` holds cert.pem for a client's trust), and
Prometheus asks for basic auth with the web.yml that alertmanager/ui-auth.sh writes from
MONITORING_UI_USERNAME/PASSWORD (`twin.ui_auth` holds them for a client; None on loopback). Both
files are the twin's own, never whatever a run of ./run.sh left in the repository.
"""

import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.apache._apache import make_serverroot
from tests.support.compose import DOCKER_HOST_GATEWAY, ROOT, compose, example_env
from tests.support.postgres import ThrowawayPostgres
from tests.support.processes import stop_group
from tests.twin import network

log = logging.getLogger("twin")

NOT_AVAILABLE = {"grafana": "Grafana is packaged neither by Debian nor on PyPI"}
DEBIAN_BINARIES = {
    "node-exporter": "prometheus-node-exporter",
    "postgres-exporter": "prometheus-postgres-exporter",
    "apache-exporter": "prometheus-apache-exporter",
    "blackbox-exporter": "prometheus-blackbox-exporter",
    "pushgateway": "prometheus-pushgateway",
}
# Services whose compose entrypoint is a script of ours that runs the binary named by a variable:
# the variable, and the Debian binary it names in the twin.
ENTRYPOINT_BINARIES = {"alertmanager": ("ALERTMANAGER_BIN", "prometheus-alertmanager"),
                       "prometheus": ("PROMETHEUS_BIN", "prometheus")}
# Debian's apache exporter (0.12) names its listen flag the old way; the image's (1.x) --web.listen-address.
LISTEN_FLAGS = {"apache-exporter": "--telemetry.address"}
# The accounts ./run.sh ensures after start-up: .env's user name and password variables.
SERVICE_ACCOUNTS = (("SMOKE_TEST_USERNAME", "SMOKE_TEST_PASSWORD"), ("LOAD_TEST_USERNAME", "LOAD_TEST_PASSWORD"))
# The names the twin's self-signed certificate is made for (clients inside reach Apache as "apache").
TLS_NAMES = ("apache", "localhost")
# Files that exist only inside an image, and where the twin finds them.
IMAGE_FILES = {"/usr/local/bin/healthcheck": ROOT / "apache" / "healthcheck.sh"}
START_TIMEOUT_S = 180  # a deadline for "never healthy", generous for a busy machine
# The httpd image's ServerRoot (its Dockerfile copies httpd.conf into conf/ there).
APACHE_SERVERROOT = "/usr/local/apache2"


@dataclass
class Replica:
    """One running copy of a service."""

    service: str
    index: int
    address: str
    tmp: Path
    process: subprocess.Popen[bytes] | None = None
    database: ThrowawayPostgres | None = None
    env: dict[str, str] = field(default_factory=dict)


class Twin:
    """The compose stack, natively, in the current (private) network namespace.

    Usage:
        twin = Twin(workdir, api_replicas=2, k6_interval_s=10)
        twin.start()                  # every service, in depends_on order, each waited healthy
        twin.url("api", "/healthz")   # http://api:8000/healthz
        twin.stop("api"); twin.start_service("api")
        twin.close()                  # everything stopped, also after a failure
    """

    def __init__(self, workdir: Path, *, api_replicas: int = 2, k6_interval_s: int = 10,
                 settings: dict[str, str] | None = None) -> None:
        network.require_private_namespace()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # the postgres and www-data users reach their directories below
        self.logs = workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.k6_interval_s = k6_interval_s
        self.env = _stack_env()
        unknown = set(settings or {}) - set(self.env)
        if unknown:
            raise KeyError(f"not settings of .example.env: {sorted(unknown)}")
        self.env.update(settings or {})
        self.model = compose(tuple(self.env.items()))
        self.services = {n: s for n, s in self.model["services"].items() if n not in NOT_AVAILABLE}
        replicas = {name: (api_replicas if name == "api" else 1) for name in self.model["services"]}
        self.addresses = network.assign_addresses(replicas)
        for name in self.model["services"]:
            if self._on_host_network(name):
                self.addresses[name] = [DOCKER_HOST_GATEWAY]
        self.replicas: dict[str, list[Replica]] = {}
        # A stopped PostgreSQL keeps its data directory, as a stopped container keeps its volume.
        self._stopped_databases: dict[str, ThrowawayPostgres] = {}
        self._dns: subprocess.Popen[bytes] | None = None
        self._accounts_ensured = False
        self.tls_dir: Path | None = None
        self.ui_auth: tuple[str, str] | None = None
        self._prometheus_web_config = self._ui_auth_install()

    # -- the whole stack -------------------------------------------------------------------------

    def start(self) -> None:
        """Bring up the network, then every service in dependency order, each waited healthy."""
        network.bring_up_loopback()
        network.add_local_address(DOCKER_HOST_GATEWAY)
        network.add_interface()
        # As in Docker: a host-network service has no name of its own; the host is host.docker.internal.
        names = {name: found for name, found in self.addresses.items() if not self._on_host_network(name)}
        names["host.docker.internal"] = [DOCKER_HOST_GATEWAY]
        self._dns = network.install_name_resolution(names, self.workdir)
        for name, why in NOT_AVAILABLE.items():
            log.info("not started: %s (%s)", name, why)
        for name in self._start_order():
            self.start_service(name)

    def close(self) -> None:
        """Stop every service, the DNS server last; safe to call twice."""
        for name in reversed(self._start_order()):
            if name in self.replicas:
                self.stop(name)
        for database in self._stopped_databases.values():
            database.destroy()
        self._stopped_databases.clear()
        if self._dns is not None:
            stop_group(self._dns)
            self._dns = None

    def _start_order(self) -> list[str]:
        """Services ordered so that each comes after what it depends on."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order or name in NOT_AVAILABLE:
                return
            for dependency in self.services[name].get("depends_on", {}):
                visit(dependency)
            order.append(name)

        for name in sorted(self.services):
            visit(name)
        return order

    # -- one service ---------------------------------------------------------------------------

    def start_service(self, name: str) -> None:
        """Start every replica of a service and wait until its healthcheck passes."""
        self.replicas[name] = [self._launch(name, index, address) for index, address in enumerate(self.addresses[name])]
        self.wait_healthy(name)
        if name == "api" and not self._accounts_ensured:
            for user_variable, password_variable in SERVICE_ACCOUNTS:
                self.ensure_operator(self.env[user_variable], self.env[password_variable])
            self._accounts_ensured = True

    def ensure_operator(self, username: str, password: str, role: str = "officer") -> None:
        """Create the account, or reset its password and role, with the API's CLI (as ./run.sh does)."""
        api = self.replicas["api"][0]
        result = subprocess.run(
            [sys.executable, "-m", "app.operators", "ensure", username, "--password-env", "TWIN_OPERATOR_PASSWORD",
             "--role", role],
            cwd=ROOT / "api", env={**api.env, "TWIN_OPERATOR_PASSWORD": password}, capture_output=True, text=True,
            timeout=60, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"app.operators ensure {username} failed: {result.stdout}{result.stderr}")

    def stop(self, name: str, *, kill: bool = False) -> None:
        """Stop a service's replicas (SIGKILL with `kill`: a crash, not a shutdown)."""
        for replica in self.replicas.pop(name, []):
            if replica.database is not None:
                replica.database.stop("immediate" if kill else "fast")
                self._stopped_databases[name] = replica.database
            elif replica.process is not None:
                stop_group(replica.process, sig=signal.SIGKILL if kill else signal.SIGTERM)

    def stop_replica(self, name: str, index: int, *, kill: bool = False) -> None:
        """Stop one replica of a service (SIGKILL with `kill`); the others carry on."""
        process = self.replicas[name][index].process
        if process is not None:
            stop_group(process, sig=signal.SIGKILL if kill else signal.SIGTERM)

    def start_replica(self, name: str, index: int) -> None:
        """Start one replica of a service again, on its address, and wait until it is healthy."""
        self.replicas[name][index] = self._launch(name, index, self.addresses[name][index])
        self.wait_healthy(name)

    def wait_healthy(self, name: str, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until the service's compose healthcheck passes on every replica."""
        deadline = time.monotonic() + timeout
        for replica in self.replicas[name]:
            while not self.healthy(replica):
                if replica.process is not None and replica.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {replica.process.returncode}: {self.log_tail(replica)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not healthy within {timeout} s: {self.log_tail(replica)}")
                time.sleep(0.25)

    def healthy(self, replica: Replica) -> bool:
        """Run the service's compose healthcheck (translated to this machine) once."""
        argv, shell = self._healthcheck(replica)
        if argv is None:
            return _port_open(replica.address, self._port(replica.service))
        env = {**replica.env, "PGHOST": replica.address}
        try:
            result = subprocess.run(argv if not shell else ["sh", "-c", argv[0]], env=env, capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def url(self, service: str, path: str = "", port: int | None = None) -> str:
        """The service's URL by its compose name, as other services reach it."""
        return f"http://{service}:{port or self._port(service)}{path}"

    def endpoints(self) -> dict[str, list[str]]:
        """Where each running service listens (its address, and port if it exposes one)."""
        ports = {name: (self._ports(name) or [None])[0] for name in self.services}
        return {
            name: [f"{r.address}:{ports[name]}" if ports[name] else r.address for r in replicas]
            for name, replicas in self.replicas.items()
        }

    def log_tail(self, replica: Replica, lines: int = 30) -> str:
        """The end of a replica's log."""
        if replica.database is not None:
            path = replica.database.dir / "log"
        else:
            path = self.logs / f"{replica.service}-{replica.index}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- launching -----------------------------------------------------------------------------

    def _launch(self, name: str, index: int, address: str) -> Replica:
        tmp = self.workdir / "tmp" / f"{name}-{index}"
        tmp.mkdir(parents=True, exist_ok=True)
        tmp.chmod(0o1777)
        replica = Replica(name, index, address, tmp)
        replica.env = self._environment(replica)
        if name == "postgres":
            replica.database = self._postgres(replica)
            return replica
        argv, cwd = self._command(replica)
        log.info("starting %s-%d on %s: %s", name, index, address, shlex.join(argv))
        with (self.logs / f"{name}-{index}.log").open("ab") as out:
            replica.process = subprocess.Popen(
                argv, cwd=cwd, env=replica.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return replica

    def _postgres(self, replica: Replica) -> ThrowawayPostgres:
        """PostgreSQL initialised as the image does (init.sql once), restarted on the same data later."""
        stopped = self._stopped_databases.pop("postgres", None)
        if stopped is not None:
            stopped.start()
            return stopped
        env = replica.env
        return ThrowawayPostgres(
            host=replica.address, port=self._port("postgres"),
            superuser=env["POSTGRES_USER"], superuser_password=env["POSTGRES_PASSWORD"], database=env["POSTGRES_DB"],
            api_password=env["API_DB_PASSWORD"], exporter_password=env["EXPORTER_DB_PASSWORD"],
        )

    def _command(self, replica: Replica) -> tuple[list[str], Path]:
        """The native command line of a replica, and its working directory."""
        name, service = replica.service, self.services[replica.service]
        if name in DEBIAN_BINARIES:
            flags = [self._map_argument(replica, arg) for arg in service.get("command", [])]
            if not self._on_host_network(name):  # on the host's network its own flag says where
                listen = f"{replica.address}:{self._port(name)}"
                flags.append(f"{LISTEN_FLAGS.get(name, '--web.listen-address')}={listen}")
            if name == "pushgateway":
                flags.append("--persistence.file=")  # Debian's default writes under /var/lib
            return [_binary(DEBIAN_BINARIES[name]), *flags], self.workdir
        if name == "api":
            return [str(ROOT / "api" / "entrypoint.sh")], ROOT / "api"
        if name == "apache":
            serverroot = make_serverroot(self.workdir / "apache-serverroot")
            # conf/tls: the twin's own pair (or none), never whatever a run left in the repository's apache/tls.
            self._apache_tls(serverroot)
            # Other folders compose mounts under the image's ServerRoot (conf/remote-write): httpd.conf
            # names them relative to it, so they appear there too.
            for container, native in self._path_map(replica):
                if container.startswith(APACHE_SERVERROOT + "/") and container != APACHE_SERVERROOT + "/conf/tls":
                    link = serverroot / container[len(APACHE_SERVERROOT) + 1:]
                    link.parent.mkdir(parents=True, exist_ok=True)
                    if not link.is_symlink():
                        link.symlink_to(native)
            # The image's entrypoint (the API balancer's members) around its command, from ServerRoot.
            return [str(ROOT / "apache" / "entrypoint.sh"), _binary("apache2"), "-d", str(serverroot),
                    "-f", str(ROOT / "apache" / "httpd.conf"), "-DFOREGROUND"], serverroot
        if name == "k6":
            return [sys.executable, str(ROOT / "k6-pycron" / "scheduler.py")], ROOT / "k6-pycron"
        if name in ENTRYPOINT_BINARIES:
            # The compose entrypoint (a script of the repository) with the compose command's flags.
            argv = [self._map_argument(replica, arg) for arg in [*service["entrypoint"], *service.get("command", [])]]
            return [*argv, f"--web.listen-address={replica.address}:{self._port(name)}"], self.workdir
        if name == "mailpit":
            # A real SMTP server standing in for mailpit's, keeping every mail for mailpit's REST API.
            ports = [int(str(port)) for port in service["expose"]]
            return [sys.executable, "-m", "tests.twin.mailsink", "--smtp", f"{replica.address}:{ports[0]}",
                    "--http", f"{replica.address}:{ports[1]}"], ROOT
        raise RuntimeError(f"the twin does not know how to run {name}")

    def _apache_tls(self, serverroot: Path) -> None:
        """conf/tls of Apache's ServerRoot as compose mounts apache/tls: filled by apache/tls.sh as ./run.sh fills it."""
        tls = self.workdir / "apache-tls"
        script = ROOT / "apache" / "tls.sh"
        if _tls_wanted(script, self.env.get("BIND_ADDRESS", "")):
            names = " ".join(shlex.quote(n) for n in TLS_NAMES)
            subprocess.run(["bash", "-c", f'set -euo pipefail; . {shlex.quote(str(script))}; tls_install "$1" "" "" {names}',
                            "tls", str(tls)], check=True, capture_output=True, timeout=120)
            self.tls_dir = tls
        (serverroot / "conf").mkdir(exist_ok=True)
        link = serverroot / "conf" / "tls"
        if self.tls_dir is not None and not link.exists():
            link.symlink_to(tls)

    def _environment(self, replica: Replica) -> dict[str, str]:
        """The Dockerfile's ENV, then the compose environment, with container paths mapped."""
        name = replica.service
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        context = self.services[name].get("build")
        if context:
            env.update(_dockerfile_env(ROOT / context / "Dockerfile"))
        env.update({k: str(v) for k, v in (self.services[name].get("environment") or {}).items()})
        env = {key: self._map_argument(replica, value) for key, value in env.items()}
        if name == "api":
            env["API_HOST"] = replica.address
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if name == "k6":
            env["SCHEDULER_CONFIG"] = str(self._k6_config())
        if name in ENTRYPOINT_BINARIES:
            variable, binary = ENTRYPOINT_BINARIES[name]
            env[variable] = _binary(binary)
        if name == "prometheus":
            # The twin's web.yml (or a path where there is none), not the repository's prometheus/web.yml.
            env["PROMETHEUS_WEB_CONFIG"] = str(self._prometheus_web_config)
        return env

    def _ui_auth_install(self) -> Path:
        """Prometheus's web configuration as ./run.sh writes it (alertmanager/ui-auth.sh, hashed by Debian's
        htpasswd as run.sh runs the apache image's): beyond loopback a web.yml, on loopback a path where
        no file is (Prometheus then asks for nothing)."""
        folder = self.workdir / "ui-auth"
        if not _tls_wanted(ROOT / "apache" / "tls.sh", self.env.get("BIND_ADDRESS", "")):
            return folder / "none" / "web.yml"
        folder.mkdir(exist_ok=True)
        script = f'set -euo pipefail; . {shlex.quote(str(ROOT / "alertmanager" / "ui-auth.sh"))}; ' \
                 'ui_auth_install "$1" "$2" htpasswd -niBC 10 "$1"'
        user, password = self.env["MONITORING_UI_USERNAME"], self.env["MONITORING_UI_PASSWORD"]
        subprocess.run(["bash", "-c", script, "ui-auth", user, password], cwd=folder, check=True, capture_output=True,
                       timeout=120)
        self.ui_auth = (user, password)
        return folder / "prometheus" / "web.yml"

    def _k6_config(self) -> Path:
        """my_config.yaml with every task on a short interval, so tests need not wait a minute."""
        config = yaml.safe_load((ROOT / "k6-pycron" / "my_config.yaml").read_text())
        for task in config["tasks"]:
            task.pop("cron", None)
            task["interval"] = self.k6_interval_s
            if "k6" in task:
                task["k6"]["script"] = str(ROOT / "k6-pycron" / task["k6"]["script"])
        path = self.workdir / "k6-config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _map_argument(self, replica: Replica, value: str) -> str:
        """Replace a container path in a flag or variable with where the twin keeps that file."""
        prefix, sep, path = value.partition("=") if value.startswith("--") else ("", "", value)
        for container, native in self._path_map(replica):
            if path == container or path.startswith(container.rstrip("/") + "/"):
                return f"{prefix}{sep}{native}{path[len(container):]}"
        return value

    def _path_map(self, replica: Replica) -> list[tuple[str, str]]:
        """Container paths and their native counterparts, longest first."""
        mapping = [("/tmp", str(replica.tmp))]
        for volume in self.services[replica.service].get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith("./"):
                native = str(ROOT / source[2:])
            elif source.startswith("/"):
                native = source
            else:  # a named volume: a directory of the twin's
                native_dir = self.workdir / "volumes" / source
                native_dir.mkdir(parents=True, exist_ok=True)
                native = str(native_dir)
            mapping.append((target, native))
        context = self.services[replica.service].get("build")
        if context:
            mapping.append(("/app", str(ROOT / context)))  # the images' WORKDIR
        mapping += [(image, str(native)) for image, native in IMAGE_FILES.items()]
        return sorted(mapping, key=lambda pair: len(pair[0]), reverse=True)

    def _healthcheck(self, replica: Replica) -> tuple[list[str] | None, bool]:
        """The compose healthcheck as a native command (None: only a port check is possible)."""
        test = self.services[replica.service]["healthcheck"]["test"]
        kind, args = test[0], [str(a).replace("127.0.0.1", replica.address) for a in test[1:]]
        if kind == "CMD-SHELL":
            return [args[0]], True
        args = [self._map_argument(replica, arg) for arg in args]
        if args[0] == "python":
            args[0] = sys.executable
        if not (Path(args[0]).is_file() or shutil.which(args[0])):
            return None, False  # e.g. /mailpit readyz
        return args, False

    def _on_host_network(self, name: str) -> bool:
        return self.model["services"][name].get("network_mode") == "host"

    def _ports(self, name: str) -> list[int]:
        """The ports a service listens on: `expose`, or on the host's network its listen flags."""
        service = self.model["services"][name]
        if self._on_host_network(name):
            flags = [str(a) for a in service.get("command", []) if str(a).startswith("--web.listen-address=")]
            return [int(flag.rsplit(":", 1)[1]) for flag in flags]
        return [int(str(port).split("/")[0]) for port in service.get("expose", [])]

    def _port(self, name: str) -> int:
        """The service's first port."""
        found = self._ports(name)
        if not found:
            raise KeyError(f"{name} exposes no port")
        return found[0]


def _stack_env() -> dict[str, str]:
    """.example.env as ./run.sh turns it into .env: every change-me replaced by a random secret."""
    return {key: (secrets.token_hex(16) if value == "change-me" else value) for key, value in example_env().items()}


def _tls_wanted(script: Path, bind_address: str) -> bool:
    """apache/tls.sh's verdict on BIND_ADDRESS: whether ./run.sh would serve the page over HTTPS."""
    result = subprocess.run(["bash", "-c", f'. {shlex.quote(str(script))}; tls_wanted "$1"', "tls", bind_address],
                            capture_output=True, timeout=30, check=False)
    return result.returncode == 0


def _dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """The ENV instructions of a Dockerfile."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _binary(name: str) -> str:
    """A Debian binary, also from /usr/sbin (apache2)."""
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin")
    if not found:
        raise FileNotFoundError(f"{name} not found: ./test.sh installs the Debian packages")
    return found


def _port_open(address: str, port: int) -> bool:
    """Whether something accepts TCP connections there."""
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False
