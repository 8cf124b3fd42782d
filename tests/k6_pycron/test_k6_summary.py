"""Parsing k6's --summary-export JSON, as written by the real k6 binary."""

import functools
import json
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .helpers import summary as k6_summary

# Two top-level checks pass; one check inside a group fails; one of the three requests is a 404.
SCRIPT = """
import http from 'k6/http';
import { check, group } from 'k6';
export const options = { vus: 1, iterations: 1, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(http.get(`${__ENV.BASE_URL}/index.html`), { 'index is 200': (r) => r.status === 200 });
  check(http.get(`${__ENV.BASE_URL}/index.html`), { 'index has text': (r) => r.body.includes('hello') });
  group('missing page', () => {
    check(http.get(`${__ENV.BASE_URL}/missing`), { 'missing is 200': (r) => r.status === 200 });
  });
}
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def static_server(tmp_path):
    """Python's http.server on 127.0.0.1 serving one page."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<html>hello</html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def real_summary(tmp_path, k6_bin, static_server):
    """Run SCRIPT with the real k6; return (exit code, summary path)."""
    script = tmp_path / "s.js"
    script.write_text(SCRIPT)
    summary = tmp_path / "summary.json"
    result = subprocess.run([k6_bin, "run", "--quiet", "--no-color", "--no-usage-report", f"--summary-export={summary}",
                             "-e", f"BASE_URL={static_server}", str(script)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, summary


def test_parse_real_k6_summary(real_summary):
    """Counts and rates come out of a real k6 summary as k6 reported them."""
    code, summary = real_summary
    assert code == 99  # the failed check crosses the checks threshold
    parsed = k6_summary.parse_summary(summary)
    raw = json.loads(summary.read_text())
    assert parsed["checks_passed"] == 2
    assert parsed["checks_failed"] == 1  # found inside the group, not only at the root
    # The nested walk agrees with k6's own aggregate of all checks.
    assert (parsed["checks_passed"], parsed["checks_failed"]) == (raw["metrics"]["checks"]["passes"],
                                                                  raw["metrics"]["checks"]["fails"])
    assert parsed["http_requests"] == 3
    # One 404 out of three requests: http_req_failed's value is the FAILED fraction.
    assert parsed["http_req_failed_ratio"] == pytest.approx(1 / 3)
    assert raw["metrics"]["http_req_failed"]["passes"] == 1
    p95 = parsed["http_req_duration_p95_seconds"]
    assert p95 == pytest.approx(raw["metrics"]["http_req_duration"]["p(95)"] / 1000)
    assert p95 > 0


@pytest.mark.parametrize("content", [None, "", "{", "[]", '{"root_group": {}}', '{"metrics": []}',
                                     '{"metrics": {"http_reqs": {}}}'],
                         ids=["missing", "empty", "truncated", "not-object", "no-metrics", "metrics-list",
                              "metric-without-count"])
def test_garbled_summary_is_none(tmp_path, content):
    """A summary k6 never wrote, or wrote badly, parses to None instead of raising."""
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    assert k6_summary.parse_summary(path) is None


def test_summary_without_requests_or_checks(tmp_path):
    """A run that made no request and no check yields zero checks and no HTTP values."""
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"root_group": {"name": "", "groups": {}, "checks": {}},
                                "metrics": {"iterations": {"count": 1, "rate": 1}}}))
    assert k6_summary.parse_summary(path) == {"checks_passed": 0.0, "checks_failed": 0.0}
