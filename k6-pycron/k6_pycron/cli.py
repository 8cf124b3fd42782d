"""Command line: run the loop, run one task (--once), validate (--check-config), --healthcheck.

Exit codes: 0 ok; 2 config error; --once: the task's exit code (128+N if killed by signal N);
--healthcheck: 1 unhealthy. Environment: SCHEDULER_CONFIG, SCHEDULER_HEARTBEAT_FILE,
HEARTBEAT_MAX_AGE, PUSHGATEWAY_URL, K6_BIN (README.md).
"""

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from .health import DEFAULT_HEARTBEAT, DEFAULT_MAX_AGE, check_health

LOG = logging.getLogger("k6-pycron")
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "my_config.yaml"
EXIT_CONFIG = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="scheduler.py", description="Cron-like scheduler for k6 smoke tests.")
    parser.add_argument("--config", default=os.environ.get("SCHEDULER_CONFIG", str(DEFAULT_CONFIG)),
                        help="YAML config (env SCHEDULER_CONFIG)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--once", metavar="TASK", help="run TASK now, then exit with its exit code")
    group.add_argument("--check-config", action="store_true", help="validate the config and exit")
    group.add_argument("--healthcheck", action="store_true",
                       help="exit 0 if the loop is alive and no task is overdue")
    return parser.parse_args(argv)


def setup_logging() -> None:
    """Log one line per event to stdout."""
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def run_once(config, name: str, scheduler) -> int:
    """Run one named task (config.Config, loop.Scheduler) immediately; return a process exit code."""
    from .runner import Runner

    task = config.task(name)
    if task is None:
        print(f"config error: no task named {name!r}", file=sys.stderr)
        return EXIT_CONFIG
    code = Runner(config, scheduler.stop_event).run(task)
    # Shell convention for a signal death, since exit codes cannot be negative.
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    heartbeat = os.environ.get("SCHEDULER_HEARTBEAT_FILE", DEFAULT_HEARTBEAT)
    if args.healthcheck:
        return check_health(heartbeat, float(os.environ.get("HEARTBEAT_MAX_AGE", DEFAULT_MAX_AGE)))
    # Imported only past the healthcheck, which Docker runs every 30 s: it needs none of pydantic,
    # croniter or prometheus_client (a fifth of the start-up time).
    from .config import ConfigError, load_config
    from .loop import Scheduler
    from .push import pushgateway_url

    setup_logging()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        print(f"config ok: {args.config}: {len(config.tasks)} task(s)")
        return 0
    scheduler = Scheduler(config, heartbeat)
    signal.signal(signal.SIGTERM, scheduler.request_stop)
    signal.signal(signal.SIGINT, scheduler.request_stop)
    if args.once:
        return run_once(config, args.once, scheduler)
    LOG.info("scheduler started config=%s tasks=%d pushgateway=%s", args.config, len(config.tasks), pushgateway_url())
    scheduler.loop()
    return 0
