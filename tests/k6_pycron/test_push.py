"""k6 runs of web_workflow_test.js pushed to a real Pushgateway, through the real scheduler."""

import signal
import time

import pytest

from .helpers import SMOKE_ACCOUNT, WORKFLOW_SCRIPT, free_port, run_scheduler, wait_for, write_config

SCENARIO = "web_workflow"
M = "k6_smoke_"
# Every gauge pushed when k6 wrote its summary.
FULL_SET = {M + n for n in ("checks_passed", "checks_failed", "http_requests", "http_req_failed_ratio",
                            "http_req_duration_p95_seconds", "success", "exit_code", "run_duration_seconds",
                            "last_run_timestamp_seconds", "last_success_timestamp_seconds")}


def _k6_config(tmp_path, script=WORKFLOW_SCRIPT, **schedule):
    """Config with one k6 task running script (the shipped smoke test by default)."""
    task = {"name": SCENARIO, **(schedule or {"interval": 3600}), "timeout": 30, "k6": {"script": str(script)}}
    return write_config(tmp_path / "c.yaml", [task], kill_grace_seconds=2)


@pytest.fixture
def env(base_env, pushgateway, api_stub):
    """Scheduler environment pointing at the real Pushgateway and the API stand-in."""
    return {**base_env, "PUSHGATEWAY_URL": pushgateway.url, "BASE_URL": api_stub.url,
            "SMOKE_TEST_USERNAME": SMOKE_ACCOUNT[0], "SMOKE_TEST_PASSWORD": SMOKE_ACCOUNT[1]}


def _once(tmp_path, env, **kw):
    """Run the k6 task once through the scheduler; return (CompletedProcess, start, end)."""
    start = time.time()
    result = run_scheduler(["--config", str(_k6_config(tmp_path, **kw)), "--once", SCENARIO], env)
    return result, start, time.time()


def test_successful_run_is_pushed(tmp_path, env, pushgateway, api_stub):
    """A passing smoke test pushes success=1 and the summary values under job/scenario only."""
    result, start, end = _once(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "push ok task=web_workflow success=1" in result.stdout
    values = pushgateway.values(SCENARIO)
    assert set(values) >= FULL_SET
    assert values[M + "success"] == 1 and values[M + "exit_code"] == 0
    assert values[M + "checks_failed"] == 0 and values[M + "checks_passed"] >= 10
    # k6 counted exactly the requests the stand-in received: all eleven steps ran (a refused anonymous
    # lookup, sign-in, the page, four lookups, two dry runs, sign-out and the check that it held).
    assert values[M + "http_requests"] == len(api_stub.requests) == 11
    assert api_stub.sessions == set()  # signed out at the end
    # Expected 404/403 answers are not failures.
    assert values[M + "http_req_failed_ratio"] == 0
    assert 0 < values[M + "http_req_duration_p95_seconds"] <= values[M + "run_duration_seconds"]
    assert start <= values[M + "last_run_timestamp_seconds"] <= end
    assert values[M + "last_success_timestamp_seconds"] == values[M + "last_run_timestamp_seconds"]
    assert 0 < values[M + "run_duration_seconds"] <= end - start
    # Stable grouping key: job and scenario, never an instance or a run id.
    for samples in pushgateway.group(scenario=SCENARIO).values():
        labels = samples[0][0]
        assert set(labels) <= {"job", "scenario", "instance"} and labels.get("instance", "") == ""


def test_failed_run_keeps_last_success(tmp_path, env, pushgateway, api_stub):
    """A threshold failure pushes success=0, exit 99, and the earlier success time, even from a new process."""
    first, _, _ = _once(tmp_path, env)
    assert first.returncode == 0, first.stdout
    good = pushgateway.values(SCENARIO)
    api_stub.broken = True  # unlisted documents now come back as listed
    second, start, end = _once(tmp_path, env)
    assert second.returncode == 99, second.stdout
    bad = pushgateway.values(SCENARIO)
    assert bad[M + "success"] == 0 and bad[M + "exit_code"] == 99
    assert bad[M + "checks_failed"] >= 1
    assert bad[M + "http_req_failed_ratio"] > 0  # the unexpected 200 counts as a failed request
    assert start <= bad[M + "last_run_timestamp_seconds"] <= end
    # This --once process never saw the success: it read the value back from the Pushgateway.
    assert bad[M + "last_success_timestamp_seconds"] == good[M + "last_success_timestamp_seconds"]
    assert bad[M + "last_success_timestamp_seconds"] < bad[M + "last_run_timestamp_seconds"]


def test_failure_without_any_success_omits_last_success(tmp_path, env, pushgateway, api_stub):
    """With no success ever recorded, the last-success gauge is left out rather than invented."""
    api_stub.broken = True
    result, _, _ = _once(tmp_path, env)
    assert result.returncode == 99
    values = pushgateway.values(SCENARIO)
    assert values[M + "success"] == 0
    assert M + "last_success_timestamp_seconds" not in values
    assert M + "last_run_timestamp_seconds" in values


def test_k6_crash_still_pushes_a_failure(tmp_path, env, pushgateway):
    """k6 failing before writing a summary (missing script) still pushes success=0 and its exit code."""
    result, _, _ = _once(tmp_path, env, script=tmp_path / "no-such-script.js")
    assert result.returncode not in (0, 99)
    assert "k6 summary missing or unreadable" in result.stdout
    values = pushgateway.values(SCENARIO)
    assert values[M + "success"] == 0
    assert values[M + "exit_code"] == result.returncode
    assert M + "checks_passed" not in values and M + "http_requests" not in values


def test_loop_pushes_every_run_and_carries_last_success(tmp_path, env, pushgateway, api_stub, start_scheduler):
    """In the long-running loop each run is pushed; a failure keeps the earlier success time."""
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=1))], env)

    def pushed(success):
        values = pushgateway.values(SCENARIO)
        return values if values.get(M + "success") == success else None

    good = wait_for(lambda: pushed(1), 60)
    assert good, proc.output()
    api_stub.broken = True
    bad = wait_for(lambda: pushed(0), 60)
    assert bad, proc.output()
    # Runs may have succeeded after `good` was read and before the stub broke: the failed run carries
    # the latest success, which is no older than `good`'s and older than the failed run itself.
    assert good[M + "last_success_timestamp_seconds"] <= bad[M + "last_success_timestamp_seconds"]
    assert bad[M + "last_success_timestamp_seconds"] < bad[M + "last_run_timestamp_seconds"]
    assert bad[M + "last_run_timestamp_seconds"] > good[M + "last_run_timestamp_seconds"]
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    # Still one group: repeated runs replaced it instead of adding new ones.
    assert all(len(s) == 1 for s in pushgateway.group().values())


def test_pushgateway_down_is_logged_not_fatal(tmp_path, env, start_scheduler):
    """With the Pushgateway unreachable, runs go on and --once still returns k6's code."""
    env = {**env, "PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}"}
    result, _, _ = _once(tmp_path, env)
    assert result.returncode == 0
    assert "push failed task=web_workflow" in result.stdout
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=0.5))], env)
    assert wait_for(lambda: proc.output().count("push failed") >= 2, 60), proc.output()
    assert proc.proc.poll() is None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_multiproc_dir_is_ignored(tmp_path, env, pushgateway):
    """PROMETHEUS_MULTIPROC_DIR in the environment neither breaks the push nor gets files written."""
    mpdir = tmp_path / "multiproc"
    mpdir.mkdir()
    result, _, _ = _once(tmp_path, {**env, "PROMETHEUS_MULTIPROC_DIR": str(mpdir)})
    assert result.returncode == 0, result.stdout
    assert pushgateway.values(SCENARIO)[M + "success"] == 1
    assert list(mpdir.iterdir()) == []


def test_run_cut_by_shutdown_is_not_pushed(tmp_path, env, pushgateway, api_stub, start_scheduler):
    """A k6 run interrupted by our own SIGTERM is stopped quickly and not reported as a failure."""
    api_stub.slow.set()  # the first request hangs until released
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=0.2))], env)
    assert wait_for(lambda: api_stub.requests, 60), proc.output()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "push skipped task=web_workflow reason=shutdown" in proc.output()
    assert pushgateway.group() == {}


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_a_refused_sign_in_fails_the_run_and_stops_it(tmp_path, env, pushgateway, api_stub, password):
    """Without a valid session nothing else is worth checking: the run fails and stops after the sign-in."""
    result, _, _ = _once(tmp_path, {**env, "SMOKE_TEST_PASSWORD": password})
    assert result.returncode != 0
    values = pushgateway.values(SCENARIO)
    assert values[M + "success"] == 0
    assert values[M + "checks_failed"] >= 1
    assert [path for _, path in api_stub.requests] == ["/api/flights/AA123", "/api/auth/sign-in"]
