"""One twin running some drills: boot it, wait until it is settled, run the drills, write their reports.

    unshare --net --mount --propagation private -- python -m tests.drills.twin_worker \\
        --report reports.json api-down postgres-stopped

Each worker is its own twin in its own network namespace, so tests/drills/test_drills_on_twin.py can
run several at once. The twin is given, as an administrator's .env would give them, a shorter
Alertmanager group_wait and group_interval (ALERT_GROUP_WAIT, ALERT_GROUP_INTERVAL) and smoke runs
every K6_INTERVAL_S; Prometheus's scrape and evaluation intervals and every rule are the product's.
"""

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from drills.mailpit import Mail
from drills.runner import Stack, load_catalogue, run_drills
from tests.drills.twin_backend import TwinBackend
from tests.twin.network import bring_up_loopback
from tests.twin.stack import Twin

SETTINGS = {"ALERT_GROUP_WAIT": "10s", "ALERT_GROUP_INTERVAL": "15s"}
K6_INTERVAL_S = 10
# What a healthy twin fires: the Watchdog always; GrafanaDown because the twin has no Grafana.
HEALTHY = {"Watchdog", "GrafanaDown"}
SETTLE_S = 420


def settle(stack: Stack, timeout: float) -> None:
    """Wait until Prometheus holds only the healthy twin's alerts (start-up leaves some pending)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = {a["labels"]["alertname"]: a["state"] for a in stack.prometheus_alerts()}
        if set(alerts) <= HEALTHY and alerts.get("Watchdog") == "firing":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the twin never settled; alerts: {alerts}")
        time.sleep(2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="twin: %(message)s", stream=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    bring_up_loopback()
    scenarios = load_catalogue().named(args.names)
    twin = Twin(Path(tempfile.mkdtemp(prefix="promethoide-drill-twin-")), api_replicas=2, k6_interval_s=K6_INTERVAL_S,
                settings=SETTINGS)
    started = time.monotonic()
    try:
        twin.start()
        stack = Stack(prometheus=twin.url("prometheus"), alertmanager=twin.url("alertmanager"),
                      mailpit=twin.url("mailpit", port=8025), page=twin.url("apache"),
                      operator=(twin.env["LOAD_TEST_USERNAME"], twin.env["LOAD_TEST_PASSWORD"]))
        settle(stack, SETTLE_S)
        ready = time.monotonic()
        backend = TwinBackend(twin)
        unhealthy = backend.unhealthy()
        if unhealthy:
            raise RuntimeError(f"unhealthy before the drills: {unhealthy}")
        # Every mail seen, kept here: the stand-in mail sink forgets its mails when mailpit-stopped stops it.
        seen: dict[str, Mail] = {}
        done = threading.Event()

        def collect() -> None:
            while not done.wait(5):
                try:
                    seen.update({mail.id: mail for mail in stack.inbox.messages() if mail.id not in seen})
                except OSError:
                    pass
        collector = threading.Thread(target=collect, daemon=True)
        collector.start()
        reports = run_drills(scenarios, backend, stack, stop=stop,
                             log=lambda line: print(f"[{args.names[0]}...] {line}", file=sys.stderr, flush=True))
        done.set()
        collector.join()
        seen.update({mail.id: mail for mail in stack.inbox.messages()})
        mails = [{"subject": m.subject, "sender": m.sender, "recipients": list(m.recipients), "links": sorted(m.links)}
                 for m in seen.values()]
        args.report.write_text(json.dumps({
            "boot_s": round(ready - started), "drills_s": round(time.monotonic() - ready),
            "reports": [report.to_json() for report in reports], "mails": mails,
            "env": {k: twin.env[k] for k in ("SMTP_FROM", "GRAFANA_EXTERNAL_URL")}}))
        return 0
    finally:
        twin.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
