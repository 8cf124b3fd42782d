"""Reading the mails an SMTP sink received: the product's own reader (drills/mailpit.py), which
`./run.sh drill` uses on a Docker host, so tests and drills read mail through one implementation."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from drills.mailpit import Inbox, Mail
from tests.support.compose import ROOT
from tests.support.processes import free_port, stop_group, wait_until

__all__ = ["Inbox", "Mail", "running_sink"]


@contextmanager
def running_sink(directory: Path, patience_s: float = 60) -> Iterator[tuple[int, str]]:
    """The twin's SMTP sink (tests/twin/mailsink.py) on free loopback ports, its log in `directory`:
    yields (SMTP port, URL of its mailpit-style API); stopped on exit."""
    smtp, http = free_port(), free_port()
    log = (directory / "sink.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "tests.twin.mailsink", "--smtp", f"127.0.0.1:{smtp}",
                                "--http", f"127.0.0.1:{http}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{http}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/messages", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(ready, timeout=patience_s, what="the SMTP sink")
        yield smtp, url
    finally:
        stop_group(process)
        log.close()
