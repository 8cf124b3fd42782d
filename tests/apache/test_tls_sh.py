"""apache/tls.sh, the functions ./run.sh uses to serve the page over HTTPS, run in bash with the real openssl."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.apache._apache import APACHE_DIR
from tests.apache.test_apache_config import tool

TLS_SH = APACHE_DIR / "tls.sh"


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash with tls.sh sourced."""
    return subprocess.run(["bash", "-c", f'set -euo pipefail; . "{TLS_SH}"; {script}'], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def make_pair(where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(cert))
    return cert, key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_shellcheck() -> None:
    result = subprocess.run([tool("shellcheck"), str(TLS_SH)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("address", "wanted"), [
    ("127.0.0.1", False), ("127.0.1.1", False), ("::1", False), ("localhost", False), ("", False),
    ("0.0.0.0", True), ("192.168.1.20", True), ("10.0.0.5", True), ("::", True), ("203.0.113.7", True),
])
def test_tls_is_wanted_beyond_loopback_only(address: str, wanted: bool, tmp_path: Path) -> None:
    result = bash(f'tls_wanted "{address}"', tmp_path)
    assert (result.returncode == 0) is wanted


def test_a_self_signed_pair_is_created_once_and_reused(tmp_path: Path) -> None:
    first = bash('tls_install tls "" "" desk.example 192.0.2.10 localhost', tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Created a self-signed TLS certificate" in first.stdout
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert mode(cert) == 0o600 and mode(key) == 0o600
    assert mode(tmp_path / "tls" / "self-signed") == 0o700
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    assert "DNS:desk.example" in text and "IP Address:192.0.2.10" in text and "DNS:localhost" in text
    assert "CN = desk.example" in text or "CN=desk.example" in text

    again = bash('tls_install tls "" "" other.example', tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Created" not in again.stdout
    assert cert.read_bytes() == (tmp_path / "tls" / "self-signed" / "cert.pem").read_bytes()
    assert "DNS:desk.example" in openssl("x509", "-in", str(cert), "-noout", "-text")


def test_the_operators_pair_is_installed(tmp_path: Path) -> None:
    given_cert, given_key = make_pair(tmp_path, "desk")
    result = bash(f'tls_install tls "{given_cert}" "{given_key}"', tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tls" / "cert.pem").read_bytes() == given_cert.read_bytes()
    assert (tmp_path / "tls" / "key.pem").read_bytes() == given_key.read_bytes()
    assert mode(tmp_path / "tls" / "key.pem") == 0o600
    assert not (tmp_path / "tls" / "self-signed").exists()


@pytest.mark.parametrize("fault", ["key of another certificate", "missing key", "only the certificate", "not pem"])
def test_a_bad_pair_is_refused_and_nothing_is_installed(fault: str, tmp_path: Path) -> None:
    cert, key = make_pair(tmp_path, "desk")
    _, other_key = make_pair(tmp_path, "other")
    (tmp_path / "tls").mkdir()
    args = {
        "key of another certificate": (cert, other_key),
        "missing key": (cert, tmp_path / "absent.key"),
        "only the certificate": (cert, ""),
        "not pem": (cert, tmp_path / "garbage.key"),
    }[fault]
    (tmp_path / "garbage.key").write_text("not a key\n")
    result = bash(f'tls_install tls "{args[0]}" "{args[1]}"', tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip()
    assert sorted(os.listdir(tmp_path / "tls")) == []


def test_remove_keeps_the_self_signed_pair(tmp_path: Path) -> None:
    assert bash('tls_install tls "" "" localhost', tmp_path).returncode == 0
    assert bash("tls_remove tls", tmp_path).returncode == 0
    assert sorted(os.listdir(tmp_path / "tls")) == ["self-signed"]
    shutil.rmtree(tmp_path / "tls")
