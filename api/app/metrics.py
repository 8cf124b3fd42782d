"""What Prometheus scrapes: RED metrics per route template, and the checkpoint's business outcomes.

Requests: `http_request_duration_seconds` (histogram; labels handler, method, status), whose `_count`
is the request counter: rate = `rate(..._count[5m])`, errors = the same with `status="5xx"`.
Labels carry route templates and reason codes only: document numbers and names never become a label.
With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, emptied by the
entrypoint before the workers start) makes /metrics add up every worker.
"""

import os
from collections.abc import Sequence
from timeit import default_timer

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
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


def metrics_registry() -> CollectorRegistry:
    """What /metrics exposes: this process's registry, or with several workers (PROMETHEUS_MULTIPROC_DIR
    set) a fresh registry whose `MultiProcessCollector` adds up every worker's files (prometheus_client
    docs, "Multiprocess Mode": the collector goes in a registry used only for that request)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def instrument(app: FastAPI) -> None:
    """Add the request metrics middleware (outermost: it times the other middlewares too) and the
    /metrics endpoint (Prometheus text format 0.0.4, left out of the OpenAPI schema)."""
    app.add_middleware(RequestMetrics, routes=app.routes)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)


def count_refusal(reason: str, *, dry_run: bool) -> None:
    """Count a refused entry."""
    REFUSALS.labels(reason=reason, dry_run=str(dry_run).lower()).inc()
