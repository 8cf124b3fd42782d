"""A day of operator traffic against the immigration API, compressed into a few minutes.

    locust -f load/performance_tests.py --host http://localhost:8000 --headless

The day lasts LOAD_TEST_DURATION seconds (default 300) and the busiest hour has LOAD_TEST_PEAK_USERS
operators (default 20); the run ends by itself at the end of the day, and exits non-zero if any request
failed. A request succeeds only with the API's whole answer: the status, and a JSON body of the right
shape (an expected refusal carries its `reason`, e.g. 404 `not_listed`). Registrations use fresh travellers, so the test can run again and again on the same database.

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
            # 204 has no body: the status is the whole answer.
            if response.status_code == 204:
                response.success()
            else:
                response.failure(f"expected 204, got {response.status_code}")

    def sign_in(self) -> None:
        """Open this user's session; a refusal fails the request (and every later one, with 401)."""
        credentials = {"username": USERNAME, "password": PASSWORD}
        with self.client.post("/auth/sign-in", json=credentials, name="/auth/sign-in", catch_response=True) as response:
            expect(response, 200, {}, SIGNED_IN_FIELDS)

    def sign_in_again_if_signed_out(self, response) -> None:  # type: ignore[no-untyped-def]
        """After a 401 not_signed_in / session_expired (already counted as failed), a new session."""
        body = json_object(response)
        if response.status_code == 401 and body is not None and body.get("reason") in SIGNED_OUT_REASONS:
            self.sign_in()

    @task(5)
    def check_document(self) -> None:
        listed = random.random() < 0.05
        dni = random.choice(LISTED_DOCUMENTS) if listed else fresh_document()
        with self.client.get(f"/dni/{dni}", name="/dni/{dni}", catch_response=True) as response:
            if listed:
                expect(response, 200, {"dni": dni}, NOTICE_FIELDS)
            else:
                expect_refusal(response, 404, "not_listed")
        self.sign_in_again_if_signed_out(response)

    @task(3)
    def check_flight(self) -> None:
        known = random.random() < 0.9
        flight = random.choice(KNOWN_FLIGHTS if known else UNKNOWN_FLIGHTS)
        with self.client.get(f"/flights/{flight}", name="/flights/{flight_number}", catch_response=True) as response:
            if known:
                expect(response, 200, {"flight_number": flight}, FLIGHT_FIELDS)
            else:
                expect_refusal(response, 404, "unknown_flight")
        self.sign_in_again_if_signed_out(response)

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
            expect(response, 201, {"dni": entry["dni"], "flight_number": entry["flight_number"]}, ENTRY_FIELDS)
        self.sign_in_again_if_signed_out(response)


# The API's contract, from api/app/schemas: what each answer must hold besides its status. A status
# alone proves nothing: a wrong base path gives Apache's HTML 404, which only the body tells apart
# from the API's "not listed".
NOTICE_FIELDS = ("dni", "name", "nationality", "notice", "listed_on")  # InterpolNoticeOut
FLIGHT_FIELDS = ("flight_number", "airline", "origin", "destination", "scheduled_arrival")  # FlightOut
ENTRY_FIELDS = ("id", "name", "dni", "lodging", "declared_money", "flight_number", "entry_date", "registered_at")  # ImmigrationOut
ERROR_FIELDS = ("detail", "reason")  # ErrorOut
SIGNED_IN_FIELDS = ("username", "role", "expires_at", "idle_timeout_s")  # the sign-in's answer


def json_object(response) -> dict | None:  # type: ignore[no-untyped-def,type-arg]  # locust's response type is private
    """The body as a JSON object, or None when it is anything else (HTML, text, a list, nothing)."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001  # any unparsable body is "not the API's answer"
        return None
    return body if isinstance(body, dict) else None


def contract_breach(response, status: int, values: dict[str, str], fields: tuple[str, ...]) -> str | None:  # type: ignore[no-untyped-def]
    """Why the answer is not the API's expected one (status, JSON object, fields, values), or None."""
    if response.status_code != status:
        return f"expected {status}, got {response.status_code}"
    body = json_object(response)
    if body is None:
        text = " ".join((response.text or "").split())[:80]
        return f"{status} but the body is not JSON from the API: {text}"
    missing = [field for field in fields if field not in body]
    if missing:
        return f"{status} but the JSON lacks {', '.join(missing)}"
    wrong = [key for key, value in values.items() if body.get(key) != value]
    if wrong:
        found = ", ".join(f"{key}={body.get(key)}" for key in wrong)
        expected = ", ".join(f"{key}={values[key]}" for key in wrong)
        return f"{status} but the JSON has {found}, expected {expected}"
    return None


def expect(response, status: int, values: dict[str, str], fields: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Mark a request failed unless it is the API's answer: this status, a JSON object with these fields and values."""
    breach = contract_breach(response, status, values, fields)
    if breach is None:
        response.success()
    else:
        response.failure(breach)


def expect_refusal(response, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Mark a request failed unless it is the API's refusal: this status and an error body with this `reason`."""
    expect(response, status, {"reason": reason}, ERROR_FIELDS)


@events.quitting.add_listener
def fail_on_errors(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """Exit non-zero if any request failed."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
