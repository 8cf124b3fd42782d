"""kubernetes/generate.py carries a change of docker-compose.yaml into the workload it concerns (its
freshness, for the compose file as it is, is tests/kubernetes/test_prometheus.py's
test_generated_files_are_fresh): each case changes one compose setting and reads the container back."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import main_container
from tests.kubernetes.test_prometheus import generator

Change = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Change:
    return lambda service: service.__setitem__(key, value)


def _check(**values: Any) -> Change:
    return lambda service: service["healthcheck"].update(values)


# (service, change of its compose entry, what its main container then has)
CASES: list[tuple[str, Change, Callable[[dict[str, Any]], Any], Any]] = [
    ("grafana", _set("image", "grafana/grafana:99.0.0"), lambda c: c["image"], "grafana/grafana:99.0.0"),
    ("api", lambda s: s["environment"].update(ROOT_PATH="/v2"),
     lambda c: [e["value"] for e in c["env"] if e["name"] == "ROOT_PATH"], ["/v2"]),
    ("api", lambda s: s["environment"].update(NEW_SETTING="${NEW_SETTING:-1}"),
     lambda c: [e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if e["name"] == "NEW_SETTING"], ["NEW_SETTING"]),
    ("api", lambda s: s["environment"].update(POSTGRES_PORT="5433"),
     lambda c: [e["value"] for e in c["env"] if e["name"] == "POSTGRES_PORT"], ["5433"]),
    ("alertmanager", lambda s: s["command"].append("--log.level=${LOG_LEVEL:-info}"),
     lambda c: (c["args"][-1], c["env"][0]["valueFrom"]["secretKeyRef"]["key"]), ("--log.level=$(LOG_LEVEL)", "LOG_LEVEL")),
    ("alertmanager", lambda s: s["command"].pop(), lambda c: "--web.route-prefix=/" in c["args"], False),
    ("postgres-exporter", _check(test=["CMD", "wget", "-qO-", "http://127.0.0.1:9187/healthz"]),
     lambda c: c["readinessProbe"]["httpGet"]["path"], "/healthz"),
    ("mailpit", _check(test=["CMD", "/mailpit", "readyz", "--verbose"]),
     lambda c: c["livenessProbe"]["exec"]["command"], ["/mailpit", "readyz", "--verbose"]),
    ("grafana", _check(start_period="300s", interval="30s"),
     lambda c: (c["livenessProbe"]["initialDelaySeconds"], c["readinessProbe"]["periodSeconds"]), (300, 30)),
    ("postgres", _check(test=["CMD-SHELL", "pg_isready -U \"$$POSTGRES_USER\""]),
     lambda c: c["readinessProbe"]["exec"]["command"], ["sh", "-c", "pg_isready -U \"$POSTGRES_USER\""]),
]


@pytest.mark.parametrize(("name", "change", "read", "expected"), CASES)
def test_a_compose_change_reaches_the_workload(name: str, change: Change, read: Callable[[dict[str, Any]], Any],
                                                expected: Any) -> None:
    module = generator()
    service = copy.deepcopy(module.compose_services()[name])
    before = read(main_container(workload(module.workload_manifest(name, service), name)))
    assert before != expected, "the case changes nothing"
    change(service)
    assert read(main_container(workload(module.workload_manifest(name, service), name))) == expected


def test_a_healthcheck_without_a_probe_equivalent_is_an_error() -> None:
    module = generator()
    service = copy.deepcopy(module.compose_services()["pushgateway"])
    service["healthcheck"]["interval"] = "1m30s"
    with pytest.raises(SystemExit, match="whole seconds"):
        module.workload_manifest("pushgateway", service)


def workload(text: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == name and "template" in d["spec"]]
    return found  # type: ignore[no-any-return]
