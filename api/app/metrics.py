"""What Prometheus scrapes: RED metrics per route template, and the checkpoint's business outcomes.

Labels carry route templates and reason codes only: document numbers and names never become a label.
With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, emptied by the
entrypoint before the workers start) makes /metrics add up every worker.
"""

from fastapi import FastAPI
from prometheus_client import Counter
from prometheus_fastapi_instrumentator import Instrumentator, metrics

# A checkpoint request takes ~1-10 ms: resolve that range finely, and keep a few slow buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

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


def instrument(app: FastAPI) -> None:
    """Add the request metrics middleware and the /metrics endpoint."""
    Instrumentator(
        should_group_status_codes=True,
        # Unmatched paths (scanners, typos) would otherwise each be a label value.
        should_ignore_untemplated=True,
        # No in-progress gauge: it cost 7% of GET /dni's throughput (tests/benchmarks/README.md),
        # and requests in flight follow from the histogram (Little's law):
        # sum(rate(http_request_duration_seconds_sum[1m])).
        should_instrument_requests_inprogress=False,
        excluded_handlers=["^/metrics$"],
    ).add(metrics.requests()).add(
        metrics.latency(buckets=LATENCY_BUCKETS, should_include_status=False)
    ).instrument(app).expose(app, include_in_schema=False, should_gzip=False)


def count_refusal(reason: str, *, dry_run: bool) -> None:
    """Count a refused entry."""
    REFUSALS.labels(reason=reason, dry_run=str(dry_run).lower()).inc()
