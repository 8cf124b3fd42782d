"""Boot the twin, wait until healthy, run a command inside its network, tear down.

    ./test.sh stack -- curl -s http://api:8000/healthz
    ./test.sh stack -- bash          # explore: psql, curl prometheus:9090/api/v1/targets
    ./test.sh stack --set ALERT_GROUP_INTERVAL=15s -- bash    # a .env setting changed, as in .env

The command gets PGHOST, PGUSER, PGPASSWORD and PGDATABASE for the superuser of the run.

Exits with the command's status. Must run in a private network namespace (./test.sh stack does).
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.twin.stack import Twin


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./test.sh stack", description=__doc__.splitlines()[0])
    parser.add_argument("--api-replicas", type=int, default=2)
    parser.add_argument("--k6-interval", type=int, default=60, help="seconds between smoke runs")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                        help="a setting of .example.env, as .env would change it (repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --, e.g. ./test.sh stack -- curl -s http://api:8000/healthz")
    if any("=" not in setting for setting in args.settings):
        parser.error("--set takes NAME=VALUE")
    settings = dict(setting.split("=", 1) for setting in args.settings)
    logging.basicConfig(level=logging.INFO, format="twin: %(message)s", stream=sys.stderr)
    # SIGTERM and SIGINT end the command and the stack alike, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    twin = Twin(Path(tempfile.mkdtemp(prefix="promethoide-twin-")), api_replicas=args.api_replicas,
                k6_interval_s=args.k6_interval, settings=settings)
    try:
        twin.start()
        for name, endpoints in twin.endpoints().items():
            logging.info("%-18s %s", name, " ".join(endpoints))
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # psql works as it is: the run's secrets are random.
            "PGHOST": "postgres",
            "PGUSER": twin.env["POSTGRES_USER"],
            "PGPASSWORD": twin.env["POSTGRES_PASSWORD"],
            "PGDATABASE": twin.env["POSTGRES_DB"],
        }
        return subprocess.run(command, env=env).returncode
    finally:
        twin.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
