"""A day of operator traffic against the immigration API, compressed into a few minutes.

    locust -f load/performance_tests.py --host http://localhost:8000 --headless

The day lasts LOAD_TEST_DURATION seconds (default 300) and the busiest hour has LOAD_TEST_PEAK_USERS
operators (default 20); the run ends by itself at the end of the day, and exits non-zero if any request
failed. Registrations use fresh travellers, so the test can run again and again on the same database.

Every simulated operator signs in first, all with the one account LOAD_TEST_USERNAME / LOAD_TEST_PASSWORD
(from .env; ./run.sh creates it), each with a session of its own (the cookie lives in the user's own
client), and signs out when it stops. A user whose session ends meanwhile (401 session_expired or
not_signed_in) signs in again, and that request counts as failed.
"""

import math
import os
import random
import uuid

from locust import FastHttpUser, LoadTestShape, between, events, task

DURATION_S = float(os.environ.get("LOAD_TEST_DURATION", "300"))
USERNAME = os.environ.get("LOAD_TEST_USERNAME", "")
PASSWORD = os.environ.get("LOAD_TEST_PASSWORD", "")
SIGNED_OUT_REASONS = ("not_signed_in", "session_expired")
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

    def on_start(self) -> None:
        self.sign_in()

    def on_stop(self) -> None:
        with self.client.post("/auth/sign-out", name="/auth/sign-out", catch_response=True) as response:
            expect(response, 204)

    def sign_in(self) -> None:
        """Open this user's session; a refusal fails the request (and every later one, with 401)."""
        credentials = {"username": USERNAME, "password": PASSWORD}
        with self.client.post("/auth/sign-in", json=credentials, name="/auth/sign-in", catch_response=True) as response:
            expect(response, 200)

    @task(5)
    def check_document(self) -> None:
        listed = random.random() < 0.05
        dni = random.choice(LISTED_DOCUMENTS) if listed else fresh_document()
        with self.client.get(f"/dni/{dni}", name="/dni/{dni}", catch_response=True) as response:
            signed_out = expect(response, 200 if listed else 404)
        if signed_out:
            self.sign_in()

    @task(3)
    def check_flight(self) -> None:
        known = random.random() < 0.9
        flight = random.choice(KNOWN_FLIGHTS if known else UNKNOWN_FLIGHTS)
        with self.client.get(f"/flights/{flight}", name="/flights/{flight_number}", catch_response=True) as response:
            signed_out = expect(response, 200 if known else 404)
        if signed_out:
            self.sign_in()

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
            signed_out = expect(response, 201)
        if signed_out:
            self.sign_in()


def expect(response, status: int) -> bool:  # type: ignore[no-untyped-def]  # locust's response type is private
    """Mark a request failed unless it got the expected status (a 404 can be the right answer).

    The failure names the API's reason ({detail, reason}) when it gave one: "expected 200, got 401
    not_signed_in" tells a missing account from a broken lookup. Returns whether the answer said the
    session is gone (401 not_signed_in or session_expired), so the caller signs in again.
    """
    if response.status_code == status:
        response.success()
        return False
    reason = _reason(response)
    response.failure(f"expected {status}, got {response.status_code} {reason}".rstrip())
    return response.status_code == 401 and reason in SIGNED_OUT_REASONS


def _reason(response) -> str:  # type: ignore[no-untyped-def]
    """The `reason` of an error answer, or ""."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - any undecodable body simply has no reason
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


@events.quitting.add_listener
def fail_on_errors(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """Exit non-zero if any request failed."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
