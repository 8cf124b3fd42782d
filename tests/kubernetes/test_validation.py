"""Every object of every overlay is valid for the oldest and the newest Kubernetes supported.

Built-in kinds: kubernetes-validate (PyPI; the OpenAPI schemas of Kubernetes 1.25 to 1.37, strict:
unknown fields are errors). Custom resources (ServiceMonitor, Probe, PrometheusRule): check-jsonschema
against their CRDs' own schemas (crds/, from prometheus-operator v0.93.0).
"""

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.kubernetes.manifests import OVERLAYS, Object, render

# The range README.md promises: kubernetes-validate 1.37.0 bundles schemas from 1.25 on.
OLDEST, NEWEST = "1.25.0", "1.37.0"
CRDS = Path(__file__).parent / "crds"
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): CRDS / "servicemonitor-v1.json",
    ("monitoring.coreos.com/v1", "Probe"): CRDS / "probe-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): CRDS / "prometheusrule-v1.json",
}


def is_custom(obj: Object) -> bool:
    return "." in obj["apiVersion"].split("/")[0] and not obj["apiVersion"].split("/")[0].endswith(".k8s.io")


def builtin_objects(overlay: str) -> list[Object]:
    return [obj for obj in render(overlay) if not is_custom(obj)]


def validate(obj: Object, version: str) -> None:
    kubernetes_validate.validate(obj, desired_version=version, strict=True)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_object_is_valid(overlay: str, version: str) -> None:
    errors = []
    for obj in builtin_objects(overlay):
        try:
            validate(obj, version)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_the_validator_rejects_an_unknown_field_and_a_wrong_type(version: str) -> None:
    deployment = next(obj for obj in builtin_objects("single-node") if obj["kind"] == "Deployment")
    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    for bad in (unknown, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(bad, version)


def test_only_known_custom_resources_are_used() -> None:
    for overlay in OVERLAYS:
        for obj in render(overlay):
            if is_custom(obj):
                assert (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS, f"{overlay}: no schema for {obj['kind']}"


def case_insensitive(pattern: str) -> str:
    """A Go (RE2) pattern with an inline (?i) flag, which ECMA and Python patterns lack mid-pattern,
    rewritten with a character class per letter: ^(?i)(abort|warn)?$ -> ^([aA][bB]...|...)?$."""
    head, _, tail = pattern.partition("(?i)")
    assert not any(c in tail for c in "\\[]{}"), f"rewrite {pattern!r} by hand"
    return head + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in tail)


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if isinstance(schema.get("pattern"), str) and "(?i)" in schema["pattern"]:
        out["pattern"] = case_insensitive(schema["pattern"])
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def check_jsonschema(schema_file: Path, objects: list[Object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    schema = tmp_path / f"strict-{schema_file.name}"
    schema.write_text(json.dumps(strict(json.loads(schema_file.read_text()))))
    instances = []
    for index, obj in enumerate(objects):
        instance = tmp_path / f"{index}-{obj['kind']}-{obj['metadata']['name']}.json"
        instance.write_text(json.dumps(obj))
        instances.append(str(instance))
    return subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--schemafile", str(schema), *instances],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS), ids=lambda k: k[1])
def test_every_custom_resource_matches_its_crd_schema(kind: tuple[str, str], tmp_path: Path) -> None:
    objects = [obj for obj in render("prometheus-operator") if (obj["apiVersion"], obj["kind"]) == kind]
    assert objects, f"the prometheus-operator overlay has no {kind[1]}"
    result = check_jsonschema(CUSTOM_KINDS[kind], objects, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS), ids=lambda k: k[1])
def test_the_crd_schemas_reject_an_unknown_field(kind: tuple[str, str], tmp_path: Path) -> None:
    obj = copy.deepcopy(next(o for o in render("prometheus-operator") if (o["apiVersion"], o["kind"]) == kind))
    obj["spec"]["jobNmae"] = "typo"
    result = check_jsonschema(CUSTOM_KINDS[kind], [obj], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "jobNmae" in result.stdout + result.stderr, result.stdout + result.stderr  # rejected for that field
