"""The shipped smoke test (web_workflow_test.js), run by the real scheduler and k6 against the twin's real
Apache, API and PostgreSQL, pushed to a Pushgateway of its own (tests/k6_pycron's fixture, so the twin's
scheduler and its pushes stay apart).

Failures are real ones: a wrong password (the sign-in is refused), or the account's password changed
under a running scheduler. The smoke test signs in as an account of this module (`ACCOUNT`), so the
twin's own smoke runs are never disturbed.
"""

import signal
import time
from pathlib import Path

import pytest

from tests.k6_pycron.conftest import base_env, k6_bin, pushgateway, start_scheduler  # noqa: F401  # fixtures
from tests.k6_pycron.helpers import WORKFLOW_SCRIPT, free_port, run_scheduler, wait_for, write_config
from tests.stack.conftest import PATIENCE_S
from tests.twin.stack import Twin

SCENARIO = "web_workflow"
M = "k6_smoke_"
ACCOUNT = ("k6-push-test", "the push test's own passphrase")
# Every gauge pushed when k6 wrote its summary.
FULL_SET = {M + n for n in ("checks_passed", "checks_failed", "http_requests", "http_req_failed_ratio",
                            "http_req_duration_p95_seconds", "success", "exit_code", "run_duration_seconds",
                            "last_run_timestamp_seconds", "last_success_timestamp_seconds")}
# The smoke test's requests: a refused anonymous lookup, sign-in, the page, four lookups, two dry runs,
# sign-out and the check that it held.
REQUESTS = 11


@pytest.fixture
def env(twin: Twin, base_env, pushgateway, forgive_failed_sign_ins):  # noqa: F811
    """Scheduler environment: the twin's Apache, this module's account, the module's own Pushgateway.

    Runs that fail their sign-in on purpose are forgiven afterwards (see forgive_failed_sign_ins)."""
    twin.ensure_operator(*ACCOUNT)  # creates it, or resets the password an earlier test changed
    return {**base_env, "PUSHGATEWAY_URL": pushgateway.url, "BASE_URL": twin.url("apache"),
            "SMOKE_TEST_USERNAME": ACCOUNT[0], "SMOKE_TEST_PASSWORD": ACCOUNT[1]}


def _k6_config(tmp_path: Path, **schedule: float) -> Path:
    task = {"name": SCENARIO, **(schedule or {"interval": 3600}), "timeout": 60, "k6": {"script": str(WORKFLOW_SCRIPT)}}
    return write_config(tmp_path / "c.yaml", [task], kill_grace_seconds=2)


def _once(tmp_path, env, **kw):  # type: ignore[no-untyped-def]
    """Run the k6 task once through the scheduler; return (CompletedProcess, start, end)."""
    start = time.time()
    result = run_scheduler(["--config", str(_k6_config(tmp_path, **kw)), "--once", SCENARIO], env, timeout=PATIENCE_S)
    return result, start, time.time()


def test_successful_run_is_pushed(tmp_path, env, pushgateway, twin: Twin) -> None:  # noqa: F811
    """A passing smoke test pushes success=1 and the summary values under job/scenario only."""
    result, start, end = _once(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "push ok task=web_workflow success=1" in result.stdout
    values = pushgateway.values(SCENARIO)
    assert set(values) >= FULL_SET
    assert values[M + "success"] == 1 and values[M + "exit_code"] == 0
    assert values[M + "checks_failed"] == 0 and values[M + "checks_passed"] >= 15
    assert values[M + "http_requests"] == REQUESTS  # every step ran
    # Expected 401/404/403 answers are not failures.
    assert values[M + "http_req_failed_ratio"] == 0
    assert 0 < values[M + "http_req_duration_p95_seconds"] <= values[M + "run_duration_seconds"]
    assert start <= values[M + "last_run_timestamp_seconds"] <= end
    assert values[M + "last_success_timestamp_seconds"] == values[M + "last_run_timestamp_seconds"]
    assert 0 < values[M + "run_duration_seconds"] <= end - start
    # Signed out at the end: the account has no session left in the database.
    database = twin.replicas["postgres"][0].database
    assert database is not None
    assert database.psql("SELECT count(*) FROM sessions s JOIN operators o ON o.id = s.operator_id "
                         f"WHERE o.username = '{ACCOUNT[0]}'") == "0"
    # Stable grouping key: job and scenario, never an instance or a run id.
    for samples in pushgateway.group(scenario=SCENARIO).values():
        labels = samples[0][0]
        assert set(labels) <= {"job", "scenario", "instance"} and labels.get("instance", "") == ""


def test_failed_run_keeps_last_success(tmp_path, env, pushgateway) -> None:  # noqa: F811
    """A threshold failure pushes success=0, exit 99, and the earlier success time, even from a new process."""
    first, _, _ = _once(tmp_path, env)
    assert first.returncode == 0, first.stdout
    good = pushgateway.values(SCENARIO)
    second, start, end = _once(tmp_path, {**env, "SMOKE_TEST_PASSWORD": "not-the-password"})
    assert second.returncode == 99, second.stdout
    bad = pushgateway.values(SCENARIO)
    assert bad[M + "success"] == 0 and bad[M + "exit_code"] == 99
    assert bad[M + "checks_failed"] >= 1
    assert bad[M + "http_req_failed_ratio"] > 0  # the refused sign-in counts as a failed request
    assert start <= bad[M + "last_run_timestamp_seconds"] <= end
    # This --once process never saw the success: it read the value back from the Pushgateway.
    assert bad[M + "last_success_timestamp_seconds"] == good[M + "last_success_timestamp_seconds"]
    assert bad[M + "last_success_timestamp_seconds"] < bad[M + "last_run_timestamp_seconds"]


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_a_refused_sign_in_fails_the_run_and_stops_it(tmp_path, env, pushgateway, password) -> None:  # noqa: F811
    """Without a valid session nothing else is worth checking: the run fails and stops after the sign-in."""
    result, _, _ = _once(tmp_path, {**env, "SMOKE_TEST_PASSWORD": password})
    assert result.returncode == 99, result.stdout
    values = pushgateway.values(SCENARIO)
    assert values[M + "success"] == 0
    assert M + "last_success_timestamp_seconds" not in values  # never a success in this Pushgateway
    assert values[M + "checks_failed"] >= 1
    assert values[M + "http_requests"] == 2  # the anonymous lookup and the sign-in, nothing after


def test_loop_pushes_every_run_and_carries_last_success(tmp_path, env, pushgateway, start_scheduler,  # noqa: F811
                                                        twin: Twin) -> None:
    """In the long-running loop each run is pushed; a failure keeps the earlier success time."""
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=1))], env)

    def pushed(success):  # type: ignore[no-untyped-def]
        values = pushgateway.values(SCENARIO)
        return values if values.get(M + "success") == success else None

    good = wait_for(lambda: pushed(1), PATIENCE_S)
    assert good, proc.output()
    twin.ensure_operator(ACCOUNT[0], "a password the scheduler does not know")
    bad = wait_for(lambda: pushed(0), PATIENCE_S)
    assert bad, proc.output()
    # Runs may have succeeded after `good` was read and before the password changed: the failed run
    # carries the latest success, no older than `good`'s and older than the failed run itself.
    assert good[M + "last_success_timestamp_seconds"] <= bad[M + "last_success_timestamp_seconds"]
    assert bad[M + "last_success_timestamp_seconds"] < bad[M + "last_run_timestamp_seconds"]
    assert bad[M + "last_run_timestamp_seconds"] > good[M + "last_run_timestamp_seconds"]
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(PATIENCE_S) == 0
    # Still one group: repeated runs replaced it instead of adding new ones.
    assert all(len(s) == 1 for s in pushgateway.group().values())


def test_pushgateway_down_is_logged_not_fatal(tmp_path, env, start_scheduler) -> None:  # noqa: F811
    """With the Pushgateway unreachable, runs go on and --once still returns k6's code."""
    env = {**env, "PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}"}
    result, _, _ = _once(tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert "push failed task=web_workflow" in result.stdout
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=0.5))], env)
    assert wait_for(lambda: proc.output().count("push failed") >= 2, PATIENCE_S), proc.output()
    assert proc.proc.poll() is None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(PATIENCE_S) == 0


def test_multiproc_dir_is_ignored(tmp_path, env, pushgateway) -> None:  # noqa: F811
    """PROMETHEUS_MULTIPROC_DIR in the environment neither breaks the push nor gets files written."""
    mpdir = tmp_path / "multiproc"
    mpdir.mkdir()
    result, _, _ = _once(tmp_path, {**env, "PROMETHEUS_MULTIPROC_DIR": str(mpdir)})
    assert result.returncode == 0, result.stdout
    assert pushgateway.values(SCENARIO)[M + "success"] == 1
    assert list(mpdir.iterdir()) == []
