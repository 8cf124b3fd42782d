"""apache/README.md restates the image, the ports, the exporter's address and a default: held to them."""

import re

from tests.support.compose import ROOT, ports, services
from tests.support.markdown import code_spans, table

APACHE = ROOT / "apache"
README = APACHE / "README.md"
TEXT = README.read_text()


def test_the_image_is_the_dockerfile_s() -> None:
    base = re.search(r"^FROM (\S+)", (APACHE / "Dockerfile").read_text(), re.M)
    assert base
    assert set(re.findall(r"`(httpd:[^`]+)`", TEXT)) == {base[1]}


def test_the_files_table_lists_every_file() -> None:
    listed = {code for cell in table(README, "file", "what").column("file") for code in code_spans(cell)}
    for name in listed:
        assert (APACHE / name.rstrip("/")).exists(), name
    shipped = {path.name for path in APACHE.iterdir()} - {"README.md"}
    assert shipped == {name.split("/")[0] for name in listed}


def test_the_ports_are_compose_s() -> None:
    documented = {int(port) for port in re.findall(r"^\* \*\*(\d+)\*\*", TEXT, re.M)}
    assert documented == set(ports("apache"))
    (flag,) = [arg for arg in services()["apache-exporter"]["command"] if arg.startswith("--scrape_uri=")]
    assert f"`{flag}`" in TEXT


def test_the_delay_default_is_the_image_s() -> None:
    image = re.search(r"^ENV DELAY_SECONDS=(\S+)", (APACHE / "Dockerfile").read_text(), re.M)
    script = re.search(r'\$\{DELAY_SECONDS:-([^}]+)\}', (APACHE / "cgi-bin" / "delay").read_text())
    stated = set(re.findall(r"`DELAY_SECONDS`[^()]*\(default (\S+?)[;)]", TEXT))
    assert image and script and stated == {image[1]} == {script[1]}
