"""What Prometheus scrapes: RED metrics per route template, and the checkpoint's business outcomes.

Requests: `http_request_duration_seconds` (histogram; labels handler, method, status), whose `_count`
is the request counter: rate = `rate(..._count[5m])`, errors = the same with `status="5xx"`.
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

SIGN_IN_OUTCOMES = ("success", "bad_credentials", "locked_out")
SIGN_INS = Counter(
    "immigration_sign_ins_total",
    "Operator sign-ins, by outcome (success, bad_credentials, locked_out); never by user name.",
    ["outcome"],
)
for _outcome in SIGN_IN_OUTCOMES:  # every outcome is a series from the start: rate() sees the first failure
    SIGN_INS.labels(outcome=_outcome)


# The `handler` label of every request that matched no route: a scanner's burst of 404s is one series,
# not one per path (the instrumentator's own value for untemplated requests).
UNMATCHED_HANDLER = "none"


def instrument(app: FastAPI) -> None:
    """Add the request metrics middleware and the /metrics endpoint.

    One histogram carries everything: `http_request_duration_seconds_count{handler, method, status}`
    counts requests (status grouped: 2xx, 4xx, 5xx), its buckets give latency, its sum the time
    spent. A separate request counter would record the same count again and cost throughput
    (tests/benchmarks/README.md).
    """
    Instrumentator(
        should_group_status_codes=True,
        # Unmatched paths (scanners, typos) are counted under handler="none": never one label each.
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        # No in-progress gauge: it cost 7% of GET /dni's throughput (tests/benchmarks/README.md),
        # and requests in flight follow from the histogram (Little's law):
        # sum(rate(http_request_duration_seconds_sum[1m])).
        should_instrument_requests_inprogress=False,
        excluded_handlers=["^/metrics$"],
    ).add(
        metrics.latency(buckets=LATENCY_BUCKETS, should_include_status=True)
    ).instrument(app).expose(app, include_in_schema=False, should_gzip=False)


def count_refusal(reason: str, *, dry_run: bool) -> None:
    """Count a refused entry."""
    REFUSALS.labels(reason=reason, dry_run=str(dry_run).lower()).inc()


def count_sign_in(outcome: str) -> None:
    """Count a sign-in by its outcome (one of SIGN_IN_OUTCOMES)."""
    SIGN_INS.labels(outcome=outcome).inc()
