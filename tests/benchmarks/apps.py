"""The applications the benchmark compares with the API as it runs in production."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

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

# The ceiling: FastAPI returning a constant, served the same way.
bare = FastAPI()


@bare.get("/bare")
@bare.get("/healthz")  # for the start-up wait
async def constant() -> dict[str, str]:
    """A constant answer: no database, no metrics."""
    return {"status": "ok"}
