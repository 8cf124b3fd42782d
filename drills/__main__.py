"""./run.sh drill [NAME...|all|--list]: run fault drills on the Docker Compose stack.

Run from the repository's directory with the host's python3 (standard library only):

    python3 -m drills --list
    python3 -m drills api-down postgres-stopped --page http://localhost:8080

Credentials come from the environment, as ./run.sh exports them from .env: MONITORING_UI_USERNAME
and MONITORING_UI_PASSWORD (Prometheus's, Alertmanager's and mailpit's basic auth beyond loopback), and
LOAD_TEST_USERNAME and LOAD_TEST_PASSWORD (the officer the page's API requests sign in as).

Exit status: 0 every drill passed; 1 a drill failed (its failed expectations are printed); 2 the
stack is not healthy (nothing was touched) or the arguments are wrong; 130 interrupted (after
repairing every fault it had injected).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Optional, Tuple

from drills.docker import DockerBackend, DockerError
from drills.runner import CATALOGUE, CatalogueError, Stack, load_catalogue, markdown, run_drills, table, waves


def _pair(user_variable: str, password_variable: str) -> Optional[Tuple[str, str]]:
    """A user name and password from the environment (./run.sh exports .env's), or None if either is unset."""
    user, password = os.environ.get(user_variable, ""), os.environ.get(password_variable, "")
    return (user, password) if user and password else None


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="./run.sh drill", description="Fault drills on the running stack.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="drills to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the drills and what each proves")
    parser.add_argument("--markdown", action="store_true", help=argparse.SUPPRESS)  # the README's table
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--prometheus", default="http://localhost:9090")
    parser.add_argument("--alertmanager", default="http://localhost:9093")
    parser.add_argument("--mailpit", default="http://localhost:8025")
    parser.add_argument("--page", default="http://localhost:8080", help="the operator page (Apache)")
    parser.add_argument("--page-cafile", help="the certificate to trust when the page is HTTPS (self-signed)")
    parser.add_argument("--docker", default="docker", help="the docker client to call")
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue)
        scenarios = catalogue.named(args.names)
    except (CatalogueError, KeyError) as error:
        print(f"drill: {error.args[0]}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown(catalogue))
        return 0
    if args.list:
        for scenario in catalogue.scenarios:
            print(f"{scenario.name:22} {scenario.proves}")
        for entry in catalogue.elsewhere:
            print(f"{entry['name']:22} {entry['proves']} ({entry['proved_by']})")
        return 0
    backend = DockerBackend(args.docker)
    stack = Stack(prometheus=args.prometheus, alertmanager=args.alertmanager, mailpit=args.mailpit, page=args.page,
                  ui_auth=_pair("MONITORING_UI_USERNAME", "MONITORING_UI_PASSWORD"),
                  operator=_pair("LOAD_TEST_USERNAME", "LOAD_TEST_PASSWORD"), page_cafile=args.page_cafile)
    try:
        problems = backend.unhealthy()
    except DockerError as error:
        problems = [str(error)]
    problems += [f"{down} does not answer" for down in stack.unreachable(scenarios)]
    if problems:
        print("drill: the stack is not healthy, so no drill was run (a drill must start from a healthy stack):",
              file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def interrupted(signum: int, _frame: object) -> None:
        print(f"drill: {signal.Signals(signum).name}: repairing every fault injected, then stopping",
              file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    plan = waves(scenarios)
    print(f"{len(scenarios)} drill(s) in {len(plan)} round(s); those of a round run at the same time.", flush=True)
    reports = run_drills(scenarios, backend, stack, stop=stop,
                         log=lambda line: print(f"  {line}", flush=True))
    print()
    print(table(reports))
    if stop.is_set():
        print("drill: interrupted; every fault injected was repaired" if not any(
            "REPAIR FAILED" in f for r in reports for f in r.failures) else "drill: interrupted", file=sys.stderr)
        return 130
    return 0 if all(report.verdict == "PASS" for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
