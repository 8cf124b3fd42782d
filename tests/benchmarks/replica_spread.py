"""How Apache spreads API requests over the replicas: N requests through the front door, counted by
each replica's own /metrics (the `_count` of http_request_duration_seconds for the route).

    ./test.sh stack -- .venv/bin/python -m tests.benchmarks.replica_spread [--requests 200]

Inside the twin (or any network where "api" and "apache" resolve). Prints one line per replica:
its address, the requests it counted, its share. Counts, not timing: other traffic (the smoke test)
only adds to some replica's count.
"""

import argparse
import re
import socket
import urllib.request

ROUTE = "/flights/{flight_number}"
COUNT = re.compile(r'^http_request_duration_seconds_count\{(.*)\} (\S+)$', re.M)


def replicas() -> list[str]:
    """Every address of "api" (the C library lists them all; the order does not matter here)."""
    return sorted({info[4][0] for info in socket.getaddrinfo("api", 8000, socket.AF_INET, socket.SOCK_STREAM)})


def counted(address: str) -> float:
    """Requests the replica at `address` has counted for ROUTE, every method and status."""
    with urllib.request.urlopen(f"http://{address}:8000/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(float(value) for labels, value in COUNT.findall(text) if f'handler="{ROUTE}"' in labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    addresses = replicas()
    before = {address: counted(address) for address in addresses}
    for _ in range(args.requests):
        with urllib.request.urlopen("http://apache:80/api/flights/IB789", timeout=30) as response:
            response.read()
    served = {address: counted(address) - before[address] for address in addresses}
    total = sum(served.values())
    for address, count in served.items():
        print(f"{address}:8000  {count:6.0f}  {count / total:6.1%}")


if __name__ == "__main__":
    main()
