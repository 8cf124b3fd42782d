"""What the session check and the audit row add to a request (issue 12), call by call.

    .venv/bin/python -m tests.benchmarks.session_check [--calls 1000] [--turns 10]

A throwaway PostgreSQL, one signed-in session, and the API's own functions on its own pool (one
connection, as one request sees it), each called in turns of `--calls`: the GET /dni lookup itself
(`crud.find_interpol_notice`), the session check as it was first written (one plain statement, planned
on every call), the session check as every request makes it now (`auth.session_operator` through
postgres/init.sql's PL/pgSQL session_check, plans kept per connection; last_seen_at fresh: a read only), the same when last_seen_at is written on every call
(SESSION_TOUCH_INTERVAL_S=0), and the audit row (`audit.record`). Reported: wall and CPU time per call,
medians of the turns. Wall time is mostly PostgreSQL's; on a shared machine compare within one run.
Results: tests/benchmarks/README.md.
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "api"))


async def measure(args: argparse.Namespace, env: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    import os

    os.environ.update(env)
    from starlette.requests import Request

    from app import audit, auth, crud
    from app.audit import Action, Outcome
    from app.config import Settings
    from app.db import Pool
    from tests.support import operators

    settings = Settings()  # type: ignore[call-arg]
    touch_always = settings.model_copy(update={"session_touch_interval_s": 0})
    pool = Pool(settings.dsn_kwargs(), size=1, connect_timeout=2, acquire_timeout=2, statement_timeout=2)
    signed_in = await auth.sign_in(pool, settings, operators.BENCH.username, operators.BENCH.password, "127.0.0.1")
    token = signed_in.token
    request = Request({"type": "http", "method": "GET", "path": "/dni/12345678A", "headers": [],
                       "client": ("127.0.0.1", 1), "query_string": b""})

    async def plain_statement_check() -> object:
        """The session check before postgres/init.sql's session_check: one plain statement, planned on
        every call (its read path; the touch was a second statement)."""
        return await pool.fetch(
            """SELECT o.id, o.username, o.role, o.disabled, s.expires_at,
                      s.expires_at <= now() OR s.last_seen_at <= now() - make_interval(secs => %(idle)s) AS expired,
                      s.last_seen_at <= now() - make_interval(secs => %(touch)s) AS stale
                 FROM sessions s JOIN operators o ON o.id = s.operator_id
                WHERE s.token_sha256 = %(key)s""",
            {"key": auth.digest(token), "idle": settings.session_idle_timeout_s,
             "touch": settings.session_touch_interval_s})

    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "GET /dni's lookup (crud.find_interpol_notice)": lambda: crud.find_interpol_notice(pool, "12345678A"),
        "session check before: plain statement, a read": plain_statement_check,
        "session check, last_seen_at fresh (a read)": lambda: auth.session_operator(pool, settings, token),
        "session check, last_seen_at written every call": lambda: auth.session_operator(pool, touch_always, token),
        "audit row (audit.record)": lambda: audit.record(pool, request, operator=operators.BENCH.username,
                                                          action=Action.DOCUMENT_CHECK, outcome=Outcome.OK,
                                                          subject="12345678A", reason="listed"),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(20):  # warm-up: the connection, the plans
        for call in cases.values():
            await call()
    for turn in range(args.turns):
        names = list(cases)
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.calls):
                await cases[name]()
            results[name].append(((time.perf_counter() - wall) * 1e6 / args.calls,
                                  (time.process_time() - cpu) * 1e6 / args.calls))
    pool.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per turn")
    parser.add_argument("--turns", type=int, default=10, help="turns per case; medians reported")
    args = parser.parse_args()
    from tests.support import operators
    from tests.support.postgres import ThrowawayPostgres

    with ThrowawayPostgres() as postgres:
        env = postgres.api_env()
        operators.ensure({**__import__("os").environ, **env}, operators.BENCH)
        results = asyncio.run(measure(args, env))
    print(f"\n{args.turns} turns of {args.calls} calls, one connection, medians\n")
    print("| call | wall µs | CPU µs |")
    print("|---|---:|---:|")
    for name, turns in results.items():
        print(f"| {name} | {statistics.median(w for w, _ in turns):.0f} | {statistics.median(c for _, c in turns):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
