"""docker-compose.yaml as the tests read it: interpolated like Compose does, with .example.env."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
EXAMPLE_ENV = ROOT / ".example.env"
# What `host-gateway` in extra_hosts means on a default Docker engine: the gateway of the default
# bridge network, 172.17.0.0/16 (docs.docker.com, "Bridge network driver" and "Add entries to
# container hosts file": host-gateway resolves to the default bridge's gateway address).
DOCKER_HOST_GATEWAY = "172.17.0.1"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal $.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def example_env() -> dict[str, str]:
    """The settings of .example.env, as ./run.sh copies them into .env."""
    values = {}
    for line in EXAMPLE_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables as Compose does; a missing required one raises like Compose refuses."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and unset_or_empty:
            raise KeyError(f"required variable {name} is missing: {arg}")
        if op in (":-", "-") and unset_or_empty:
            return arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variables_used() -> set[str]:
    """Every variable the compose file reads."""
    return {m["name"] for m in _VARIABLE.finditer(COMPOSE_FILE.read_text()) if m["name"]}


@cache
def compose(env_items: tuple[tuple[str, str], ...] | None = None) -> dict[str, Any]:
    """The compose model, merge keys resolved, interpolated with `env` (default: .example.env).

    Like Compose: the YAML is parsed first and its strings interpolated after, so `${X:-500.00}`
    stays the string "500.00" (interpolating the text first would let YAML read the number 500.0).
    """
    env = dict(env_items) if env_items is not None else example_env()
    return _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()), env)  # type: ignore[no-any-return]


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string of a parsed YAML tree."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    return node


def services() -> dict[str, dict[str, Any]]:
    """The services of the compose file."""
    return compose()["services"]  # type: ignore[no-any-return]


def environment(service: str) -> dict[str, str]:
    """A service's environment as a mapping."""
    env = services()[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def on_host_network(service: str) -> bool:
    """Whether a service runs in the host's network namespace (network_mode: host)."""
    return services()[service].get("network_mode") == "host"


def listen_addresses(service: str) -> list["Endpoint"]:
    """Where a host-network service listens, from its `--web.listen-address` flags (host:port)."""
    flags = [str(arg) for arg in services()[service].get("command", []) if str(arg).startswith("--web.listen-address=")]
    return [Endpoint.from_url(flag.split("=", 1)[1]) for flag in flags]


def ports(service: str) -> list[int]:
    """The ports a service listens on: `expose` on a compose network, its listen flags on the host's."""
    if on_host_network(service):
        return [endpoint.port for endpoint in listen_addresses(service)]
    return [int(str(port).split("/")[0]) for port in services()[service].get("expose", [])]


def host_gateway_names(client: str) -> set[str]:
    """Names that `client` resolves to the host (extra_hosts entries NAME:host-gateway)."""
    entries = services()[client].get("extra_hosts", [])
    pairs = entries.items() if isinstance(entries, dict) else (str(e).split(":", 1) for e in entries)
    return {name for name, address in pairs if address.strip("= ") == "host-gateway"}


@dataclass(frozen=True)
class Endpoint:
    """host:port a config file points at."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> "Endpoint":
        parts = urlsplit(url if "//" in url else f"//{url}")
        default = {"https": 443, "smtp": 25}.get(parts.scheme, 80)
        assert parts.hostname, url
        return cls(parts.hostname, parts.port or default)


def assert_reaches(client: str, target: Endpoint) -> None:
    """`client` can reach `target`: a compose service exposing that port, on a network they share, or
    (for a name `client` maps to host-gateway) a host-network service listening on the gateway address.
    """
    all_services = services()
    if target.host in host_gateway_names(client):
        listening = {name: listen_addresses(name) for name in all_services if on_host_network(name)}
        assert any(Endpoint(DOCKER_HOST_GATEWAY, target.port) in found for found in listening.values()), (
            f"{client} points at {target.host}:{target.port} (the host gateway, {DOCKER_HOST_GATEWAY}); "
            f"host-network services listen on {listening}"
        )
        return
    assert target.host in all_services, f"{client} points at {target.host}, which is no compose service"
    assert not on_host_network(target.host), f"{target.host} is on the host's network: no compose name reaches it"
    exposed = ports(target.host)
    assert target.port in exposed, f"{client} points at {target.host}:{target.port}; it exposes {sorted(exposed)}"
    if client == target.host:
        return
    shared = set(all_services[client].get("networks", [])) & set(all_services[target.host].get("networks", []))
    assert shared, f"{client} and {target.host} share no network"
