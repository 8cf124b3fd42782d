"""The Locust load test runs headless against the real API, ends by itself, and sees no failure; it
judges each answer by the API's contract (status, JSON body, `reason`), so a wrong base path fails."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres

LOCUSTFILE = Path(__file__).resolve().parents[2] / "api" / "load" / "performance_tests.py"
TASKS = {"/dni/{dni}", "/flights/{flight_number}", "/immigration"}
# The load test's own officer account, as ./run.sh makes it from LOAD_TEST_USERNAME / LOAD_TEST_PASSWORD.
LOAD_ACCOUNT = operators.Account("load.test", "load-test-password-1", "officer")


def run_locust(api: ApiServer, host: str, tmp_path: Path, duration_s: int = 6) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]], list[dict[str, str]]]:
    """A headless run, every user signed in as LOAD_ACCOUNT: the process, its stats rows by name, and
    its failure rows (name, error, occurrences)."""
    operators.ensure(api.env, LOAD_ACCOUNT)
    env = {**os.environ, "LOAD_TEST_DURATION": str(duration_s), "LOAD_TEST_PEAK_USERS": "8",
           "LOAD_TEST_USERNAME": LOAD_ACCOUNT.username, "LOAD_TEST_PASSWORD": LOAD_ACCOUNT.password}
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, "--headless", "--only-summary",
         "--csv", str(tmp_path / "run"), "--exit-code-on-error", "1"],
        # The shape ends the run; the timeout only turns a run that never ends into a failure.
        capture_output=True, text=True, env=env, timeout=300,
    )
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    with (tmp_path / "run_failures.csv").open() as failures:
        errors = list(csv.DictReader(failures))
    return result, rows, errors


def test_a_short_day_of_traffic_has_no_failures(api: ApiServer, postgres: ThrowawayPostgres, tmp_path: Path) -> None:
    before = int(postgres.psql("SELECT count(*) FROM immigration"))
    result, rows, errors = run_locust(api, api.url, tmp_path)
    assert result.returncode == 0, (errors, result.stderr[-4000:])
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0
    assert int(total["Failure Count"]) == 0
    assert TASKS <= set(rows)
    registered = int(rows["/immigration"]["Request Count"])
    assert int(postgres.psql("SELECT count(*) FROM immigration")) >= before + registered


def test_a_wrong_base_path_fails_the_run(api: ApiServer, tmp_path: Path) -> None:
    """Under /apx every answer is FastAPI's own JSON 404 (`reason` not_found): a 404 like "not listed"
    and "unknown flight", which only the body's `reason` tells apart. Every request must fail."""
    result, rows, errors = run_locust(api, api.url + "/apx", tmp_path)
    assert result.returncode == 1, result.stderr[-4000:]
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0
    assert total["Failure Count"] == total["Request Count"]
    messages = {row["Error"] for row in errors}
    # The expected 404s fail on their reason, the expected 200/201s on their status.
    assert any("JSON has reason=not_found, expected reason=not_listed" in message for message in messages), messages
    assert all("404" in message for message in messages), messages
