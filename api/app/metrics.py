"""What Prometheus scrapes: RED metrics per route template, and the checkpoint's business outcomes.

Requests: `http_request_duration_seconds` (histogram; labels handler, method, status), whose `_count`
is the request counter: rate = `rate(..._count[5m])`, errors = the same with `status="5xx"`.
Labels carry route templates and reason codes only: document numbers and names never become a label.
With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, emptied by the
entrypoint before the workers start) makes /metrics add up every worker.
"""

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from timeit import default_timer
from typing import Literal

from fastapi import FastAPI
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               ProcessCollector, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A checkpoint request takes ~1-10 ms: resolve that range finely, and keep a few slow buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# One histogram carries everything: its `_count` counts requests (status grouped: 2xx, 4xx, 5xx),
# its buckets give latency, its sum the time spent. A separate request counter would record the same
# count again and cost throughput (tests/benchmarks/README.md). No in-progress gauge either: it cost
# 7% of GET /dni's throughput, and requests in flight follow from the histogram (Little's law):
# sum(rate(http_request_duration_seconds_sum[1m])).
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds, by route template, method and status class.",
    ["handler", "method", "status"],
    buckets=LATENCY_BUCKETS,
)

ENTRIES_REGISTERED = Counter("immigration_entries_registered_total", "Entries registered (dry runs excluded).")
REFUSALS = Counter(
    "immigration_refusals_total", "Entries refused, by reason; dry runs are counted apart.", ["reason", "dry_run"]
)
INTERPOL_HITS = Counter(
    "immigration_interpol_hits_total", "Documents found on the Interpol list, by where they were checked.", ["source"]
)
UNKNOWN_FLIGHTS = Counter(
    "immigration_unknown_flights_total", "Flight numbers that matched no flight, by where they were checked.", ["source"]
)
# Where a document or flight is checked: a lookup route, or a registration's checks.
Source = Literal["lookup", "registration"]
SOURCES: tuple[Source, ...] = ("lookup", "registration")

# The database pool's saturation (api/app/db.py), per worker. In multiprocess mode every worker writes
# its own value and "livesum" adds those of the live workers (prometheus_client's multiprocess docs:
# a Gauge needs a multiprocess_mode; livesum drops exited workers' files). No labels: one series each.
DB_POOL_SIZE = Gauge(
    "api_db_pool_size", "Connections the database pool may hold, summed over workers.", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "api_db_pool_in_use", "Pool connections checked out by a request right now, summed over workers.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITS = Counter("api_db_pool_waits", "Requests that found every pool slot taken and waited for one.")
DB_POOL_ACQUIRE_TIMEOUTS = Counter(
    "api_db_pool_acquire_timeouts", "Requests that waited the whole acquire timeout for a pool slot (answered 503)."
)

SIGN_IN_OUTCOMES = ("success", "bad_credentials", "locked_out")
SIGN_INS = Counter(
    "immigration_sign_ins_total",
    "Operator sign-ins, by outcome (success, bad_credentials, locked_out); never by user name.",
    ["outcome"],
)
for _outcome in SIGN_IN_OUTCOMES:  # every outcome is a series from the start: rate() sees the first failure
    SIGN_INS.labels(outcome=_outcome)


# The `handler` label of every request that matched no route: a scanner's burst of 404s is one series,
# not one per path (prometheus-fastapi-instrumentator's value, which dashboards and alerts select).
UNMATCHED_HANDLER = "none"
METRICS_PATH = "/metrics"


def route_template(route: BaseRoute | None) -> str | None:
    """The path template of a route (`/dni/{dni}`; `path_format` drops convertors such as `:int`)."""
    return getattr(route, "path_format", None) or getattr(route, "path", None)


def effective_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The routes as the router matches them: FastAPI (>= 0.116) keeps each `include_router` as one
    `_IncludedRouter`, whose `effective_route_contexts()` yields its routes with their prefixed paths
    (the way prometheus-fastapi-instrumentator 8.1.0's `routing._effective_routes` reads them)."""
    flat: list[BaseRoute] = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            flat.extend(getattr(context, "starlette_route", None) or context for context in contexts())
        else:
            flat.append(route)
    return flat


def matched_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route the router would pick for this scope: a full match, else the first
    partial one (path matched, method not: a 405, or HEAD and OPTIONS here), else `UNMATCHED_HANDLER`."""
    partial = None
    for route in effective_routes(routes):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route_template(route) or UNMATCHED_HANDLER
        if match is Match.PARTIAL and partial is None:
            partial = route
    return route_template(partial) or UNMATCHED_HANDLER


class RequestMetrics:
    """ASGI middleware: observe every HTTP request's duration in `REQUEST_DURATION`.

    The template comes from `scope["route"]`, which the router sets in place while routing (Starlette
    `Router.__call__`, FastAPI `APIRouter`), read after the call: no second pass over the routes on
    the requests that were routed (that pass cost prometheus-fastapi-instrumentator most of its
    13-29% of GET /dni, tests/benchmarks/README.md). Requests that never reached the router with this
    scope (HEAD and OPTIONS, which `app.methods.HttpMethods` answers or routes on a copy, and 404s)
    are matched against `routes` once, after the answer. An exception counts as a 5xx unless the
    response had already started. `/metrics` itself is not counted.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = default_timer(), 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            duration = default_timer() - start
            handler = route_template(scope.get("route")) or matched_template(self.routes, scope)
            if handler != METRICS_PATH:
                REQUEST_DURATION.labels(handler, scope["method"], f"{status // 100}xx").observe(duration)


# prometheus_client's multiprocess files are named <kind>_<pid>.db, one set per worker process.
_WORKER_FILE = re.compile(r"_(\d+)\.db$")


def worker_pids() -> list[int]:
    """The API's live worker processes: those with metric files in PROMETHEUS_MULTIPROC_DIR, else this one."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return [os.getpid()]
    pids = {int(match[1]) for path in Path(directory).glob("*.db") if (match := _WORKER_FILE.search(path.name))}
    return sorted(pid for pid in pids if Path(f"/proc/{pid}").exists())


class WorkerProcesses:
    """CPU and resident memory of every worker process, summed, and how many workers there are.

    Multiprocess mode drops the process_* metrics: "Custom collectors do not work (e.g. cpu and memory
    metrics)" (https://prometheus.github.io/client_python/multiprocess/), since each would describe only
    the worker that answers the scrape. This collector runs at scrape time and reads every worker's
    /proc entry with prometheus_client's own ProcessCollector (its `pid` argument). A worker that exits
    lowers the CPU sum: rate() takes that for a counter reset. No pid label: series stay bounded.
    """

    def collect(self) -> Iterator[Metric]:
        cpu = memory = 0.0
        pids = worker_pids()
        for pid in pids:
            collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)
            values = {sample.name: sample.value for family in collector.collect() for sample in family.samples}
            cpu += values.get("process_cpu_seconds_total", 0.0)
            memory += values.get("process_resident_memory_bytes", 0.0)
        yield GaugeMetricFamily("api_workers", "Worker processes serving the API.", value=len(pids))
        yield CounterMetricFamily("api_workers_cpu_seconds", "User and system CPU time of every worker, summed.",
                                  value=cpu)
        yield GaugeMetricFamily("api_workers_resident_memory_bytes", "Resident memory of every worker, summed.",
                                value=memory)


def scrape_registry() -> CollectorRegistry:
    """What /metrics serves: every worker's metrics (multiprocess mode) or this process's, and the workers'."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # type: ignore[arg-type]  # a registry is a collector of its collectors
    registry.register(WorkerProcesses())  # type: ignore[arg-type]
    return registry


async def metrics_endpoint(_: Request) -> Response:
    """GET /metrics in Prometheus's text format: every worker's series, and the workers' CPU and memory."""
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST)


def initialise_labels() -> None:
    """Create every known label set at 0, before any request.

    A series born at its first increment has no 0 before it, so increase()/rate() over a range that
    starts before it miss that first event (the dashboards showed 5.21 refusals where the counter
    said 6). Every label value is known in advance (refusal reasons, dry run, source): all are bounded.
    """
    # Imported here: app.checkpoint -> app.crud -> app.db imports this module for the pool metrics.
    from app.checkpoint import Refusal  # noqa: PLC0415

    for refusal in Refusal:
        for dry_run in (False, True):
            REFUSALS.labels(reason=refusal.reason, dry_run=str(dry_run).lower())
    for source in SOURCES:
        INTERPOL_HITS.labels(source=source)
        UNKNOWN_FLIGHTS.labels(source=source)


def instrument(app: FastAPI) -> None:
    """Add the request metrics middleware (outermost: it times the other middlewares too) and the
    /metrics endpoint (Prometheus text format 0.0.4, left out of the OpenAPI schema)."""
    app.add_middleware(RequestMetrics, routes=app.routes)

    app.add_route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False)
    initialise_labels()


def count_refusal(reason: str, *, dry_run: bool) -> None:
    """Count a refused entry."""
    REFUSALS.labels(reason=reason, dry_run=str(dry_run).lower()).inc()


def count_sign_in(outcome: str) -> None:
    """Count a sign-in by its outcome (one of SIGN_IN_OUTCOMES)."""
    SIGN_INS.labels(outcome=outcome).inc()
