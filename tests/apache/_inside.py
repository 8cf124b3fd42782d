"""Runs INSIDE a private network + mount namespace (see test_apache_live.py):

    unshare --net --mount --propagation private python3 _inside.py WORKDIR

WORKDIR holds serverroot/ (made by _apache.make_serverroot). This script
brings lo up, overlays /etc/hosts (api -> 127.0.0.2, apache -> 127.0.0.3),
starts stand-in API backends that echo what they received, starts Debian's
apache2 with apache/httpd.conf, sends the probes, stops everything and writes
what it observed to WORKDIR/result.json. The pytest side asserts on it.

Everything here listens on 127.0.0.x inside the namespace only.
"""

from __future__ import annotations

import http.client
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _apache import APACHE_DIR, HTTPD_CONF, apache2_binary

API_A = "127.0.0.2"  # first API replica
API_B = "127.0.0.5"  # second API replica (re-resolution tests)
API_DEAD = "127.0.0.9"  # nothing listens here
APACHE = "127.0.0.3"
DELAY_SECONDS = "1"
# Document numbers used in requests; none may appear in the logs.
DOC_GET = "12345678A"
DOC_POST = "99887766Z"
DOC_BROKEN = "55443322K"
SLOW_BACKEND_S = 35  # above the ProxyPass timeout (30 s)


class Backend(BaseHTTPRequestHandler):
    """Stand-in API: echoes method, path, some headers and the body size."""

    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "replica": self.server.replica_name,
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "x_forwarded_for": self.headers.get("X-Forwarded-For"),
            "body": body.decode("utf-8", "replace"),
        }
        self.server.seen.append(seen)
        if self.path.startswith("/slow"):
            # Slower than ProxyPass timeout=30: apache answers 504.
            time.sleep(SLOW_BACKEND_S)
        if "/" + DOC_BROKEN in self.path:
            # A backend that dies mid-request: apache answers 502 and logs
            # an error; the document number must not be in that error.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        out = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _answer

    def log_message(self, *args) -> None:  # keep the output clean
        pass


def start_backend(addr: str, name: str) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer((addr, 8000), Backend)
    srv.daemon_threads = True
    srv.replica_name = name
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def system_tool(name: str) -> str:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    found = shutil.which(name, path=path)
    if not found:
        raise RuntimeError(f"{name} not found (tests/apache/install-deps.sh)")
    return found


def write_hosts(path: Path, base: str, api_addrs: list[str]) -> None:
    # Rewritten in place (same inode) so the bind mount over /etc/hosts
    # follows: glibc re-reads /etc/hosts on every lookup.
    lines = [f"{a} api" for a in api_addrs] + [f"{APACHE} apache"]
    with open(path, "w") as f:
        f.write(base.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def wait_port(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def request(method, path, *, port=80, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection(APACHE, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return {
        "status": resp.status,
        "headers": {k.lower(): v for k, v in resp.getheaders()},
        "header_list": [[k.lower(), v] for k, v in resp.getheaders()],
        "body": data.decode("utf-8", "replace"),
        "seconds": time.monotonic() - t0,
    }


def raw_request(data: bytes) -> dict:
    """Send bytes as they are (requests http.client would not send); the answer's status, headers, body."""
    with socket.create_connection((APACHE, 80), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while True:
            try:
                got = s.recv(65536)
            except OSError:
                break
            if not got:
                break
            answer += got
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return {"status": int(lines[0].split(" ", 2)[1]), "headers": headers,
            "body": body.decode("utf-8", "replace")}


def chunked_post(path: str, size: int) -> int:
    """POST a chunked body of `size` bytes (no Content-Length); return status."""
    with socket.create_connection((APACHE, 80), timeout=60) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: apache\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        chunk = b"x" * 4096
        sent = 0
        try:
            while sent < size:
                part = chunk[: min(4096, size - sent)]
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # apache may answer 413 and close before the end
        data = b""
        while True:
            try:
                got = s.recv(65536)
            except OSError:
                break
            if not got:
                break
            data += got
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def members_file_lists(path: Path, addrs: list[str], deadline: float) -> bool:
    """Whether the entrypoint's members file comes to name exactly `addrs` before `deadline`."""
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if sorted(re.findall(r'http://([0-9.]+):8000', text)) == sorted(addrs):
            return True
        time.sleep(0.2)
    return False


def served_by(count: int, path: str) -> list[str]:
    """Which stand-in replica answered each of `count` requests through Apache."""
    return [json.loads(request("GET", path)["body"] or "{}").get("replica", "?") for _ in range(count)]


# The monitoring UIs' account as compose gives it to Apache; a password base64 must carry as it is.
MONITORING_UI = {"MONITORING_UI_USERNAME": "prom-user", "MONITORING_UI_PASSWORD": 'p:ss w\u00f6rd "x" \\ $HOME'}


def balancer_phase(work: Path, serverroot: Path, hosts: Path, base_hosts: str, env: dict,
                   backend_a: ThreadingHTTPServer, backend_b: ThreadingHTTPServer, result: dict) -> None:
    """apache/entrypoint.sh around apache2, as the image runs it: the balancer's members follow "api"."""
    probes = result["probes"]
    members = serverroot / "logs" / "api-members.conf"
    write_hosts(hosts, base_hosts, [API_A, API_B])
    with open(work / "entrypoint.stdout", "wb") as out, open(work / "entrypoint.stderr", "wb") as err:
        entrypoint = subprocess.Popen(
            [str(APACHE_DIR / "entrypoint.sh"), apache2_binary(), "-d", str(serverroot), "-f", str(HTTPD_CONF),
             "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            env={**env, "API_DISCOVERY_INTERVAL_S": "1", **MONITORING_UI}, cwd=serverroot,
        )
    try:
        deadline = time.monotonic() + 60  # generous: only a discovery that never happens fails
        probes["balancer_members_both"] = members_file_lists(members, [API_A, API_B], deadline)
        # Written before httpd starts (the remote-write proxy includes it): its text and mode.
        authorization = serverroot / "logs" / "prometheus-authorization.conf"
        probes["prometheus_authorization"] = authorization.read_text() if authorization.exists() else None
        probes["prometheus_authorization_mode"] = authorization.stat().st_mode & 0o777 if authorization.exists() else None
        wait_port(APACHE, 80, deadline)
        probes["balancer_spread"] = served_by(20, "/api/flights/SP1")
        # One replica gone from DNS: the members follow, with a graceful restart.
        write_hosts(hosts, base_hosts, [API_B])
        probes["balancer_members_after_change"] = members_file_lists(members, [API_B], time.monotonic() + 60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and served_by(1, "/api/flights/SP2") != ["B"]:
            time.sleep(0.2)
        probes["balancer_after_change"] = served_by(10, "/api/flights/SP3")
        # No replica at all: no members file, httpd.conf's own member "api" (unresolvable: an error).
        write_hosts(hosts, base_hosts, [])
        probes["balancer_members_none"] = members_file_lists(members, [], time.monotonic() + 60)
        write_hosts(hosts, base_hosts, [API_A])
    finally:
        entrypoint.send_signal(signal.SIGTERM)
        try:
            entrypoint.wait(timeout=30)
        except subprocess.TimeoutExpired:
            entrypoint.kill()
            entrypoint.wait(timeout=5)
        result["entrypoint_exit"] = entrypoint.returncode
        result["entrypoint_stderr"] = (work / "entrypoint.stderr").read_text("utf-8", "replace")


def main() -> None:
    work = Path(sys.argv[1])
    serverroot = work / "serverroot"
    result: dict = {"probes": {}}
    probes = result["probes"]

    subprocess.run([system_tool("ip"), "link", "set", "lo", "up"], check=True)
    hosts = work / "hosts"
    base_hosts = Path("/etc/hosts").read_text()
    write_hosts(hosts, base_hosts, [API_A])
    subprocess.run([system_tool("mount"), "--bind", str(hosts), "/etc/hosts"],
                   check=True)

    backend_a = start_backend(API_A, "A")
    backend_b = start_backend(API_B, "B")

    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "DELAY_SECONDS": DELAY_SECONDS, "LANG": "C"}
    if "TMPDIR" in os.environ:  # lets ./test.sh's clean-up find apache too
        env["TMPDIR"] = os.environ["TMPDIR"]
    # apache's stdout is the access log, its stderr the error log.
    with open(work / "apache.stdout", "wb") as out, \
            open(work / "apache.stderr", "wb") as err:
        apache = subprocess.Popen(
            [apache2_binary(), "-d", str(serverroot), "-f", str(HTTPD_CONF),
             "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd="/",
        )
    result["apache_pid"] = apache.pid
    try:
        deadline = time.monotonic() + 60  # generous: only a server that never listens fails
        wait_port(APACHE, 80, deadline)
        wait_port(APACHE, 8081, deadline)

        # --- the page -----------------------------------------------------
        probes["index"] = request("GET", "/", headers={"Host": "apache"})
        probes["app_js"] = request("GET", "/app.js")
        probes["styles"] = request("GET", "/styles.css")
        probes["missing"] = request("GET", f"/{DOC_GET}")
        probes["trace"] = request("TRACE", "/")
        probes["post_static"] = request("POST", "/", body=b"{}")
        probes["put_static"] = request("PUT", "/index.html", body=b"x")
        probes["head_index"] = request("HEAD", "/")
        probes["options_static"] = request("OPTIONS", "/index.html")
        probes["brew_static"] = request("BREW", "/")
        probes["trace_errors"] = request("TRACE", "/errors/405.json")
        probes["get_errors"] = request("GET", "/errors/404.json")
        probes["trace_delay"] = request("TRACE", "/delay")

        # --- the proxy ----------------------------------------------------
        probes["api_dni"] = request("GET", f"/api/dni/{DOC_GET}?q={DOC_GET}")
        probes["api_flight"] = request("GET", "/api/flights/AA123")
        payload = json.dumps({
            "name": "Jane Doe", "dni": DOC_POST, "lodging": "Hotel Sol",
            "declared_money": "1500.00", "flight_number": "AA123",
        }).encode()
        probes["api_post"] = request(
            "POST", "/api/immigration", body=payload,
            headers={"Content-Type": "application/json"})
        # Slower than the proxy's timeout: a 504, asked for now and read at
        # the end, so the wait overlaps the other probes.
        slow: dict = {}
        slow_thread = threading.Thread(
            target=lambda: slow.update(request("GET", "/api/slow", timeout=60)))
        slow_thread.start()
        probes["api_delete"] = request("DELETE", f"/api/dni/{DOC_GET}")
        for method in ("HEAD", "PUT", "PATCH", "OPTIONS", "TRACE"):
            probes[f"api_{method.lower()}"] = request(method, "/api/healthz")
        probes["api_brew"] = request("BREW", "/api/healthz")
        probes["api_propfind"] = request("PROPFIND", "/api/healthz")
        probes["api_metrics"] = request("GET", "/api/metrics")
        probes["api_metrics_encoded"] = request("GET", "/api/%6detrics")
        probes["api_metrics_slashes"] = request("GET", "/api//metrics")
        probes["api_bare"] = request("GET", "/api")
        probes["api_uri_too_long"] = request("GET", "/api/dni/" + "A" * 9000)
        probes["api_bad_escape"] = raw_request(
            b"GET /api/dni/%zz HTTP/1.1\r\nHost: apache\r\nConnection: close\r\n\r\n")
        probes["api_chunked"] = raw_request(
            b"POST /api/immigration HTTP/1.1\r\nHost: apache\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        probes["api_big_cl"] = request(
            "POST", "/api/immigration", body=b"x" * 20000,
            headers={"Content-Type": "application/json"})
        probes["api_big_chunked_status"] = chunked_post(
            "/api/immigration", 20000)
        probes["api_small_body_ok"] = request(
            "POST", "/api/immigration", body=b"y" * 16000,
            headers={"Content-Type": "application/json"})
        probes["api_broken_backend"] = request(
            "GET", f"/api/dni/{DOC_BROKEN}")

        # --- re-resolution of "api" --------------------------------------
        write_hosts(hosts, base_hosts, [API_B])
        probes["api_after_move"] = request("GET", "/api/flights/BA456")
        write_hosts(hosts, base_hosts, [API_DEAD, API_A])
        probes["api_first_replica_dead"] = request("GET", "/api/flights/AA1")
        write_hosts(hosts, base_hosts, [API_DEAD])
        probes["api_all_down"] = request("GET", "/api/flights/AA2")
        write_hosts(hosts, base_hosts, [API_A])
        probes["api_back"] = request("GET", "/api/flights/AA3")
        write_hosts(hosts, base_hosts, [])
        probes["api_unresolvable"] = request("GET", f"/api/dni/{DOC_GET}")
        write_hosts(hosts, base_hosts, [API_A])

        slow_thread.join(timeout=60)
        probes["api_slow"] = slow

        # --- mod_status ---------------------------------------------------
        probes["status_port80_auto"] = request("GET", "/server-status?auto")
        probes["status_port80_html"] = request("GET", "/server-status")
        probes["status_internal_auto"] = request(
            "GET", "/server-status?auto", port=8081)
        probes["status_internal_html"] = request(
            "GET", "/server-status", port=8081)
        probes["internal_root"] = request("GET", "/", port=8081)
        probes["internal_api"] = request("GET", "/api/dni/X1", port=8081)
        probes["internal_trace"] = request("TRACE", "/server-status?auto", port=8081)

        # --- /delay -------------------------------------------------------
        probes["delay"] = request("GET", "/delay")

        # --- health check script -----------------------------------------
        hc = subprocess.run(
            ["bash", str(APACHE_DIR / "healthcheck.sh"), APACHE, "80"],
            check=False, capture_output=True, text=True, timeout=60)
        probes["healthcheck_rc"] = hc.returncode
        hc_bad = subprocess.run(
            ["bash", str(APACHE_DIR / "healthcheck.sh"), APACHE, "8081"],
            check=False, capture_output=True, text=True, timeout=60)
        probes["healthcheck_wrong_port_rc"] = hc_bad.returncode
    finally:
        if apache.poll() is None:
            apache.send_signal(signal.SIGTERM)
            try:
                apache.wait(timeout=10)
            except subprocess.TimeoutExpired:
                apache.kill()
                apache.wait(timeout=5)
        result["apache_exit"] = apache.returncode
    try:
        balancer_phase(work, serverroot, hosts, base_hosts, env, backend_a, backend_b, result)
    finally:
        backend_a.shutdown()
        backend_b.shutdown()
        result["backend_seen"] = backend_a.seen + backend_b.seen
        result["access_log"] = (work / "apache.stdout").read_text("utf-8", "replace")
        result["error_log"] = (work / "apache.stderr").read_text("utf-8", "replace")
        (work / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
