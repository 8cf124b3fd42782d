"""Static checks of the apache service folder: httpd.conf under Debian's
apache2 -t, the Dockerfile (hadolint), the shell scripts (shellcheck, sh -n)
and the operator page (CSP-compatible markup, ids used by app.js).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.apache._apache import (
    APACHE_DIR,
    DEBIAN_MODULES,
    HTTPD_CONF,
    apache2_binary,
    make_serverroot,
)
from tests.support.compose import environment

HTML_DIR = APACHE_DIR / "html"
BIN_DIR = Path(sys.executable).parent


def tool(name: str) -> str:
    """A tool from the test virtualenv (tests/requirements.txt)."""
    found = shutil.which(name, path=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        pytest.fail(f"{name} not found: pip install -r tests/requirements.txt")
    return found


@pytest.fixture(scope="module")
def apache2():
    return apache2_binary()


@pytest.fixture(params=["debian-layout", "image-layout"])
def serverroot(request):
    """A SERVERROOT as the native twin builds it; "image-layout" also has
    conf/mime.types like /usr/local/apache2 in the official image."""
    work = Path(tempfile.mkdtemp(prefix="promethoide-apache-t-"))
    work.chmod(0o755)
    try:
        root = make_serverroot(work / "serverroot")
        if request.param == "image-layout":
            (root / "conf").mkdir()
            (root / "conf" / "mime.types").symlink_to("/etc/mime.types")
        yield root
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_apache2(apache2, serverroot, *args):
    return subprocess.run(
        [apache2, "-d", str(serverroot), "-f", str(HTTPD_CONF), *args], check=False,
        capture_output=True, text=True, timeout=30, cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/bin"), "LANG": "C"},
    )


# ------------------------------------------------------------- httpd.conf

def test_config_syntax(apache2, serverroot):
    res = run_apache2(apache2, serverroot, "-t")
    assert res.returncode == 0, res.stderr
    assert "Syntax OK" in res.stdout + res.stderr
    # No warnings either (undefined ${VAR}, overlapping aliases, ...).
    noise = [line for line in res.stderr.splitlines() if "Syntax OK" not in line]
    assert noise == []


def test_modules_loaded(apache2, serverroot):
    res = run_apache2(apache2, serverroot, "-t", "-D", "DUMP_MODULES")
    assert res.returncode == 0, res.stderr
    for module in ("mpm_event_module", "proxy_module", "proxy_http_module",
                   "status_module", "cgid_module", "headers_module",
                   "log_config_module", "unixd_module", "reqtimeout_module"):
        assert module in res.stdout


def test_virtual_hosts(apache2, serverroot):
    res = run_apache2(apache2, serverroot, "-t", "-D", "DUMP_VHOSTS")
    assert res.returncode == 0, res.stderr
    assert re.search(r"\*:80\s", res.stdout)
    assert re.search(r"\*:8081\s", res.stdout)


def test_config_is_portable():
    """Paths are relative to ServerRoot (or absolute system paths that both
    runtimes have); built-in modules of Debian are guarded."""
    text = "\n".join(line for line in HTTPD_CONF.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    assert not re.search(r"^\s*ServerRoot\b", text, re.MULTILINE)
    for match in re.finditer(r"^\s*LoadModule\s+(\S+)\s+(\S+)", text, re.MULTILINE):
        name, path = match.groups()
        assert path.startswith("modules/mod_"), path
        so = DEBIAN_MODULES / path.removeprefix("modules/")
        builtin = name in ("unixd_module", "log_config_module", "logio_module",
                           "version_module", "watchdog_module")
        if builtin:
            guard = f"<IfModule !{name}>"
            before = text[: match.start()]
            assert before.rstrip().endswith(guard), f"{name} must be guarded"
        else:
            assert so.exists(), f"{so} missing in Debian's apache2"
    for path in re.findall(r'"(/[^"]*)"|\s(/[\w./-]+)', text):
        p = path[0] or path[1]
        if p.startswith(("/proc/self/fd/", "/dev/null", "/etc/mime.types")):
            continue
        # URL paths are fine; file paths must be ServerRoot-relative.
        assert not p.startswith(("/usr/", "/etc/", "/var/", "/tmp/")), p
    assert "${" not in text, "no ${VAR}: httpd fails on an undefined one"


ERRORS_DIR = APACHE_DIR / "errors"


def test_every_error_document_is_a_json_error():
    """Each ErrorDocument names a file of errors/ holding {detail, reason}, and each file is used."""
    text = HTTPD_CONF.read_text()
    documents = dict(re.findall(r"^\s*ErrorDocument\s+(\d{3})\s+/errors/(\S+)\s*$", text, re.MULTILINE))
    assert len(re.findall(r"^\s*ErrorDocument\b", text, re.MULTILINE)) == len(documents)
    assert set(documents.values()) == {path.name for path in ERRORS_DIR.iterdir()}
    for status, name in documents.items():
        assert name == f"{status}.json"
        body = json.loads((ERRORS_DIR / name).read_text())
        assert set(body) == {"detail", "reason"}, name
        assert re.fullmatch(r"[a-z_]+", body["reason"]), name
    # Every error Apache itself can answer under /api/ (issue 9).
    assert {"400", "404", "405", "411", "413", "414", "501", "502", "503", "504"} <= set(documents)


def test_the_page_knows_the_reasons_of_apaches_gateway_errors():
    """app.js tells "no API answered" (502-504 of errors/) from the API's own refusals by reason."""
    reasons = {json.loads((ERRORS_DIR / f"{status}.json").read_text())["reason"] for status in (502, 503, 504)}
    declared = re.search(r"GATEWAY_REASONS = new Set\(\[(.*?)\]\)", (HTML_DIR / "app.js").read_text())
    assert declared is not None
    assert set(re.findall(r'"(\w+)"', declared.group(1))) == reasons


def test_the_api_knows_the_prefix_apache_serves_it_under():
    """compose's ROOT_PATH for the api is the path Apache proxies to it (the docs and schema use it)."""
    prefix = re.search(r'^\s*ProxyPass\s+"(/[^"]*)/"\s+"balancer://api/"', HTTPD_CONF.read_text(), re.MULTILINE)
    assert prefix is not None
    assert environment("api").get("ROOT_PATH") == prefix.group(1), "set ROOT_PATH in the api's compose environment"


def _self_signed(directory):
    directory.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=apache",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("how", ["certificate in conf/tls", "-D TLS and a certificate"])
def test_config_syntax_under_tls(apache2, serverroot, how):
    """The TLS half of the file (mod_ssl, the 443 virtual host) parses, without a warning."""
    _self_signed(serverroot / "conf" / "tls")
    res = run_apache2(apache2, serverroot, "-t", *(["-D", "TLS"] if how.startswith("-D") else []))
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stderr.splitlines() if "Syntax OK" not in line] == []
    modules = run_apache2(apache2, serverroot, "-t", "-D", "DUMP_MODULES")
    assert "ssl_module" in modules.stdout
    assert "Define: TLS" in run_apache2(apache2, serverroot, "-t", "-D", "DUMP_RUN_CFG").stdout


def test_without_a_certificate_there_is_no_tls(apache2, serverroot):
    # mod_ssl is loaded whatever happens (remote sites' port 9443 needs it too); TLS on the
    # published port is the TLS define, which only a certificate in conf/tls turns on.
    run_cfg = run_apache2(apache2, serverroot, "-t", "-D", "DUMP_RUN_CFG")
    assert run_cfg.returncode == 0, run_cfg.stderr
    assert "Define: DUMP_RUN_CFG" in run_cfg.stdout and "Define: TLS" not in run_cfg.stdout
    forced = run_apache2(apache2, serverroot, "-t", "-D", "TLS")  # TLS asked for, no certificate: refused
    assert forced.returncode != 0
    assert "cert.pem" in forced.stderr


def test_trace_is_off_but_where_the_api_answers_it():
    text = HTTPD_CONF.read_text()
    assert re.findall(r"^\s*TraceEnable\s+(\w+)", text, re.MULTILINE) == ["Off", "On"]
    # The page's site (ports 80 and 443) is the PageSite macro; port 8081 keeps the global Off.
    site = text[text.index("<Macro PageSite"):text.index("</Macro>")]
    assert re.search(r"^\s*TraceEnable On\s*$", site, re.MULTILINE)
    port8081 = text[text.index("<VirtualHost *:8081>"):]
    assert "TraceEnable" not in port8081


def test_config_hardening_directives():
    text = HTTPD_CONF.read_text()
    for directive in ("ServerTokens Prod", "ServerSignature Off", "TraceEnable Off",
                      "ProxyRequests Off", "ExtendedStatus On", "Listen 80",
                      "Listen 8081", "ErrorLog /proc/self/fd/2"):
        assert re.search(rf"^\s*{re.escape(directive)}\s*$", text, re.MULTILINE), directive
    assert re.search(r"CustomLog /proc/self/fd/1 ", text)
    # The access log never gets the raw path, query or request line.
    formats = re.findall(r'^\s*LogFormat\s+"(.*)"\s+\w+\s*$', text, re.MULTILINE)
    assert formats
    for fmt in formats:
        for forbidden in ("%r", "%U", "%q", "%{Referer}i"):
            assert forbidden not in fmt


# ------------------------------------------------------------- Dockerfile

def test_dockerfile_hadolint():
    res = subprocess.run([tool("hadolint"), str(APACHE_DIR / "Dockerfile")],
                         check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_dockerfile_contents():
    text = (APACHE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM httpd:2\.4\.\d+$", text, re.MULTILINE)
    assert "conf/httpd.conf" in text
    assert "HEALTHCHECK" in text
    assert re.search(r"^EXPOSE 80\b", text, re.MULTILINE)
    for path in ("httpd.conf", "html/", "cgi-bin/delay", "healthcheck.sh", "errors/"):
        assert path in text
        assert (APACHE_DIR / path).exists()


# ---------------------------------------------------------- shell scripts

SCRIPTS = [APACHE_DIR / "healthcheck.sh", APACHE_DIR / "cgi-bin" / "delay",
           Path(__file__).resolve().parent / "install-deps.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    res = subprocess.run([tool("shellcheck"), str(script)],
                         check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert os.access(script, os.X_OK), f"{script} must be executable"


def test_delay_script(tmp_path):
    """The CGI under /bin/sh (as in the official image and Debian), with a
    stand-in `sleep` that records its argument instead of sleeping."""
    script = APACHE_DIR / "cgi-bin" / "delay"
    assert script.read_text().startswith("#!/bin/sh\n")
    fake = tmp_path / "sleep"
    fake.write_text('#!/bin/sh\necho "$1" > "$SLEPT"\n')
    fake.chmod(0o755)
    cases = {"1": "1", "0.5": "0.5", "": "2", None: "2", "1; echo x": "2",
             "-1": "2", "1.2.3": "2", ".5": "2"}
    for value, expected in cases.items():
        slept = tmp_path / "slept"
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SLEPT": str(slept)}
        if value is not None:
            env["DELAY_SECONDS"] = value
        res = subprocess.run(["/bin/sh", str(script)], check=False, capture_output=True,
                             timeout=10, env=env)
        assert res.returncode == 0, res.stderr
        assert slept.read_text().strip() == expected, value
        head, _, body = res.stdout.decode().partition("\r\n\r\n")
        assert "Content-Type: text/html" in head
        assert "<html" in body


# ------------------------------------------------------------- the page

class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []  # (tag, attrs)
        self.inline_script = False
        self.inline_style = False
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "script":
            self._in_script = True
            if "src" not in attrs:
                self.inline_script = True
        if tag == "style":
            self.inline_style = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_script = True


@pytest.fixture(scope="module")
def page():
    parser = _Page()
    parser.feed((HTML_DIR / "index.html").read_text())
    return parser


def test_page_has_no_inline_code(page):
    assert not page.inline_script
    assert not page.inline_style
    for tag, attrs in page.elements:
        assert "style" not in attrs, f"<{tag} style=...>"
        for name in attrs:
            assert not name.startswith("on"), f"<{tag} {name}=...>"
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"(https?:)?//|javascript:|data:", value), value


def test_page_ids_and_test_ids(page):
    ids = [a["id"] for _, a in page.elements if "id" in a]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for _tag, attrs in page.elements:
        if "data-testid" in attrs:
            assert attrs.get("id") == attrs["data-testid"], attrs
    script = (HTML_DIR / "app.js").read_text()
    used = set(re.findall(r'\$\("([a-z-]+)"\)', script))
    used |= {"progress-" + s for s in ("dni", "flight", "details", "done")}
    used |= {f"{f}-error" for f in ("dni", "flight", "name", "lodging", "money")}
    assert used <= set(ids), used - set(ids)
    for required in ("dni", "check-dni", "stop", "flight", "check-flight", "name",
                     "lodging", "money", "register", "done", "entry-id",
                     "next-traveller", "message"):
        assert required in ids


def test_every_input_has_a_label(page):
    labels = {a.get("for") for t, a in page.elements if t == "label"}
    inputs = [a for t, a in page.elements if t == "input"]
    assert inputs
    for attrs in inputs:
        assert attrs["id"] in labels, attrs["id"]


def test_page_uses_relative_api_urls():
    script = (HTML_DIR / "app.js").read_text()
    assert 'const API = "api/";' in script
    assert "http://" not in script and "https://" not in script
    assert "innerHTML" not in script  # API text is never parsed as HTML


def test_live_region_exists(page):
    message = next(a for t, a in page.elements if a.get("id") == "message")
    assert message.get("aria-live") == "polite"
    stop = next(a for t, a in page.elements if a.get("id") == "stop")
    assert stop.get("role") == "alert"
