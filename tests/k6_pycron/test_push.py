"""k6 runs of web_workflow_test.js pushed to a real Pushgateway, through the real scheduler, where no API is
needed: a crash before any request, and a run cut by shutdown while its first request hangs on a peer that
accepts the connection and never answers. The runs against the real API (through the twin's Apache) are
tests/stack/test_k6_push.py.
"""

import signal
import socket
import threading
import time

import pytest

from .helpers import WORKFLOW_SCRIPT, run_scheduler, wait_for, write_config

SCENARIO = "web_workflow"
M = "k6_smoke_"


def _k6_config(tmp_path, script=WORKFLOW_SCRIPT, **schedule):
    """Config with one k6 task running script (the shipped smoke test by default)."""
    task = {"name": SCENARIO, **(schedule or {"interval": 3600}), "timeout": 30, "k6": {"script": str(script)}}
    return write_config(tmp_path / "c.yaml", [task], kill_grace_seconds=2)


@pytest.fixture
def silent_peer():
    """A TCP listener that accepts connections and never answers: (its URL, the accepted connections)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.fixture
def env(base_env, pushgateway, silent_peer):
    """Scheduler environment pointing at the real Pushgateway and the silent peer."""
    return {**base_env, "PUSHGATEWAY_URL": pushgateway.url, "BASE_URL": silent_peer[0],
            "SMOKE_TEST_USERNAME": "nobody", "SMOKE_TEST_PASSWORD": "none"}


def _once(tmp_path, env, **kw):
    """Run the k6 task once through the scheduler; return (CompletedProcess, start, end)."""
    start = time.time()
    result = run_scheduler(["--config", str(_k6_config(tmp_path, **kw)), "--once", SCENARIO], env)
    return result, start, time.time()


def test_k6_crash_still_pushes_a_failure(tmp_path, env, pushgateway):
    """k6 failing before writing a summary (missing script) still pushes success=0 and its exit code."""
    result, _, _ = _once(tmp_path, env, script=tmp_path / "no-such-script.js")
    assert result.returncode not in (0, 99)
    assert "k6 summary missing or unreadable" in result.stdout
    values = pushgateway.values(SCENARIO)
    assert values[M + "success"] == 0
    assert values[M + "exit_code"] == result.returncode
    assert M + "checks_passed" not in values and M + "http_requests" not in values


def test_run_cut_by_shutdown_is_not_pushed(tmp_path, env, pushgateway, silent_peer, start_scheduler):
    """A k6 run interrupted by our own SIGTERM is stopped quickly and not reported as a failure."""
    # The silent peer: the first request hangs.
    proc = start_scheduler(["--config", str(_k6_config(tmp_path, interval=0.2))], env)
    assert wait_for(lambda: silent_peer[1], 60), proc.output()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "push skipped task=web_workflow reason=shutdown" in proc.output()
    assert pushgateway.group() == {}
