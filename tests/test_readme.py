"""README.md restates facts that code and configuration own: each table is held to its source.

Kind of fault guarded against: a document that restates a fact the code owns (the settings table
once said DB_POOL_SIZE defaults to 10 while the code said 4).
"""

import re
from decimal import Decimal
from typing import Any

import pytest

from tests.support.api_facts import api_facts as read_api_facts
from tests.support.compose import ROOT, ports, services
from tests.support.markdown import Table, code_spans, table

README = ROOT / "README.md"

@pytest.fixture(scope="module")
def api_facts() -> dict[str, Any]:
    return read_api_facts()


def dockerfile_env(path: str) -> dict[str, str]:
    """The ENV values of a Dockerfile (KEY=value pairs, continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / path).read_text())
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(line[4:] for line in text.splitlines() if line.startswith("ENV "))))


# ---------------------------------------------------------------------------------------------
# Settings


def settings_rows() -> list[tuple[str, str]]:
    """(variable, documented default) pairs of the settings table; '—' for required, '' for "empty"."""
    pairs = []
    for record in table(README, "variable", "default", "meaning").records():
        names, defaults = code_spans(record["variable"]), code_spans(record["default"])
        if record["default"].startswith("—"):
            defaults = ["—"] * len(names)
        elif record["default"].startswith("empty"):  # an empty string has no code span to write it in
            defaults = [""] * len(names)
        assert len(names) == len(defaults), f"settings row {record['variable']}: names and defaults do not pair up"
        pairs += zip(names, defaults, strict=True)
    return pairs


def test_the_settings_table_lists_every_setting_once(api_facts: dict[str, Any]) -> None:
    documented = [name for name, _ in settings_rows()]
    assert len(documented) == len(set(documented)), documented
    image_only = {"PROMETHEUS_MULTIPROC_DIR"}  # read by prometheus_client and entrypoint.sh, not Settings
    assert set(documented) - image_only == {name.upper() for name in api_facts["settings"]}


def test_every_documented_default_is_the_code_s(api_facts: dict[str, Any]) -> None:
    image = dockerfile_env("api/Dockerfile")
    for name, documented in settings_rows():
        if name.lower() in api_facts["settings"]:
            default = api_facts["settings"][name.lower()]
            assert documented == ("—" if default is None else default), f"{name}: README says {documented}, code {default}"
        else:
            assert image[name] == documented, f"{name}: README says {documented}, api/Dockerfile {image.get(name)}"


def test_the_refusal_minimum_is_the_setting_s_default(api_facts: dict[str, Any]) -> None:
    cell = next(r["refusal"] for r in table(README, "refusal", "status").records() if "MINIMUM_DECLARED_MONEY" in r["refusal"])
    stated = re.search(r"\(default ([\d.]+)\)", cell)
    assert stated and Decimal(stated[1]) == Decimal(api_facts["settings"]["minimum_declared_money"])


# ---------------------------------------------------------------------------------------------
# The API


def test_the_refusals_are_the_checkpoint_s_in_its_order(api_facts: dict[str, Any]) -> None:
    rows = table(README, "refusal", "status", "`reason`").records()
    documented = [[code_spans(r["`reason`"])[0], int(r["status"])] for r in rows]
    assert documented == api_facts["refusals"]


def route_shape(route: str) -> str:
    """A route without its query and with its path parameters unnamed: GET /immigration/{}."""
    return re.sub(r"\{[^}]*\}", "{}", route.split("?")[0])


def test_the_request_table_lists_every_route(api_facts: dict[str, Any]) -> None:
    documented = set()
    for request in table(README, "request", "who", "answer").column("request"):
        (span,) = code_spans(request)
        documented.add(route_shape(span))
    assert documented == {route_shape(route) for route in api_facts["routes"]}


def test_the_load_test_defaults_are_the_script_s() -> None:
    script = (ROOT / "api" / "load" / "performance_tests.py").read_text()
    defaults = dict(re.findall(r'os\.environ\.get\("(\w+)", "([^"]+)"\)', script))
    text = README.read_text()
    stated = dict(re.findall(r"`(LOAD_TEST_\w+)`[^()]*\(default (\d+)\)", text))
    assert stated and stated == {name: defaults[name] for name in stated}, (stated, defaults)


# ---------------------------------------------------------------------------------------------
# Services and ports


def services_table() -> Table:
    return table(README, "service", "port", "what it is for")


def published_host_ports(name: str) -> set[int]:
    """Host ports a service publishes, with .example.env's values ("127.0.0.1:8080:80" -> 8080)."""
    return {int(str(port).split(":")[-2]) for port in services()[name].get("ports", [])}


def test_the_services_table_names_every_service_once() -> None:
    named = [name for cell in services_table().column("service") for name in code_spans(cell)]
    assert sorted(named) == sorted(services())


@pytest.mark.parametrize("row", services_table().records(), ids=lambda r: r["service"])
def test_each_service_row_gives_its_ports(row: dict[str, str]) -> None:
    names = code_spans(row["service"])
    numbers = {int(n) for n in re.findall(r"\d+", row["port"])}
    bold = {int(n) for n in re.findall(r"\*\*(\d+)\*\*", row["port"])}
    published = set().union(*(published_host_ports(name) for name in names))
    assert numbers == set().union(*(ports(name) for name in names)) | published, names
    assert bold == published, f"{names}: bold ports must be exactly the published ones"


def test_the_stated_compose_minimum_is_run_sh_s() -> None:
    minimum = re.search(r"^COMPOSE_MINIMUM=(\d+\.\d+)", (ROOT / "run.sh").read_text(), re.M)
    assert minimum
    stated = set(re.findall(r"Compose (\d+\.\d+(?:\.\d+)?) or newer", README.read_text()))
    assert stated == {minimum[1]}
