"""The operator's flow in a real browser (Debian's chromium), through Apache, against the real API."""

import uuid

import pytest
from playwright.sync_api import Page, Route, expect

from tests.twin.stack import Twin


def check_document(page: Page, dni: str) -> None:
    page.fill("#dni", dni)
    page.keyboard.press("Enter")  # keyboard-friendly: Enter submits the step


def fresh_dni() -> str:
    return "P" + uuid.uuid4().hex[:10].upper()


def pass_flight_check(page: Page, flight: str) -> None:
    """From the flight step to the traveller's details."""
    expect(page.locator("#app")).to_have_attribute("data-step", "flight")
    page.fill("#flight", flight)
    page.keyboard.press("Enter")
    expect(page.locator("#app")).to_have_attribute("data-step", "details")


def register(page: Page, name: str, lodging: str, money: str) -> None:
    """Fill the traveller's details and submit them."""
    page.fill("#name", name)
    page.fill("#lodging", lodging)
    page.fill("#money", money)
    page.click("#register")


def test_a_fresh_traveller_is_registered_and_stored(page: Page, twin: Twin) -> None:
    dni = fresh_dni()
    check_document(page, dni)
    pass_flight_check(page, "aa 123")
    register(page, "Grace Hopper", "Hotel Alvear", "1500.00")
    expect(page.locator("#app")).to_have_attribute("data-step", "done")
    entry_id = page.locator("#entry-id").inner_text().strip()
    assert entry_id.isdigit()
    database = twin.replicas["postgres"][0].database
    assert database is not None
    assert database.psql(f"SELECT dni, flight_number FROM immigration WHERE id = {entry_id}") == f"{dni}|AA123"


def test_an_interpol_listed_document_is_stopped(page: Page) -> None:
    check_document(page, "12345678A")
    stop = page.locator("#stop")
    expect(stop).to_be_visible()
    expect(page.locator("#stop-dni")).to_have_text("12345678A")
    expect(page.locator("#form-flight")).to_be_hidden()


def test_an_unknown_flight_is_refused(page: Page) -> None:
    check_document(page, fresh_dni())
    expect(page.locator("#app")).to_have_attribute("data-step", "flight")
    page.fill("#flight", "ZZ9999")
    page.click("#check-flight")
    expect(page.locator("#message")).to_contain_text("No arriving flight has this number.")
    expect(page.locator("#app")).to_have_attribute("data-step", "flight")


def test_the_apis_refusal_reason_reaches_the_officer(page: Page) -> None:
    check_document(page, fresh_dni())
    pass_flight_check(page, "BA456")
    register(page, "Low Funds", "Hostel", "20.00")
    expect(page.locator("#message")).to_contain_text("below the minimum of 500.00")
    expect(page.locator("#app")).to_have_attribute("data-step", "details")


# Answers that are not the API's, with the status the page might take for a business answer: a
# wrong base path or a misrouted proxy (Apache's HTML 404, another server's JSON 404 without the
# API's `reason`), a gateway error page. Each must read "service unavailable", never "not listed".
FOREIGN_ANSWERS = {
    "apache_html_404": (404, "text/html; charset=iso-8859-1",
                        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\"><html><title>404 Not Found</title></html>"),
    "json_404_without_reason": (404, "application/json", '{"detail": "Not Found"}'),
    "json_502_without_reason": (502, "application/json", '{"message": "Bad Gateway"}'),
    "html_502": (502, "text/html", "<html><body><h1>502 Proxy Error</h1></body></html>"),
}


@pytest.mark.parametrize("answer", FOREIGN_ANSWERS)
def test_an_answer_outside_the_apis_contract_reads_service_unavailable(page: Page, answer: str) -> None:
    status, content_type, body = FOREIGN_ANSWERS[answer]

    def foreign(route: Route) -> None:
        route.fulfill(status=status, content_type=content_type, body=body)

    # The browser's own interception: the page gets exactly this answer, whatever served it.
    page.route("**/api/dni/**", foreign)
    check_document(page, fresh_dni())
    expect(page.locator("#message")).to_contain_text(f"The service is unavailable. Please try again. (HTTP {status})")
    expect(page.locator("#app")).to_have_attribute("data-step", "dni")
