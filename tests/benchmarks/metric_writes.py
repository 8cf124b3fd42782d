"""What one metric write costs, with and without prometheus_client's multiprocess mode.

    .venv/bin/python -m tests.benchmarks.metric_writes

Times `labels(...).inc()` on a counter and `labels(...).observe()` on a histogram with the API's
labels and buckets, each in a fresh interpreter: multiprocess mode is chosen when prometheus_client
is imported. Best of five batches; microseconds per call. Results: tests/benchmarks/README.md.
"""

import os
import subprocess
import sys
import tempfile

PROBE = """
import timeit
from prometheus_client import CollectorRegistry, Counter, Histogram
registry = CollectorRegistry()
buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
counter = Counter("c_total", "c", ["handler", "method", "status"], registry=registry)
histogram = Histogram("h_seconds", "h", ["handler", "method", "status"], buckets=buckets, registry=registry)
labels = ("/dni/{dni}", "GET", "2xx")
for name, call in (("counter inc", lambda: counter.labels(*labels).inc()),
                   ("histogram observe", lambda: histogram.labels(*labels).observe(0.003))):
    best = min(timeit.repeat(call, number=20000, repeat=5)) / 20000 * 1e6
    print(f"| {name} | {best:.1f} |", end=" ")
"""


def main() -> int:
    print("| mode | counter inc µs | histogram observe µs |\n|---|---:|---:|")
    for mode in ("single process", "multiprocess"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        if mode == "multiprocess":
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metric-writes-")
        out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True).stdout
        values = [cell.strip() for cell in out.split("|") if cell.strip() and not cell.strip()[0].isalpha()]
        print(f"| {mode} | {' | '.join(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
