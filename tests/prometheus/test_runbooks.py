"""Every alert has a runbook (prometheus/runbooks/<Alert>.md and its panel on the runbooks dashboard), and
everything a runbook names exists: compose services, `./run.sh` subcommands, published ports, files
inside containers, environment variables, dashboard panels; its SQL runs on a real PostgreSQL loaded
from postgres/init.sql."""

import re
import shlex

import pytest
import yaml

from prometheus.rulegen import pages
from prometheus.rulegen.runbooks import Page
from tests.prometheus.test_rules_generated import alerting_rules, panel_of
from tests.support.compose import ROOT, services
from tests.support.postgres import ThrowawayPostgres
from tests.twin.site import site_model

RUNBOOKS = ROOT / "prometheus" / "runbooks"
PAGES = pages()
# Docker commands outside compose that a runbook may name (they need no service).
DOCKER = {("docker", "system", "df"), ("docker", "stats")}
# docker compose options that take a value.
VALUED_OPTIONS = {"--tail", "--scale", "-u", "--user", "-e", "--env", "-w", "--workdir"}


def run_sh_commands() -> set[str]:
    """The subcommands of ./run.sh: the labels of its final `case` (`a | b)` is two, `site-credentials` one)."""
    text = (ROOT / "run.sh").read_text()
    body = text[text.rindex('case "${1:-up}" in'):]
    labels = re.findall(r"^\s+([a-z][a-z-]*(?:\s*\|\s*[a-z][a-z-]*)*)\)", body, re.MULTILINE)
    return {name.strip() for label in labels for name in label.split("|")}


def published_ports() -> set[int]:
    """Host ports compose publishes (`${BIND_ADDRESS:-127.0.0.1}:9090:9090` -> 9090)."""
    found = set()
    for service in services().values():
        for mapping in service.get("ports", []):
            found.add(int(str(mapping).rsplit(":", 2)[-2]))
    return found


def compose_command(tokens: list[str]) -> tuple[str, str, list[str]]:
    """`docker compose VERB [options] SERVICE [ARGS...]` -> (verb, service, args)."""
    verb, rest = tokens[2], tokens[3:]
    index = 0
    while index < len(rest) and rest[index].startswith("-"):
        index += 2 if rest[index] in VALUED_OPTIONS else 1
    assert index < len(rest), f"no service in {' '.join(tokens)}"
    return verb, rest[index], rest[index + 1:]


def sql_of(args: list[str]) -> list[str]:
    """The SQL of a `psql ... -c SQL` run directly or through `sh -c '...'`."""
    if args[:2] == ["sh", "-c"]:
        return sql_of(shlex.split(args[2]))
    if args and args[0] == "psql":
        return [args[i + 1] for i, arg in enumerate(args) if arg == "-c"]
    return []


def problems(command: str) -> list[str]:
    """What a runbook command names that does not exist (empty: everything does)."""
    tokens = shlex.split(command)
    found = []
    if tokens[0] == "./run.sh":
        if tokens[1] not in run_sh_commands():
            found.append(f"./run.sh has no {tokens[1]!r}")
    elif tokens[:2] == ["docker", "compose"]:
        verb, service, args = compose_command(tokens)
        # A service of the centre, or of the site bundle (run on a remote site's host, in its site/ folder).
        definition = services().get(service) or site_model()["services"].get(service)
        if definition is None:
            return [f"no compose service {service!r}"]
        if verb == "exec":
            text = yaml.safe_dump(definition)
            for token in args:
                if token.startswith("/") and token not in text and not any(
                        token.startswith(mount.split(":")[1]) for mount in definition.get("volumes", [])
                        if isinstance(mount, str) and ":" in mount):
                    found.append(f"{token} is nowhere in {service}'s definition")
            if args[:1] == ["printenv"] and args[1] not in definition.get("environment", {}):
                found.append(f"{service} has no variable {args[1]}")
    elif tokens[0] == "curl":
        for url in (t for t in tokens if t.startswith("http")):
            port = re.match(r"https?://localhost:([0-9]+)/", url)
            if not port or int(port.group(1)) not in published_ports():
                found.append(f"{url} is not on a published port")
    elif not any(tuple(tokens[:len(known)]) == known for known in DOCKER):
        found.append(f"unknown kind of command: {command}")
    return found


def commands(page: Page) -> list[str]:
    return [check.command for check in page.runbook.check]


def test_every_alert_has_a_runbook() -> None:
    alerts = {rule["alert"] for rule in alerting_rules()}
    assert alerts == {page.alert for page in PAGES}
    assert alerts == {path.stem for path in RUNBOOKS.glob("*.md")}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.alert)
def test_the_runbook_says_what_it_must(page: Page) -> None:
    text = (RUNBOOKS / f"{page.alert}.md").read_text()
    for heading in ("## What it means", "## Who is affected", "## Dashboard", "## First steps", "## Silence it",
                    "## Is it over?"):
        assert heading in text
    assert page.service in services() or page.service.startswith("(the `service` label")
    assert "./run.sh" in text or "docker compose" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.alert)
def test_every_command_names_what_exists(page: Page) -> None:
    wrong = [problem for command in commands(page) for problem in problems(command)]
    assert not wrong, wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.alert)
def test_every_panel_link_opens_a_panel(page: Page) -> None:
    text = (RUNBOOKS / f"{page.alert}.md").read_text()
    links = re.findall(r"http://localhost:3000(/d/[^)\s]+)", text)
    assert links
    for link in links:
        panel_of(link)


def test_the_checks_notice_what_does_not_exist() -> None:
    assert problems("./run.sh restart")
    assert problems("docker compose logs --tail 100 apy")
    assert problems("docker compose exec apache printenv NO_SUCH_VARIABLE")
    assert problems("docker compose exec prometheus promtool check config /etc/nowhere/prometheus.yml")
    assert problems("curl -s http://localhost:9999/api")
    assert problems("rm -rf /")
    assert not problems("docker compose logs --tail 100 api")
    assert not problems("./run.sh status")
    assert not problems("./run.sh backup")        # a label of `backup | restore)`
    assert not problems("./run.sh site-credentials lisbon")
    assert problems("./run.sh back")


SQL = [(page.alert, sql) for page in PAGES for command in commands(page)
       if command.startswith("docker compose") for sql in sql_of(compose_command(shlex.split(command))[2])]


def test_there_is_sql_to_check() -> None:
    assert len(SQL) >= 2


@pytest.mark.parametrize(("alert", "sql"), SQL, ids=[alert for alert, _ in SQL])
def test_the_runbook_sql_runs(postgres: ThrowawayPostgres, alert: str, sql: str) -> None:
    postgres.psql(sql)
