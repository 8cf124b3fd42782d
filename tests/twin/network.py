"""The twin's network: loopback addresses per service, a hosts file, and a DNS server like Docker's.

Everything here must run inside a private network and mount namespace (`unshare --net --mount
--propagation private`): it bind-mounts over /etc/hosts and /etc/resolv.conf, which only that
namespace sees, and all of it vanishes with the namespace's last process.
"""

import subprocess
from pathlib import Path

# Docker's embedded DNS listens on 127.0.0.11 in every container; the twin's dnsmasq does too.
DNS_ADDRESS = "127.0.0.11"


def in_private_namespace() -> bool:
    """Whether this process's network has loopback and nothing the twin did not create itself, as a fresh
    namespace has (the twin adds a veth pair, add_interface(), and a remote site's link, tests/twin/site.py)."""
    from tests.twin.site import CENTRE_INTERFACE  # noqa: PLC0415  (site.py imports this module)

    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    devices = {line.split(":")[0].strip() for line in lines}
    # The twin's eth0 always comes with its peer in the same namespace: a machine's own eth0 never does.
    ours = {INTERFACE, PEER} if {INTERFACE, PEER} <= devices else set()
    return "lo" in devices and devices <= {"lo", CENTRE_INTERFACE} | ours


def require_private_namespace() -> None:
    """Refuse to touch /etc/hosts or bind service ports on the machine's own network."""
    if not in_private_namespace():
        raise RuntimeError(
            "the twin must run in a private network namespace: use ./test.sh stack -- COMMAND, or run "
            "under `unshare --net --mount --propagation private`"
        )


def bring_up_loopback() -> None:
    """A new network namespace has `lo` down: bring it up (all of 127.0.0.0/8 is then local)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def add_local_address(address: str) -> None:
    """Give the namespace one more local address (e.g. Docker's host gateway, 172.17.0.1)."""
    subprocess.run(["ip", "address", "add", f"{address}/32", "dev", "lo"], check=True)


def assign_addresses(names: dict[str, int]) -> dict[str, list[str]]:
    """One loopback address per replica of each service: 127.0.0.20, .21, ... in a stable order."""
    addresses: dict[str, list[str]] = {}
    next_host = 20
    for name in sorted(names):
        addresses[name] = [f"127.0.0.{next_host + i}" for i in range(names[name])]
        next_host += names[name]
    return addresses


def install_name_resolution(addresses: dict[str, list[str]], workdir: Path) -> subprocess.Popen[bytes]:
    """Make service names resolve for every process of the namespace; return the DNS server.

    /etc/hosts answers the C library; Prometheus' dns_sd_configs asks a DNS server and ignores the
    hosts file, so dnsmasq answers from the same file, where a name with several lines is a scaled
    service with several replicas.
    """
    hosts = workdir / "hosts"
    lines = [Path("/etc/hosts").read_text().rstrip("\n")]
    lines += [f"{address} {name}" for name, replicas in sorted(addresses.items()) for address in replicas]
    hosts.write_text("\n".join(lines) + "\n")
    hosts.chmod(0o644)
    resolv = workdir / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:1 attempts:2\n")
    resolv.chmod(0o644)
    for source, target in ((hosts, "/etc/hosts"), (resolv, "/etc/resolv.conf")):
        subprocess.run(["mount", "--bind", str(source), target], check=True)
    return subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
         f"--listen-address={DNS_ADDRESS}", "--bind-interfaces", "--port=53", "--user=root",
         f"--pid-file={workdir / 'dnsmasq.pid'}", "--log-facility=-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


# A container's interface name, and its peer's: node-exporter's network panels leave `lo` out, so
# the twin needs a real device for them to have data, as a container's eth0 gives Docker.
INTERFACE, PEER = "eth0", "eth0-peer"


def add_interface() -> None:
    """Give the namespace a veth pair (eth0 and its peer), both up, with an address on eth0.

    Bringing a link up sends IPv6 neighbour discovery over it, so its byte counters move on their
    own; traffic between the twin's services stays on loopback, as it must.
    """
    subprocess.run(["ip", "link", "add", INTERFACE, "type", "veth", "peer", "name", PEER], check=True)
    subprocess.run(["ip", "address", "add", "172.18.0.2/16", "dev", INTERFACE], check=True)
    for device in (INTERFACE, PEER):
        subprocess.run(["ip", "link", "set", device, "up"], check=True)
