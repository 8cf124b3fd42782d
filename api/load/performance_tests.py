"""A day of operator traffic against the immigration API, compressed into a few minutes.

    locust -f load/performance_tests.py --host http://localhost:8000 --headless

The day lasts LOAD_TEST_DURATION seconds (default 300) and the busiest hour has LOAD_TEST_PEAK_USERS
operators (default 20); the run ends by itself at the end of the day, and exits non-zero if any request
failed. Registrations use fresh travellers, so the test can run again and again on the same database.
"""

import math
import os
import random
import uuid

from locust import FastHttpUser, LoadTestShape, between, events, task

DURATION_S = float(os.environ.get("LOAD_TEST_DURATION", "300"))
PEAK_USERS = int(os.environ.get("LOAD_TEST_PEAK_USERS", "20"))

LISTED_DOCUMENTS = ("12345678A", "87654321B")
KNOWN_FLIGHTS = ("AA123", "BA456", "IB789", "AF321", "LA800")
UNKNOWN_FLIGHTS = ("ZZ9999", "XQ1")


def fresh_document() -> str:
    """A document number no earlier run has used."""
    return "L" + uuid.uuid4().hex[:15].upper()


def operators_at(hour: float) -> int:
    """How many desks are open at an hour of the day: a quiet night, a morning and an evening peak."""
    morning = math.exp(-(((hour - 9.5) / 2.0) ** 2))
    evening = 0.8 * math.exp(-(((hour - 19.0) / 2.5) ** 2))
    night = 0.1
    return max(1, round(PEAK_USERS * max(night, morning + evening)))


class OperatorDay(LoadTestShape):
    """Users follow operators_at() over one compressed day, then the test stops."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= DURATION_S:
            return None
        users = operators_at(24.0 * elapsed / DURATION_S)
        return users, float(max(1, users))


class Operator(FastHttpUser):
    """A desk officer: checks documents and flights, and registers travellers."""

    wait_time = between(0.05, 0.3)

    @task(5)
    def check_document(self) -> None:
        listed = random.random() < 0.05
        dni = random.choice(LISTED_DOCUMENTS) if listed else fresh_document()
        with self.client.get(f"/dni/{dni}", name="/dni/{dni}", catch_response=True) as response:
            expect(response, 200 if listed else 404)

    @task(3)
    def check_flight(self) -> None:
        known = random.random() < 0.9
        flight = random.choice(KNOWN_FLIGHTS if known else UNKNOWN_FLIGHTS)
        with self.client.get(f"/flights/{flight}", name="/flights/{flight_number}", catch_response=True) as response:
            expect(response, 200 if known else 404)

    @task(2)
    def register_traveller(self) -> None:
        entry = {
            "name": "Load Test Traveller",
            "dni": fresh_document(),
            "lodging": "Hotel Alvear",
            "declared_money": f"{random.randint(500, 5000)}.00",
            "flight_number": random.choice(KNOWN_FLIGHTS),
        }
        with self.client.post("/immigration", json=entry, name="/immigration", catch_response=True) as response:
            expect(response, 201)


def expect(response, status: int) -> None:  # type: ignore[no-untyped-def]  # locust's response type is private
    """Mark a request failed unless it got the expected status (a 404 can be the right answer)."""
    if response.status_code == status:
        response.success()
    else:
        response.failure(f"expected {status}, got {response.status_code}")


@events.quitting.add_listener
def fail_on_errors(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """Exit non-zero if any request failed."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
