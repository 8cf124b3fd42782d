"""The applications the benchmark compares with the API as it runs in production."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from app.main import create_app
from app.metrics import LATENCY_BUCKETS

# The API without its request metrics: the difference is what instrumentation costs.
uninstrumented = create_app(instrumented=False)


def _instrumentator() -> FastAPI:
    """The API with the request metrics it had until issue 9 item 8: the same histogram written by
    prometheus-fastapi-instrumentator 8.1.0, which resolves the route template before each call.
    Kept to measure "before" against production in one run (README)."""
    app = create_app(instrumented=False)
    registry = CollectorRegistry()  # importing app.main registered the production metrics in the default one
    Instrumentator(
        should_group_status_codes=True,
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        should_instrument_requests_inprogress=False,
        excluded_handlers=["^/metrics$"],
        registry=registry,
    ).add(metrics.latency(buckets=LATENCY_BUCKETS, should_include_status=True, registry=registry)).instrument(app)
    return app


instrumentator = _instrumentator()

# The ceiling: FastAPI returning a constant, served the same way.
bare = FastAPI()


@bare.get("/bare")
@bare.get("/healthz")  # for the start-up wait
async def constant() -> dict[str, str]:
    """A constant answer: no database, no metrics."""
    return {"status": "ok"}
