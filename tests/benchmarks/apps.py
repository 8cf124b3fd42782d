"""The applications the benchmark compares with the API as it runs in production."""

from timeit import default_timer

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.main import create_app
from app.metrics import LATENCY_BUCKETS

# The API without its request metrics: the difference is what instrumentation costs.
uninstrumented = create_app(instrumented=False)


def _counter_and_histogram() -> FastAPI:
    """The API with the request metrics it had before issue 9: a request counter plus a latency
    histogram without status, unmatched paths not counted. Kept to measure both in one run."""
    app = create_app(instrumented=False)
    registry = CollectorRegistry()  # importing app.main registered the production metrics in the default one
    Instrumentator(
        should_group_status_codes=True,
        should_ignore_untemplated=True,
        should_instrument_requests_inprogress=False,
        excluded_handlers=["^/metrics$"],
        registry=registry,
    ).add(metrics.requests(registry=registry)).add(
        metrics.latency(buckets=LATENCY_BUCKETS, should_include_status=False, registry=registry)
    ).instrument(app)
    return app


counter_and_histogram = _counter_and_histogram()


class RouteFromScope:
    """NOT the production code: what the same histogram costs when the route template is read from
    `scope["route"]` (set by FastAPI while routing) after the call, instead of being resolved again
    before it as prometheus-fastapi-instrumentator does. Measured to size that choice (README)."""

    histogram = Histogram("bench_request_duration_seconds", "Benchmark only.", ["handler", "method", "status"],
                          buckets=LATENCY_BUCKETS, registry=CollectorRegistry())

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = default_timer(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            handler = getattr(scope.get("route"), "path", None) or "none"
            self.histogram.labels(handler, scope["method"], f"{status // 100}xx").observe(default_timer() - start)


route_from_scope = create_app(instrumented=False)
route_from_scope.add_middleware(RouteFromScope)

# The ceiling: FastAPI returning a constant, served the same way.
bare = FastAPI()


@bare.get("/bare")
@bare.get("/healthz")  # for the start-up wait
async def constant() -> dict[str, str]:
    """A constant answer: no database, no metrics."""
    return {"status": "ok"}
