"""Live test: Debian's apache2 runs apache/httpd.conf in a private network
namespace, in front of stand-in API backends (see _inside.py, which sends
the requests and records what it saw; this module asserts on it).

Needs root (unshare, mount) plus apache2, iproute2 and util-linux
(tests/apache/install-deps.sh). Takes about 35 s: one probe waits out the
proxy's 30 s timeout (504), while the others run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.apache import _inside
from tests.apache._apache import apache2_binary, make_serverroot

INSIDE = Path(__file__).resolve().parent / "_inside.py"
DOCS = (_inside.DOC_GET, _inside.DOC_POST, _inside.DOC_BROKEN)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def live():
    if os.geteuid() != 0:
        pytest.fail("the live apache test needs root (unshare --net --mount)")
    apache2_binary()  # installs apache2 if missing
    work = Path(tempfile.mkdtemp(prefix="promethoide-apache-"))
    work.chmod(0o755)
    make_serverroot(work / "serverroot")
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    proc = subprocess.Popen(
        [unshare, "--net", "--mount", "--propagation", "private",
         sys.executable, str(INSIDE), str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    leftovers: list[int] = []
    try:
        try:
            # A deadline that only turns a hung run into a failure (pytest's own is 300 s).
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"namespace run timed out\n{err.decode()[-3000:]}")
        if proc.returncode != 0:
            pytest.fail(
                f"namespace run failed ({proc.returncode})\n"
                f"{out.decode()[-2000:]}\n{err.decode()[-4000:]}")
        result = json.loads((work / "result.json").read_text())
    finally:
        # apache stays in the runner's process group (-DFOREGROUND does
        # not detach): kill that group, then make sure nothing survived.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        leftovers = _processes_mentioning(str(work))
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    result["leftovers"] = leftovers
    yield result
    shutil.rmtree(work, ignore_errors=True)


def probe(live, name):
    return live["probes"][name]


# ---------------------------------------------------------------- the page

def test_page_is_served(live):
    index = probe(live, "index")
    assert index["status"] == 200
    assert index["headers"]["content-type"].startswith("text/html")
    assert 'src="app.js"' in index["body"]
    assert probe(live, "app_js")["status"] == 200
    assert probe(live, "app_js")["headers"]["content-type"].startswith("text/javascript")
    assert probe(live, "styles")["headers"]["content-type"].startswith("text/css")
    assert probe(live, "head_index")["status"] == 200


def test_security_headers_on_page(live):
    headers = probe(live, "index")["headers"]
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_no_version_in_server_header(live):
    for name, p in live["probes"].items():
        if not isinstance(p, dict):
            continue
        server = p["headers"].get("server", "")
        assert server == "Apache", f"{name}: Server: {server!r}"
        if not name.startswith("status_internal"):  # ?auto names it, internally
            assert "Apache/2" not in p["body"], f"{name} leaks the version"


def test_error_pages_carry_security_headers(live):
    missing = probe(live, "missing")
    assert missing["status"] == 404
    assert missing["headers"]["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in missing["headers"]


STATIC_405 = ["trace", "post_static", "put_static", "options_static", "brew_static", "trace_delay"]


@pytest.mark.parametrize("name", STATIC_405)
def test_the_page_is_read_only(live, name):
    answer = probe(live, name)
    assert answer["status"] == 405
    assert answer["headers"]["allow"] == "GET, HEAD"  # RFC 9110 §15.5.6
    assert json_error(answer)["reason"] == "method_not_allowed"


def test_trace_is_never_echoed(live):
    for name, answer in live["probes"].items():
        if isinstance(answer, dict) and "body" in answer:
            assert "TRACE /" not in answer["body"], name
    assert probe(live, "internal_trace")["status"] == 405  # port 8081: TraceEnable Off


@pytest.mark.parametrize("method", ["DELETE", "HEAD", "PUT", "PATCH", "OPTIONS", "TRACE"])
def test_api_methods_are_the_apis_to_answer(live, method):
    seen = [s for s in live["backend_seen"] if s["method"] == method]
    assert seen, f"{method} did not reach the API"
    assert probe(live, f"api_{method.lower()}")["status"] == 200  # the stand-in takes everything


@pytest.mark.parametrize("name", ["api_brew", "api_propfind"])
def test_api_methods_no_route_can_declare_are_not_implemented(live, name):
    answer = probe(live, name)
    assert answer["status"] == 501
    assert json_error(answer)["reason"] == "not_implemented"
    assert not [s for s in live["backend_seen"] if s["method"] in ("BREW", "PROPFIND")]


# ------------------------------------------- errors Apache answers itself

def json_error(answer):
    """The body of an error answered as the API's JSON contract {detail, reason}."""
    assert answer["headers"]["content-type"] == "application/json", answer["headers"]
    body = json.loads(answer["body"])
    assert set(body) == {"detail", "reason"} and all(isinstance(v, str) and v for v in body.values())
    return body


# (probe, status, reason): every answer Apache gives itself under /api/.
API_ERRORS = [
    ("api_metrics", 404, "not_found"),  # /metrics is internal: never proxied
    ("api_metrics_encoded", 404, "not_found"),
    ("api_metrics_slashes", 404, "not_found"),
    ("api_bare", 404, "not_found"),
    ("api_uri_too_long", 414, "uri_too_long"),
    ("api_bad_escape", 400, "bad_request"),
    ("api_big_cl", 413, "body_too_large"),
    ("api_chunked", 411, "length_required"),
    ("api_broken_backend", 502, "bad_gateway"),
    ("api_all_down", 503, "api_unavailable"),
    # An API that does not answer within the proxy's timeout: mod_proxy_http
    # answers 502, not 504 (httpd's modules/proxy/mod_proxy_http.c, AH01102).
    ("api_slow", 502, "bad_gateway"),
    ("api_brew", 501, "not_implemented"),
]


@pytest.mark.parametrize(("name", "status", "reason"), API_ERRORS)
def test_apaches_own_errors_under_api_are_json(live, name, status, reason):
    answer = probe(live, name)
    assert answer["status"] == status
    assert json_error(answer)["reason"] == reason
    assert answer["headers"]["cache-control"] == "no-store"
    assert answer["headers"]["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_metrics_never_reach_the_api_through_apache(live):
    assert not [s for s in live["backend_seen"] if "metrics" in s["path"]]


def test_error_bodies_are_not_served_directly(live):
    assert probe(live, "get_errors")["status"] == 404
    assert probe(live, "trace_errors")["status"] == 404
    assert "not_found" not in probe(live, "get_errors")["body"]


# --------------------------------------------------------------- the proxy

def test_api_prefix_is_stripped(live):
    seen = json.loads(probe(live, "api_dni")["body"])
    assert seen["path"] == f"/dni/{_inside.DOC_GET}?q={_inside.DOC_GET}"
    assert seen["method"] == "GET"
    assert seen["host"] == "api:8000"  # ProxyPreserveHost Off
    assert seen["x_forwarded_for"]
    assert json.loads(probe(live, "api_flight")["body"])["path"] == "/flights/AA123"


def test_api_post_body_is_forwarded(live):
    seen = json.loads(probe(live, "api_post")["body"])
    assert seen["path"] == "/immigration"
    assert json.loads(seen["body"])["dni"] == _inside.DOC_POST


def test_api_responses_hide_backend_and_are_not_cached(live):
    headers = probe(live, "api_dni")["headers"]
    assert headers["server"] == "Apache"  # not the backend's "uvicorn"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"


def test_request_body_limit(live):
    assert probe(live, "api_big_cl")["status"] == 413
    assert probe(live, "api_big_chunked_status") in (411, 413)
    assert probe(live, "api_small_body_ok")["status"] == 200
    sizes = [len(s["body"]) for s in live["backend_seen"]]
    assert max(sizes) <= 16384, "an oversized body reached the backend"


def test_api_is_resolved_again_for_each_request(live):
    # "api" moved to another address: the next request follows it.
    assert json.loads(probe(live, "api_after_move")["body"])["replica"] == "B"
    # Two addresses, the first refusing: the request still succeeds.
    assert probe(live, "api_first_replica_dead")["status"] == 200
    # Nothing listening: a 503, then service again at once (retry=0). The next request, sent right
    # after, is the proof: with a retry period Apache would refuse it too, however fast the machine.
    assert probe(live, "api_all_down")["status"] == 503
    assert probe(live, "api_back")["status"] == 200
    assert probe(live, "api_unresolvable")["status"] in (500, 502, 503)


def test_backend_failure_is_a_proxy_error(live):
    assert probe(live, "api_broken_backend")["status"] == 502


# -------------------------------------------------------------- mod_status

def test_server_status_not_on_port_80(live):
    assert probe(live, "status_port80_auto")["status"] in (403, 404)
    assert probe(live, "status_port80_html")["status"] in (403, 404)
    assert "Scoreboard" not in probe(live, "status_port80_auto")["body"]


def test_server_status_on_internal_port(live):
    auto = probe(live, "status_internal_auto")
    assert auto["status"] == 200
    assert "Total Accesses:" in auto["body"]  # ExtendedStatus On
    assert "Scoreboard:" in auto["body"]
    # The HTML view (client addresses, URLs in flight) is refused.
    assert probe(live, "status_internal_html")["status"] == 403
    # The internal port serves nothing else.
    assert probe(live, "internal_root")["status"] == 404
    assert probe(live, "internal_api")["status"] == 404


# ------------------------------------------------------------------ /delay

def test_delay_page_takes_delay_seconds(live):
    delay = probe(live, "delay")
    assert delay["status"] == 200
    assert "text/html" in delay["headers"]["content-type"]
    # At least the delay (a busy machine may add to it, so no upper bound: that would be a timed
    # assertion; the blackbox module's timeout is checked against the scrape timeout statically).
    expected = float(_inside.DELAY_SECONDS)
    assert delay["seconds"] >= expected - 0.05


# ----------------------------------------------------------- health check

def test_healthcheck_script(live):
    assert probe(live, "healthcheck_rc") == 0
    assert probe(live, "healthcheck_wrong_port_rc") != 0
    assert "promethoide-healthcheck" not in live["access_log"]


# -------------------------------------------------------------------- logs

def test_access_log_has_no_document_numbers(live):
    log = live["access_log"]
    assert '"GET /api/dni HTTP/1.1" 200' in log
    assert '"POST /api/immigration HTTP/1.1" 200' in log
    assert '"GET /delay HTTP/1.1" 200' in log
    # Answers by ErrorDocument are logged as the request came in, not as the
    # internal GET of /errors/NNN.json.
    assert '"PUT /index.html HTTP/1.1" 405' in log
    assert '"GET /api/metrics HTTP/1.1" 404' in log
    assert "A" * 100 not in log  # the 414's URI
    for doc in DOCS:
        assert doc not in log


def test_error_log_has_no_document_numbers(live):
    log = live["error_log"]
    assert "AH01102" in log  # the broken backend is still reported
    for doc in DOCS:
        assert doc not in log


# ---------------------------------------------------------------- clean-up

def test_apache_stopped_cleanly(live):
    assert live["apache_exit"] == 0
    assert live["leftovers"] == []


def test_the_entrypoint_gives_the_balancer_every_replica_of_api(live):
    """apache/entrypoint.sh around apache2: members from the lookup of "api", requests taken in turn."""
    assert live["probes"]["balancer_members_both"]
    spread = live["probes"]["balancer_spread"]
    assert len(spread) == 20 and set(spread) == {"A", "B"}
    assert min(spread.count("A"), spread.count("B")) >= 0.2 * len(spread), spread


def test_the_balancer_follows_the_replicas(live):
    """A replica gone from DNS leaves the members (graceful restart); none at all leaves no members file."""
    assert live["probes"]["balancer_members_after_change"]
    assert live["probes"]["balancer_after_change"] == ["B"] * 10
    assert live["probes"]["balancer_members_none"]


def test_the_entrypoint_writes_prometheus_basic_auth_for_the_remote_write_proxy(live):
    """logs/prometheus-authorization.conf: one RequestHeader with the monitoring UIs' account (RFC 7617,
    UTF-8), readable by root only."""
    token = base64.b64encode("{MONITORING_UI_USERNAME}:{MONITORING_UI_PASSWORD}".format(**_inside.MONITORING_UI).encode())
    assert live["probes"]["prometheus_authorization"] == f'RequestHeader set Authorization "Basic {token.decode()}"\n'
    assert live["probes"]["prometheus_authorization_mode"] == 0o600


def test_the_entrypoint_stops_with_apache(live):
    """SIGTERM to the entrypoint reaches httpd, and the entrypoint ends with httpd's status."""
    assert live["entrypoint_exit"] == 0, live["entrypoint_stderr"]
