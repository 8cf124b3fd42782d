"""HTTPS on Apache's published port (443) with the self-signed pair apache/tls.sh made, as ./run.sh does when
BIND_ADDRESS is not a loopback address (the twin's settings say 0.0.0.0); and the API's refusal of a
cross-origin request through Apache.

curl is the client: `--cacert` trusts exactly the twin's certificate, so a wrong name or a different
certificate fails the handshake.
"""

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.twin.stack import Twin

HTTPS = "https://apache"  # port 443, the one compose publishes
SESSION_COOKIE = "promethoide_session"


def curl(*args: str) -> tuple[int, dict[str, list[str]], str]:
    """One request with curl: (status, headers lower-cased, body). Status 0: no HTTP answer (curl's error as body)."""
    with tempfile.TemporaryDirectory() as work:
        head_file, body_file = Path(work) / "head", Path(work) / "body"
        result = subprocess.run(["curl", "-sS", "--max-time", "20", "-D", str(head_file), "-o", str(body_file), *args],
                                capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            return 0, {}, result.stderr
        lines = head_file.read_text().strip().splitlines()
        body = body_file.read_text(errors="replace") if body_file.exists() else ""
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def ca(twin: Twin) -> str:
    assert twin.tls_dir is not None, "the twin serves no TLS: is BIND_ADDRESS a loopback address?"
    return str(Path(twin.tls_dir) / "cert.pem")


def session_cookie(headers: dict[str, list[str]]) -> str:
    (cookie,) = [c for c in headers.get("set-cookie", []) if c.startswith(f"{SESSION_COOKIE}=")]
    return cookie


def attributes(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_the_page_is_served_over_https_with_hsts(ca: str) -> None:
    status, headers, body = curl("--cacert", ca, f"{HTTPS}/")
    assert status == 200, body
    assert "<html" in body
    (hsts,) = headers["strict-transport-security"]
    assert hsts.startswith("max-age=")


def test_an_untrusted_client_gets_no_answer(twin: Twin) -> None:
    status, _, error = curl(f"{HTTPS}/")  # the system's CAs do not know the self-signed certificate
    assert status == 0
    assert "certificate" in error.lower()


def test_plain_http_on_the_tls_port_is_refused() -> None:
    status, _, body = curl("http://apache:443/")
    assert status == 400  # mod_ssl: "You're speaking plain HTTP to an SSL-enabled server port"
    assert "Border control desk" not in body


def test_the_internal_port_stays_plain_http_without_hsts(twin: Twin) -> None:
    status, headers, _ = curl(twin.url("apache", "/"))
    assert status == 200
    assert "strict-transport-security" not in headers


def test_over_https_the_session_cookie_is_secure(ca: str, twin: Twin) -> None:
    credentials = json.dumps({"username": twin.env["SMOKE_TEST_USERNAME"], "password": twin.env["SMOKE_TEST_PASSWORD"]})
    status, headers, body = curl("--cacert", ca, "-X", "POST", "-H", "Content-Type: application/json",
                                 "--data", credentials, f"{HTTPS}/api/auth/sign-in")
    assert status == 200, body
    assert {"secure", "httponly", "samesite"} <= attributes(session_cookie(headers))
    # The same account over the internal plain-HTTP port: no Secure flag (the browser would drop it).
    status, headers, body = curl("-X", "POST", "-H", "Content-Type: application/json", "--data", credentials,
                                 twin.url("apache", "/api/auth/sign-in"))
    assert status == 200, body
    assert "secure" not in attributes(session_cookie(headers))


def signed_in_cookie(twin: Twin, base: str, *extra: str) -> str:
    credentials = json.dumps({"username": twin.env["SMOKE_TEST_USERNAME"], "password": twin.env["SMOKE_TEST_PASSWORD"]})
    status, headers, body = curl(*extra, "-X", "POST", "-H", "Content-Type: application/json", "--data", credentials,
                                 f"{base}/api/auth/sign-in")
    assert status == 200, body
    return session_cookie(headers).split(";")[0]


ENTRY = json.dumps({"name": "Cross Origin", "dni": "XORIGIN0001", "lodging": "Hotel", "declared_money": "1500.00",
                    "flight_number": "AA123"})


@pytest.mark.parametrize(("header", "refused"), [
    ("Origin: http://evil.example", True),
    ("Origin: http://apache.evil.example", True),
    ("Origin: https://apache", True),  # another scheme is another origin
    ("Origin: null", True),
    ("Referer: http://evil.example/page.html", True),
    ("Origin: http://apache", False),
    ("Referer: http://apache/", False),
])
def test_a_cross_origin_post_through_apache_is_refused(twin: Twin, header: str, refused: bool) -> None:
    cookie = signed_in_cookie(twin, "http://apache")
    status, _, body = curl("-X", "POST", "-H", "Content-Type: application/json", "-H", f"Cookie: {cookie}",
                           "-H", header, "--data", ENTRY, twin.url("apache", "/api/immigration?dry_run=true"))
    if refused:
        assert status == 403, body
        assert json.loads(body)["reason"] == "cross_origin"
    else:
        assert status == 200, body


def test_a_cross_origin_post_over_https_is_refused_and_the_own_origin_accepted(ca: str, twin: Twin) -> None:
    cookie = signed_in_cookie(twin, HTTPS, "--cacert", ca)
    for origin, expected in (("http://apache", 403), ("https://apache", 200)):
        status, _, body = curl("--cacert", ca, "-X", "POST", "-H", "Content-Type: application/json",
                               "-H", f"Cookie: {cookie}", "-H", f"Origin: {origin}", "--data", ENTRY,
                               f"{HTTPS}/api/immigration?dry_run=true")
        assert status == expected, (origin, body)


FORGED = "203.0.113.9"


@pytest.mark.usefixtures("forgive_failed_sign_ins")
def test_a_forged_x_forwarded_for_is_not_taken_for_the_client(twin: Twin) -> None:
    """Apache drops a client's X-Forwarded-For: the API audits and counts failed sign-ins under the address
    Apache saw, not one the client chose (the per-address lockout would be defeated otherwise)."""
    database = twin.replicas["postgres"][0].database
    assert database is not None
    user = "xff-probe"
    twin.ensure_operator(user, "the real passphrase of the probe")  # a known name: the audit row names it
    for forged in (FORGED, f"{FORGED}, 198.51.100.7"):
        status, _, body = curl("-X", "POST", "-H", "Content-Type: application/json", "-H", f"X-Forwarded-For: {forged}",
                               "--data", json.dumps({"username": user, "password": "not the password"}),
                               twin.url("apache", "/api/auth/sign-in"))
        assert status == 401, body
    audited = database.psql(f"SELECT client_address FROM audit_log WHERE action = 'sign_in' AND operator = '{user}' "
                            "ORDER BY id DESC LIMIT 2")
    addresses = audited.split()
    assert len(addresses) == 2, audited
    assert all(address.startswith("127.") for address in addresses), addresses
    assert database.psql("SELECT count(*) FROM sign_in_attempts "
                         f"WHERE key LIKE '{FORGED}%' OR key LIKE '198.51.100.7%'") == "0"
    assert database.psql(f"SELECT failures FROM sign_in_attempts WHERE scope = 'account' AND key = '{user}'") == "2"
    clients = database.psql(f"SELECT key FROM sign_in_attempts WHERE scope = 'client' AND key LIKE '% {user}'").split("\n")
    assert len(clients) == 1 and clients[0].startswith("127."), clients
