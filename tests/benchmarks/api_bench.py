"""Throughput and latency of the API as it runs in production, against a bare FastAPI endpoint.

    ./test.sh bench [--seconds 15] [--connections 16]

One run starts a throwaway PostgreSQL and, one at a time, each server below with the production
entrypoint (same workers, same uvicorn flags), drives it with wrk from this machine, and prints
req/s, p50, p99 and the ratios the targets are stated in. Results: tests/benchmarks/README.md.
"""

import argparse
import re
import statistics
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass
class Result:
    """One wrk run."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(name: str, url: str, seconds: int, connections: int, script: Path | None = None) -> Result:
    """Drive `url` with wrk (one thread: the server has the other core) and parse its report."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return Result(name, rps, p50, p99, errors)


def serve(db_env: dict[str, str], workers: int, app_module: str | None = None) -> ApiServer:
    """A server started by the production entrypoint."""
    settings = {"PYTHONPATH": f"{ROOT}:{ROOT / 'api'}"}
    if app_module:
        settings["APP_MODULE"] = app_module
    return ApiServer(db_env, workers=workers, **settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="as WEB_CONCURRENCY in the image")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    with ThrowawayPostgres() as postgres:
        db = postgres.api_env()
        cases = [
            ("bare FastAPI endpoint", serve(db, args.workers, "tests.benchmarks.apps:bare"), "/bare", None),
            ("GET /dni, instrumented (production)", serve(db, args.workers), "/dni/12345678A", None),
            ("GET /dni, no instrumentation", serve(db, args.workers, "tests.benchmarks.apps:uninstrumented"),
             "/dni/12345678A", None),
            ("POST /immigration (fresh travellers)", serve(db, args.workers), "/", HERE / "register.lua"),
        ]
        results = [_run(name, server, path, args, script) for name, server, path, script in cases]
    report(results, args)
    return 0


def _run(name: str, server: ApiServer, path: str, args: argparse.Namespace, script: Path | None) -> Result:
    """Warm a server up, then the median of several wrk runs (they vary: see the README)."""
    with server:
        wrk(name, server.url + "/healthz", 3, args.connections)  # every worker and pool slot in use once
        for _ in range(100):
            httpx.get(server.url + ("/dni/12345678A" if script else path))
        runs = [wrk(name, server.url + path, args.seconds, args.connections, script) for _ in range(args.rounds)]
    for run in runs:
        print(f"  {name}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms", flush=True)
    return Result(
        name,
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
    )


def report(results: list[Result], args: argparse.Namespace) -> None:
    """Print the table and the ratios the targets are stated in."""
    print(f"\n{args.workers} workers, wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.rounds}, on {_cpu()}\n")
    print("| what | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    bare, dni, dni_bare, post = results
    print()
    print(f"- GET /dni / bare endpoint: {dni.rps / bare.rps:.0%} (target >= 50%)")
    print(f"- GET /dni p99 at {args.connections} connections: {dni.p99_ms:.1f} ms (target < 25 ms)")
    print(f"- instrumentation cost on GET /dni: {1 - dni.rps / dni_bare.rps:.1%} (target <= 10%)")
    print(f"- POST /immigration: {post.rps:,.0f} registrations/s (target >= 500)")


def _cpu() -> str:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cores} cores ({model[1] if model else 'unknown CPU'})"


if __name__ == "__main__":
    sys.exit(main())
