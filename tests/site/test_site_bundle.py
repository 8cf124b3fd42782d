"""The site bundle (site/) and `./run.sh site-credentials`, checked without a remote host.

The bundle live, in a second network namespace, is tests/stack/test_remote_site.py.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.apache._apache import HTTPD_CONF, apache2_binary, make_serverroot
from tests.support.compose import ROOT, services
from tests.twin.site import site_model

SITE = ROOT / "site"
RUN_SH = ROOT / "run.sh"


def site_credentials(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUN_SH), "site-credentials", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SITE_CREDENTIALS_DIR": str(directory)})


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    """SITE_CREDENTIALS_DIR after `./run.sh site-credentials lisbon 192.0.2.10`."""
    result = site_credentials(tmp_path / "creds", "lisbon", "192.0.2.10")
    assert result.returncode == 0, result.stderr
    return tmp_path / "creds"


def test_the_bundle_follows_the_compose_specification() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(SITE / "docker-compose.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_site_listens_on_nothing_beyond_its_own_loopback() -> None:
    # Behind NAT or a VPN a site only connects out: no published port, every listener on 127.0.0.1.
    for name, service in site_model()["services"].items():
        assert "ports" not in service, name
        listen = [str(a) for a in service["command"] if str(a).startswith("--web.listen-address=")]
        assert listen and all(a.split("=", 1)[1].startswith("127.0.0.1:") for a in listen), name


def test_the_bundle_runs_the_central_stacks_images() -> None:
    central = services()
    for name, central_name in (("node-exporter", "node-exporter"), ("prometheus-agent", "prometheus")):
        assert site_model()["services"][name]["image"] == central[central_name]["image"]


def test_the_agent_sends_its_own_metrics_under_a_job_the_centre_does_not_use() -> None:
    # The centre's alerts about *its* Prometheus select job="prometheus"; the site's node job is meant to
    # be the centre's `node` (host alerts per site).
    agent = yaml.safe_load((SITE / "prometheus-agent.yml").read_text())
    centre = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    shared = {job["job_name"] for job in agent["scrape_configs"]} & {job["job_name"] for job in centre["scrape_configs"]}
    assert shared == {"node"}


def test_the_written_agent_config_passes_promtool_in_agent_mode(credentials: Path) -> None:
    config = credentials / "lisbon" / "prometheus-agent.yml"
    result = subprocess.run(["promtool", "check", "config", "--agent", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    written = yaml.safe_load(config.read_text())
    assert written["global"]["external_labels"] == {"site": "lisbon"}
    assert written["remote_write"][0]["basic_auth"]["username"] == "lisbon"
    assert "${" not in config.read_text()


def test_the_site_gets_its_files_private_and_the_centre_a_certificate_for_centre(credentials: Path) -> None:
    site = credentials / "lisbon"
    assert sorted(p.name for p in site.iterdir()) == ["ca.crt", "password", "prometheus-agent.yml", "site.env"]
    for path in [site / "password", credentials / "centre" / "centre.key", credentials / "ca" / "ca.key"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [credentials, site, credentials / "ca"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert (site / "site.env").read_text().splitlines()[-1] == "CENTRE_ADDRESS=192.0.2.10"
    centre = str(credentials / "centre" / "centre.crt")
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(site / "ca.crt"), "-verify_hostname", "centre", centre],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    wrong = subprocess.run(["openssl", "verify", "-CAfile", str(site / "ca.crt"), "-verify_hostname", "elsewhere",
                            centre], capture_output=True, text=True)
    assert wrong.returncode != 0


def test_the_htpasswd_holds_a_hash_of_the_sites_password(credentials: Path) -> None:
    (line,) = (credentials / "centre" / "htpasswd").read_text().splitlines()
    user, hashed = line.split(":", 1)
    password = (credentials / "lisbon" / "password").read_text()
    assert user == "lisbon" and password not in hashed and len(password) == 48
    salt = hashed.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert again == hashed


def test_a_second_site_and_a_renewal_keep_one_line_per_site_and_the_certificate(credentials: Path) -> None:
    certificate = (credentials / "centre" / "centre.crt").read_bytes()
    first = (credentials / "lisbon" / "password").read_text()
    assert site_credentials(credentials, "porto", "192.0.2.10").returncode == 0
    assert site_credentials(credentials, "lisbon", "192.0.2.10").returncode == 0
    users = [line.split(":")[0] for line in (credentials / "centre" / "htpasswd").read_text().splitlines()]
    assert sorted(users) == ["lisbon", "porto"]
    assert (credentials / "lisbon" / "password").read_text() != first
    assert (credentials / "centre" / "centre.crt").read_bytes() == certificate


@pytest.mark.parametrize("args", [
    [], ["Lisbon"], ["centre"], ["ca"], ["../etc"], ["-x"], ["a" * 64], ["lisbon", "not-an-ip;rm"],
], ids=["no-name", "upper-case", "the-centre", "ca", "path", "option", "too-long", "bad-address"])
def test_bad_input_is_refused_and_writes_nothing(tmp_path: Path, args: list[str]) -> None:
    result = site_credentials(tmp_path / "creds", *args)
    assert result.returncode != 0 and "run.sh:" in result.stderr
    assert not (tmp_path / "creds").exists()


def test_apache_serves_the_remote_write_port_once_the_centre_has_a_certificate(credentials: Path) -> None:
    # A plain mkdtemp directory: pytest's tmp_path is not searchable by apache's www-data (make_serverroot).
    root = make_serverroot(Path(tempfile.mkdtemp(prefix="promethoide-serverroot-")))
    try:
        dump = [apache2_binary(), "-d", str(root), "-f", str(HTTPD_CONF), "-t", "-DDUMP_VHOSTS"]
        before = subprocess.run(dump, capture_output=True, text=True)
        assert before.returncode == 0 and ":9443" not in before.stdout, before.stdout + before.stderr
        (root / "conf").mkdir()
        (root / "conf" / "remote-write").symlink_to(credentials / "centre")
        after = subprocess.run(dump, capture_output=True, text=True)
        assert after.returncode == 0, after.stderr
        assert "*:9443" in after.stdout and "centre" in after.stdout
    finally:
        shutil.rmtree(root)
