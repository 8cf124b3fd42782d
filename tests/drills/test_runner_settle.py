"""Between rounds the runner waits for every rule group to evaluate what the last round left
(drills/runner.py, Stack.rules_settled), against a real Prometheus (Debian's) with rule groups of
different intervals: not settled just after a moment, settled once each group has evaluated after it
and a scrape interval."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drills.runner import Stack, _unix_s
from tests.support.processes import free_port, wait_until
from tests.support.prometheus import running_prometheus

SCRAPE_INTERVAL_S = 1
# The slower group decides; long enough that "just after a moment" is reliably before its next evaluation.
GROUP_INTERVALS_S = (1, 20)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="promethoide-settle-"))
    rules = "groups:\n" + "".join(
        f"  - name: every-{s}s\n    interval: {s}s\n    rules:\n      - record: settle:one{s}\n        expr: vector(1)\n"
        for s in GROUP_INTERVALS_S)
    (directory / "rules.yml").write_text(rules)
    config = f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\nrule_files: [rules.yml]\nscrape_configs: []\n"
    try:
        with running_prometheus(directory, config) as url:
            yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _last_evaluations(url: str) -> list[float]:
    groups = httpx.get(url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    return [_unix_s(group["lastEvaluation"]) for group in groups]


def test_settled_only_once_every_group_evaluated_after_the_moment_and_a_scrape(prometheus: str) -> None:
    stack = Stack(prometheus=prometheus, alertmanager="http://127.0.0.1:9", mailpit="http://127.0.0.1:9", page="")
    # Every group has evaluated at least once (the slow one may take its whole interval to start).
    wait_until(lambda: all(t > 0 for t in _last_evaluations(prometheus)), 2 * max(GROUP_INTERVALS_S) + 30,
               "every rule group evaluated once")
    # Right after the slow group's evaluation its next one is a whole interval away: not settled.
    wait_until(lambda: time.time() - max(_last_evaluations(prometheus)[1:]) < 1, 2 * max(GROUP_INTERVALS_S) + 30,
               "the slow group just evaluated")
    since = time.time()
    assert not stack.rules_settled(since)
    wait_until(lambda: stack.rules_settled(since), 2 * max(GROUP_INTERVALS_S) + 30, "every group evaluated again")
    assert min(_last_evaluations(prometheus)) > since + SCRAPE_INTERVAL_S


def test_an_unreachable_prometheus_is_nothing_to_wait_for() -> None:
    stack = Stack(prometheus=f"http://127.0.0.1:{free_port()}", alertmanager="http://127.0.0.1:9",
                  mailpit="http://127.0.0.1:9", page="")
    assert stack.rules_settled(time.time())


@pytest.mark.parametrize(("text", "unix_s"), [
    ("2026-11-29T10:50:12.123456789Z", 1795949412.123456789),
    ("2026-11-29T10:50:12Z", 1795949412.0),
    ("0001-01-01T00:00:00Z", 0.0),  # a group never evaluated
    ("", 0.0),
    ("yesterday", 0.0),
])
def test_prometheus_timestamps_read_as_unix_seconds(text: str, unix_s: float) -> None:
    assert _unix_s(text) == pytest.approx(unix_s, abs=1e-6)
