"""The Locust load test runs headless against the real API, ends by itself, and sees no failure."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres

LOCUSTFILE = Path(__file__).resolve().parents[2] / "api" / "load" / "performance_tests.py"
# The load test's own officer account, as ./run.sh makes it from LOAD_TEST_USERNAME / LOAD_TEST_PASSWORD.
LOAD_ACCOUNT = operators.Account("load.test", "load-test-password-1", "officer")


def test_a_short_day_of_traffic_has_no_failures(api: ApiServer, postgres: ThrowawayPostgres, tmp_path: Path) -> None:
    before = int(postgres.psql("SELECT count(*) FROM immigration"))
    operators.ensure(api.env, LOAD_ACCOUNT)
    env = {**os.environ, "LOAD_TEST_DURATION": "6", "LOAD_TEST_PEAK_USERS": "8",
           "LOAD_TEST_USERNAME": LOAD_ACCOUNT.username, "LOAD_TEST_PASSWORD": LOAD_ACCOUNT.password}
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", api.url, "--headless", "--only-summary",
         "--csv", str(tmp_path / "run"), "--exit-code-on-error", "1"],
        capture_output=True, text=True, env=env, timeout=60,  # the shape ends the run; 60 s means it did not
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 30
    assert int(total["Failure Count"]) == 0
    assert {"/dni/{dni}", "/flights/{flight_number}", "/immigration"} <= set(rows)
    registered = int(rows["/immigration"]["Request Count"])
    assert int(postgres.psql("SELECT count(*) FROM immigration")) >= before + registered
