"""Signing in and out on the operator page, in Chromium, through Apache, against the real API and PostgreSQL.

The session's end in the middle of a registration is made server-side, in the sessions table, the way
the idle timeout ends it (A's notes: `last_seen_at` older than SESSION_IDLE_TIMEOUT_S).
"""

import hashlib

import pytest
from playwright.sync_api import Page, expect

from tests.stack.conftest import sign_in
from tests.stack.test_operator_page import check_document, fresh_dni, pass_flight_check
from tests.twin.stack import Twin

SESSION_COOKIE = "promethoide_session"


def session_cookie(page: Page) -> dict:
    (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    return cookie


def expire_session(twin: Twin, token: str) -> None:
    """End one session as the idle timeout would: its last use a day ago."""
    database = twin.replicas["postgres"][0].database
    assert database is not None
    digest = hashlib.sha256(token.encode()).hexdigest()
    updated = database.psql(
        f"UPDATE sessions SET last_seen_at = now() - interval '1 day' WHERE token_sha256 = '\\x{digest}'::bytea "
        "RETURNING 1"
    )
    assert updated.strip().splitlines()[:1] == ["1"], "the browser's session was not in the sessions table"


def test_the_page_opens_on_the_sign_in_form(signed_out_page: Page) -> None:
    page = signed_out_page
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#username")).to_be_focused()
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#session")).to_be_hidden()


@pytest.mark.usefixtures("forgive_failed_sign_ins")
def test_a_wrong_password_is_refused_and_the_password_cleared(signed_out_page: Page, officer: tuple[str, str]) -> None:
    page = signed_out_page
    sign_in(page, officer[0], officer[1] + "-wrong")
    expect(page.locator("#signin-message")).to_have_text("Wrong user name or password.")
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#app")).to_be_hidden()
    assert [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE] == []


def test_signing_in_shows_who_and_sets_a_strict_http_only_cookie(page: Page, officer: tuple[str, str]) -> None:
    expect(page.locator("#session")).to_be_visible()
    expect(page.locator("#operator")).to_have_text(officer[0])
    expect(page.locator("#operator-role")).to_have_text("(officer)")
    expect(page.locator("#dni")).to_be_focused()
    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP here; the TLS test checks Secure over HTTPS
    assert page.evaluate("document.cookie") == ""  # the script never sees the session


def test_a_reload_keeps_the_session_and_sign_out_ends_it(page: Page, twin: Twin) -> None:
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-message")).to_have_text("Signed out.")
    expect(page.locator("#app")).to_be_hidden()
    # Server-side too: the API no longer knows the session (a reload stays on the form).
    page.reload()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()


def test_an_expired_session_mid_registration_keeps_the_traveller(page: Page, twin: Twin, officer: tuple[str, str]) -> None:
    dni = fresh_dni()
    check_document(page, dni)
    pass_flight_check(page, "IB789")
    page.fill("#name", "Ada Lovelace")
    page.fill("#lodging", "Hotel Ritz")
    page.fill("#money", "2500.00")

    expire_session(twin, session_cookie(page)["value"])
    page.click("#register")

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-message")).to_contain_text("Your session has ended")
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#username")).to_have_value(officer[0])
    expect(page.locator("#password")).to_be_focused()
    database = twin.replicas["postgres"][0].database
    assert database is not None
    assert database.psql(f"SELECT count(*) FROM immigration WHERE dni = '{dni}'") == "0"

    page.fill("#password", officer[1])
    page.keyboard.press("Enter")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#app")).to_have_attribute("data-step", "details")
    for field, value in (("#dni", dni), ("#flight", "IB789"), ("#name", "Ada Lovelace"), ("#lodging", "Hotel Ritz"),
                         ("#money", "2500.00")):
        expect(page.locator(field)).to_have_value(value)
    # Nothing typed was kept anywhere but in the page's memory.
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0

    page.click("#register")
    expect(page.locator("#app")).to_have_attribute("data-step", "done")
    entry_id = page.locator("#entry-id").inner_text().strip()
    assert database.psql(f"SELECT name, flight_number FROM immigration WHERE id = {int(entry_id)}") == "Ada Lovelace|IB789"
