"""A remote site for the twin: a second private network namespace, linked to the twin's by a veth pair.

The site runs what site/docker-compose.yaml runs, natively and from the site bundle's own files:
Debian's node-exporter and Debian's Prometheus (2.42) in agent mode, with the configuration
`./run.sh site-credentials NAME` wrote for the site. Like a host behind NAT it only connects out: its
agent reaches the centre's Apache (port 9443, TLS, the site's password) at the name `centre`, which
its own hosts file maps to the centre's end of the link, as compose's extra_hosts does on a real host.

    site = RemoteSite(workdir, credentials_dir / "twin-site")
    site.start()          # namespace, link, node-exporter, agent
    site.cut(); site.restore()    # the link down / up, seen from the centre's end
    site.close()          # every process stopped; the namespace vanishes with them

Must run inside the twin's private network and mount namespace (it adds an interface there).
"""

import logging
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.compose import ROOT, interpolate
from tests.support.processes import stop_group, wait_until
from tests.twin import network

log = logging.getLogger("twin.site")

SITE_COMPOSE = ROOT / "site" / "docker-compose.yaml"
# The link: a /30 of its own, far from the twin's loopback addresses and Docker's 172.17.0.0/16.
CENTRE_ADDRESS = "10.213.0.1"
SITE_ADDRESS = "10.213.0.2"
CENTRE_INTERFACE = "site-link"
DEBIAN_BINARIES = {"node-exporter": "prometheus-node-exporter", "prometheus-agent": "prometheus"}
# Prometheus 3 flags and what Debian's 2.42 calls them (prometheus.io/docs/prometheus/latest/migration).
FLAGS_2_42 = {"--agent": "--enable-feature=agent"}
START_TIMEOUT_S = 60


def site_model(centre_address: str = CENTRE_ADDRESS) -> dict[str, Any]:
    """site/docker-compose.yaml interpolated as `docker compose --env-file credentials/site.env` would."""
    model: dict[str, Any] = yaml.safe_load(interpolate(SITE_COMPOSE.read_text(), {"CENTRE_ADDRESS": centre_address}))
    return model


class RemoteSite:
    """The site bundle, running in its own network namespace, linked to the current one."""

    def __init__(self, workdir: Path, credentials: Path) -> None:
        network.require_private_namespace()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.credentials = credentials
        self.model = site_model()
        self._holder: subprocess.Popen[bytes] | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- the namespace and its link -----------------------------------------------------------------

    def start(self) -> None:
        """Create the namespace and the link, then start node-exporter and the agent, each waited healthy."""
        # `unshare` without --fork execs sleep in place: the holder's pid is the namespace's first process.
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "sleep", "infinity"],
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        own = os.readlink("/proc/self/ns/net")
        wait_until(lambda: os.readlink(f"/proc/{self.pid}/ns/net") != own, 10, "the site's network namespace")
        _run(["ip", "link", "add", CENTRE_INTERFACE, "type", "veth", "peer", "name", "eth0", "netns", str(self.pid)])
        _run(["ip", "address", "add", f"{CENTRE_ADDRESS}/30", "dev", CENTRE_INTERFACE])
        _run(["ip", "link", "set", CENTRE_INTERFACE, "up"])
        self._inside(["ip", "link", "set", "lo", "up"])
        self._inside(["ip", "address", "add", f"{SITE_ADDRESS}/30", "dev", "eth0"])
        self._inside(["ip", "link", "set", "eth0", "up"])
        hosts = self.workdir / "hosts"
        extra = [str(entry).split(":", 1) for entry in self.model["services"]["prometheus-agent"]["extra_hosts"]]
        hosts.write_text("127.0.0.1 localhost\n" + "".join(f"{address} {name}\n" for name, address in extra))
        hosts.chmod(0o644)
        self._inside(["mount", "--bind", str(hosts), "/etc/hosts"])
        for name in ("node-exporter", "prometheus-agent"):
            self._launch(name)

    def cut(self) -> None:
        """Take the centre's end of the link down: nothing passes either way."""
        _run(["ip", "link", "set", CENTRE_INTERFACE, "down"])

    def restore(self) -> None:
        """Bring the link back up."""
        _run(["ip", "link", "set", CENTRE_INTERFACE, "up"])

    def close(self) -> None:
        """Stop the site's processes, then the namespace's holder; the link vanishes with the namespace."""
        for process in reversed(list(self.processes.values())):
            stop_group(process)
        self.processes.clear()
        if self._holder is not None:
            stop_group(self._holder)
            self._holder = None

    @property
    def pid(self) -> int:
        assert self._holder is not None, "the site is not started"
        return self._holder.pid

    # -- the services -------------------------------------------------------------------------------

    def _launch(self, name: str) -> None:
        service = self.model["services"][name]
        argv = [_binary(DEBIAN_BINARIES[name]), *(self._native(str(arg)) for arg in service["command"])]
        log.info("starting site %s: %s", name, shlex.join(argv))
        with (self.workdir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                self._enter(argv), cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        url = next(str(a) for a in service["healthcheck"]["test"] if str(a).startswith("http"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(self._enter(["curl", "-fsS", "-o", "/dev/null", "--max-time", "2", url]),
                             capture_output=True).returncode != 0:
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"site {name} not healthy: {self.log_tail(name)}")
            time.sleep(0.25)

    def _native(self, argument: str) -> str:
        """A compose flag as Debian's binary takes it, container paths mapped to the site's files."""
        argument = FLAGS_2_42.get(argument, argument)
        for container, native in (("/etc/prometheus", str(self.credentials)), ("/prometheus", str(self.workdir / "wal")),
                                  ("/host", "/")):
            flag, sep, path = argument.partition("=")
            if sep and (path == container or path.startswith(container + "/")):
                return f"{flag}={native}{path[len(container):]}"
        return argument

    def _enter(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--net", "--mount", *argv]

    def _inside(self, argv: list[str]) -> None:
        _run(self._enter(argv))

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def make_credentials(directory: Path, name: str) -> Path:
    """`./run.sh site-credentials NAME CENTRE_ADDRESS` into `directory` (SITE_CREDENTIALS_DIR); the site's folder.

    The directory is made searchable by others: the twin's Apache children (www-data) read
    centre/htpasswd through it, where compose would mount centre/ itself into the container.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    subprocess.run([str(ROOT / "run.sh"), "site-credentials", name, CENTRE_ADDRESS], check=True,
                   env={**os.environ, "SITE_CREDENTIALS_DIR": str(directory)}, capture_output=True)
    return directory / name


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _binary(name: str) -> str:
    for folder in ("/usr/bin", "/usr/sbin"):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    raise FileNotFoundError(f"{name} not found: ./test.sh installs the Debian packages")
