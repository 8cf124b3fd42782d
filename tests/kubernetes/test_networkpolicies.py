"""The NetworkPolicies allow exactly the flows compose's networks allow, derived from
docker-compose.yaml: two services sharing a network reach each other (on any port), a service on a
network that is not `internal` reaches the outside world, and nothing else gets through.

The policies are evaluated here by a small reader of the NetworkPolicy fields they use (pod and
namespace selectors by matchLabels, rules without port limits, `{}` for anywhere, kube-dns's port 53):
any other field fails the test rather than being misread.
"""

from dataclasses import dataclass, field
from functools import cache

import pytest
import yaml

from tests.kubernetes.manifests import NAMESPACE, OVERLAYS, Object, of_kind, pod_template, render, workloads
from tests.kubernetes.test_compose_parity import raw_services
from tests.kubernetes.test_cross_references import addresses, selected_workloads, service
from tests.support.compose import COMPOSE_FILE, on_host_network

NETWORK_LABEL = "network.promethoide/"
# Compose's services on the host's network (network_mode: host): on none of compose's networks. Their
# Kubernetes form is a pod on the host's network (hostNetwork), to which NetworkPolicies do not apply
# (README.md says how to fence it).
HOST_NETWORK = {name for name in raw_services() if on_host_network(name)}


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: dict[str, str] = field(hash=False)


OUTSIDE = Pod("somewhere on the internet", "", {})
KUBE_DNS = Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
CLUSTER_PROMETHEUS = Pod("the operator's Prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})


def matches(selector: dict[str, object], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())  # type: ignore[union-attr]


def peer_matches(peer: dict[str, dict[str, object]], pod: Pod) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector"}, f"unsupported peer {peer}"
    if pod is OUTSIDE:
        return False
    if "namespaceSelector" in peer:
        in_namespace = matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace})
    else:
        in_namespace = pod.namespace == NAMESPACE
    return in_namespace and matches(peer.get("podSelector", {}), pod.labels)


class Policies:
    def __init__(self, objects: list[Object]):
        self.policies = list(of_kind(objects, "NetworkPolicy").values())

    def applying(self, pod: Pod, direction: str) -> list[Object]:
        if pod.namespace != NAMESPACE:
            return []
        return [p for p in self.policies
                if direction in p["spec"]["policyTypes"] and matches(p["spec"]["podSelector"], pod.labels)]

    def _allows(self, pod: Pod, other: Pod, direction: str, port: int | None) -> bool:
        policies = self.applying(pod, direction)
        if not policies:
            return True  # not isolated in that direction (or outside our namespace: not ours to fence)
        key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in policy["spec"].get(key, []):
                assert set(rule) <= {peers, "ports"}, f"unsupported rule {rule}"
                ports = {p["port"] for p in rule.get("ports", [])}
                if ports and port not in ports:
                    continue
                if peers not in rule or any(peer_matches(peer, other) for peer in rule[peers]):
                    return True
        return False

    def allows(self, source: Pod, destination: Pod, port: int | None = None) -> bool:
        return self._allows(source, destination, "Egress", port) and self._allows(destination, source, "Ingress", port)


@cache
def compose_networks() -> dict[str, dict[str, object]]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["networks"]  # type: ignore[no-any-return]


def networks_of(name: str) -> set[str]:
    """A service's compose networks; none for one on the host's network."""
    return set() if name in HOST_NETWORK else set(raw_services()[name]["networks"])


def pods(objects: list[Object]) -> dict[str, Pod]:
    return {name: Pod(name, NAMESPACE, pod_template(w)["metadata"]["labels"]) for name, w in workloads(objects).items()}


def test_pods_carry_the_labels_of_their_compose_networks() -> None:
    for name, pod in pods(render("single-node")).items():
        labels = {k.removeprefix(NETWORK_LABEL) for k, v in pod.labels.items() if k.startswith(NETWORK_LABEL)}
        assert labels == networks_of(name), name
        assert all(v == "true" for k, v in pod.labels.items() if k.startswith(NETWORK_LABEL))


def test_exactly_the_host_network_services_of_compose_use_the_host_network() -> None:
    host = {name for name, w in workloads(render("single-node")).items() if pod_template(w)["spec"].get("hostNetwork")}
    assert host == HOST_NETWORK == {"node-exporter"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_reach_each_other_exactly_when_they_share_a_compose_network(overlay: str) -> None:
    objects = render(overlay)
    policies, found = Policies(objects), pods(objects)
    wrong = []
    for a in sorted(set(found) - HOST_NETWORK):
        for b in sorted(set(found) - HOST_NETWORK - {a}):
            shared = bool(networks_of(a) & networks_of(b))
            if policies.allows(found[a], found[b]) != shared:
                wrong.append(f"{a} -> {b}: compose {'allows' if shared else 'forbids'} it")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_reach_the_outside_exactly_when_compose_gives_them_a_network_that_is_not_internal(overlay: str) -> None:
    objects = render(overlay)
    policies = Policies(objects)
    for name, pod in pods(objects).items():
        if name in HOST_NETWORK:
            continue
        external = any(not compose_networks()[n].get("internal") for n in networks_of(name))
        assert policies.allows(pod, OUTSIDE) == external, name
        assert not policies.allows(OUTSIDE, pod), f"{name} is reachable from outside the cluster"
        assert policies.allows(pod, KUBE_DNS, 53), f"{name} cannot resolve names"


def test_at_least_one_service_is_on_an_internal_network_only() -> None:
    """The policies above can forbid something: postgres has no way out."""
    # A host-network service is on no compose network, so not on an internal one only.
    internal_only = [n for n in sorted(set(raw_services()) - HOST_NETWORK)
                     if all(compose_networks()[x].get("internal") for x in networks_of(n))]
    assert internal_only == ["postgres"]
    assert not Policies(render("single-node")).allows(pods(render("single-node"))["postgres"], OUTSIDE)


def test_every_address_the_configuration_uses_is_allowed() -> None:
    objects = render("single-node")
    policies, found = Policies(objects), pods(objects)
    for client, endpoint in addresses(objects):
        for workload in selected_workloads(objects, service(objects, endpoint)["spec"]["selector"]):
            target = workload["metadata"]["name"]
            if client != target and target not in HOST_NETWORK:
                assert policies.allows(found[client], found[target], endpoint.port), f"{client} -> {endpoint}"


def test_the_operators_prometheus_joins_the_monitoring_network_only() -> None:
    objects = render("prometheus-operator")
    policies = Policies(objects)
    for name, pod in pods(objects).items():
        if name not in HOST_NETWORK:
            assert policies.allows(CLUSTER_PROMETHEUS, pod) == ("monitoring" in networks_of(name)), name
    assert not policies.allows(Pod("other", "monitoring", {"app.kubernetes.io/name": "grafana"}), pods(objects)["api"])
