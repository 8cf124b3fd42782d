"""Throughput and latency of the API as it runs in production, against a bare FastAPI endpoint.

    ./test.sh bench [--seconds 10] [--rounds 3] [--connections 16] [--workers 2]

One run starts a throwaway PostgreSQL and servers started by the production entrypoint (same workers,
same uvicorn flags), drives each with wrk from this machine, and prints req/s, p50, p99, the API's CPU
time per request and the ratios the targets are stated in. The GET /dni variants (no request metrics,
the same histogram written by prometheus-fastapi-instrumentator as
before issue 9 item 8, production, production without multiprocess mode) run side by side and
take turns, round after round, so that a busy neighbour on the machine slows all of them alike; their
costs are the median of each round's paired ratios. Results: tests/benchmarks/README.md.
"""

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DNI = "/dni/12345678A"
UNINSTRUMENTED = "GET /dni, no instrumentation"
BEFORE = "GET /dni, prometheus-fastapi-instrumentator (before)"
PRODUCTION = "GET /dni, instrumented (production)"
TOUCH_ALWAYS = "GET /dni, production, last_seen_at written on every request"
ACCOUNT = operators.BENCH
# The session every request carries (issue 12): one sign-in, shared by every server (one database).
COOKIE: dict[str, str] = {}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One wrk run, and the CPU time the server's processes spent meanwhile."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0  # server CPU (user + system, every worker) per request, microseconds


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def cpu_seconds(group: int) -> float:
    """User + system CPU time of every live process in a process group (the server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
                total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def wrk(name: str, url: str, seconds: int, connections: int, script: Path | None = None,
        server: ApiServer | None = None) -> Result:
    """Drive `url` with wrk (one thread: the server has the other core) and parse its report."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if COOKIE:
        argv[1:1] = ["-H", "Cookie: " + "; ".join(f"{k}={v}" for k, v in COOKIE.items())]
    if script:
        argv[1:1] = ["-s", str(script)]
    group = server.process.pid if server and server.process else None
    cpu_before = cpu_seconds(group) if group else 0.0
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(group) - cpu_before if group else 0.0
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return Result(name, rps, p50, p99, errors, cpu * 1e6 / max(requests, 1))


def serve(db_env: dict[str, str], workers: int, app_module: str | None = None, *, multiprocess: bool = True,
          **extra: str) -> ApiServer:
    """A server started by the production entrypoint."""
    settings = {"PYTHONPATH": f"{ROOT}:{ROOT / 'api'}", **extra}
    if app_module:
        settings["APP_MODULE"] = app_module
    server = ApiServer(db_env, workers=workers, **settings)
    if not multiprocess:
        # prometheus_client keeps each worker's values in memory; /metrics then shows one worker only.
        del server.env["PROMETHEUS_MULTIPROC_DIR"]
    return server


def warm_up(server: ApiServer, args: argparse.Namespace) -> None:
    """Every worker and pool slot in use once, the query plan cached."""
    wrk("warm-up", server.url + "/healthz", 3, args.connections)
    if not COOKIE and server.env.get("APP_MODULE") is None:  # a production server: sign in once
        with httpx.Client(base_url=server.url, timeout=10) as http:
            COOKIE[operators.COOKIE] = operators.sign_in(http, ACCOUNT)
    for _ in range(100):
        httpx.get(server.url + DNI, cookies=COOKIE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="as WEB_CONCURRENCY in the image")
    parser.add_argument("--cpu-requests", type=int, default=500, help="requests per in-process CPU batch")
    parser.add_argument("--cpu-batches", type=int, default=30, help="in-process CPU batches per variant")
    parser.add_argument("--cpu-only", action="store_true", help="only the in-process CPU measurement")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    with ThrowawayPostgres() as postgres:
        db = postgres.api_env()
        operators.ensure({**os.environ, **db}, ACCOUNT)
        if not args.cpu_only:
            # The production server first: it signs the benchmark in (warm_up).
            production = serve(db, args.workers)
            variants = {
                PRODUCTION: production,
                UNINSTRUMENTED: serve(db, args.workers, "tests.benchmarks.apps:uninstrumented"),
                BEFORE: serve(db, args.workers, "tests.benchmarks.apps:instrumentator"),
                "GET /dni, production, no multiprocess mode": serve(db, args.workers, multiprocess=False),
                TOUCH_ALWAYS: serve(db, args.workers, SESSION_TOUCH_INTERVAL_S="0"),
            }
            rounds = side_by_side(variants, args)
            bare = alone("bare FastAPI endpoint", serve(db, args.workers, "tests.benchmarks.apps:bare"), "/bare", args)
            post = alone("POST /immigration (fresh travellers)", serve(db, args.workers), "/", args,
                         HERE / "register.lua")
            report(bare, rounds, post, args)
        report_cpu(cpu_in_process(db, args), args)
    return 0


def cpu_in_process(db_env: dict[str, str], args: argparse.Namespace) -> list[dict[str, float]]:
    """CPU time per GET /dni of each app variant, called in this process without a server.

    Throughput on a shared machine swings with the neighbours' load; the CPU time a process spends
    on a request much less, and comparing batches run one after the other less still. The apps run in
    multiprocess mode, as in the image, with their lifespan (a real connection pool).
    """
    os.environ.update(db_env)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")  # before prometheus_client loads
    sys.path.insert(0, str(ROOT / "api"))
    from app.main import app as production  # only now: after the environment is set
    from tests.benchmarks import apps

    variants = {UNINSTRUMENTED: apps.uninstrumented, BEFORE: apps.instrumentator, PRODUCTION: production}
    return asyncio.run(_cpu_per_request(variants, args.cpu_requests, args.cpu_batches))


async def _cpu_per_request(variants: dict[str, object], requests: int, batches: int) -> list[dict[str, float]]:
    """Per batch round, each variant's CPU µs per request; the variants take turns, a round at a time."""
    rounds = []
    async with contextlib.AsyncExitStack() as stack:
        for app in variants.values():
            await stack.enter_async_context(app.router.lifespan_context(app))  # type: ignore[attr-defined]
        if not COOKIE:  # no server ran (--cpu-only): sign in through the production app itself
            transport = httpx.ASGITransport(app=next(iter(variants.values())))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                response = await http.post("/auth/sign-in", json={"username": ACCOUNT.username, "password": ACCOUNT.password})
                COOKIE[operators.COOKIE] = response.cookies[operators.COOKIE]
        for app in variants.values():
            for _ in range(200):
                await _get(app, DNI)
        for number in range(batches):
            names = list(variants)
            order = names[number % len(names):] + names[:number % len(names)]
            results = {}
            for name in order:
                start = time.process_time()
                for _ in range(requests):
                    await _get(variants[name], DNI)
                results[name] = (time.process_time() - start) * 1e6 / requests
            rounds.append(results)
    return rounds


async def _get(app: object, path: str) -> None:
    """One GET through the whole ASGI stack (middleware, routing, validation, the database), checked."""
    status = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench"), (b"cookie", f"{operators.COOKIE}={COOKIE[operators.COOKIE]}".encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)  # type: ignore[operator]
    assert status == [200], status


def alone(name: str, server: ApiServer, path: str, args: argparse.Namespace, script: Path | None = None) -> Result:
    """The median of several runs of one server."""
    with server:
        warm_up(server, args)
        runs = [wrk(name, server.url + path, args.seconds, args.connections, script, server) for _ in range(args.rounds)]
    for run in runs:
        _print(run)
    return _median(name, runs)


def side_by_side(servers: dict[str, ApiServer], args: argparse.Namespace) -> list[dict[str, Result]]:
    """Every server up at once; each round runs each of them once, starting one further along each time."""
    names = list(servers)
    rounds: list[dict[str, Result]] = []
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            try:
                stack.enter_context(server)
            except TimeoutError:
                sys.exit(f"{server.url} did not start:\n{server.log()[-3000:]}")
            warm_up(server, args)
        for number in range(args.rounds):
            order = names[number % len(names):] + names[:number % len(names)]
            results = {name: wrk(name, servers[name].url + DNI, args.seconds, args.connections, None, servers[name])
                       for name in order}
            for name in names:
                _print(results[name], f"round {number + 1}")
            rounds.append(results)
    return rounds


def _print(run: Result, prefix: str = "") -> None:
    print(f"  {prefix + ' ' if prefix else ''}{run.name}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.2f} ms, "
          f"p99 {run.p99_ms:.2f} ms, {run.cpu_us:.0f} us CPU/request", flush=True)


def _median(name: str, runs: list[Result]) -> Result:
    return Result(
        name,
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
        statistics.median(r.cpu_us for r in runs),
    )


def report(bare: Result, rounds: list[dict[str, Result]], post: Result, args: argparse.Namespace) -> None:
    """Print the table and the ratios the targets are stated in."""
    variants = {name: _median(name, [r[name] for r in rounds]) for name in rounds[0]}
    print(f"\n{args.workers} workers, wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.rounds}, "
          f"on {_cpu()}\n")
    print("| what | req/s | p50 ms | p99 ms | non-2xx | API CPU µs/request |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in [bare, *variants.values(), post]:
        print(f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.cpu_us:.0f} |")
    dni = variants["GET /dni, instrumented (production)"]
    print()
    print(f"- GET /dni / bare endpoint: {dni.rps / bare.rps:.0%} (target >= 50%)")
    print(f"- GET /dni p99 at {args.connections} connections: {dni.p99_ms:.1f} ms (target < 25 ms)")
    for name in variants:
        if name != UNINSTRUMENTED:
            throughput = statistics.median(1 - r[name].rps / r[UNINSTRUMENTED].rps for r in rounds)
            cpu = statistics.median(r[name].cpu_us / r[UNINSTRUMENTED].cpu_us - 1 for r in rounds)
            print(f"- request metrics cost, {name.removeprefix('GET /dni, ')}: {throughput:.1%} of throughput, "
                  f"+{cpu:.1%} CPU per request (paired per round; target <= 10%)")
    print(f"- POST /immigration: {post.rps:,.0f} registrations/s (target >= 500)")


def report_cpu(rounds: list[dict[str, float]], args: argparse.Namespace) -> None:
    """Print the in-process CPU time per request and what the request metrics add to it."""
    print(f"\nIn one process, no server: CPU time per GET /dni, {args.cpu_batches} rounds of {args.cpu_requests} "
          "requests per variant\n")
    print("| what | CPU µs/request, best | median | request metrics cost (median of paired rounds) |")
    print("|---|---:|---:|---:|")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        cost = "" if name == UNINSTRUMENTED else \
            f"+{statistics.median(r[name] / r[UNINSTRUMENTED] - 1 for r in rounds):.1%}"
        print(f"| {name} | {min(values):.0f} | {statistics.median(values):.0f} | {cost} |")


def _cpu() -> str:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cores} cores ({model[1] if model else 'unknown CPU'})"


if __name__ == "__main__":
    sys.exit(main())
