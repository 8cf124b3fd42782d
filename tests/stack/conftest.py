"""The live stack: one native twin for every test of this folder."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.alertmanager import AlertmanagerClient
from tests.support.mail import Inbox
from tests.support.prometheus import PrometheusClient
from tests.support.webhook import WebhookRecorder
from tests.twin.site import make_credentials
from tests.twin.stack import Twin

# Smoke runs every few seconds instead of every minute, so a test sees several.
K6_INTERVAL_S = 8
# .env settings the twin changes, as an operator could: a changed alert group is mailed again after
# 15 s rather than 5 min, so a resolved mail follows the repair within the test's patience.
# BIND_ADDRESS beyond loopback: Apache serves its published port (443) over HTTPS with the self-signed
# pair ./run.sh's apache/tls.sh creates (port 80 inside stays plain HTTP for the probes and k6).
TWIN_SETTINGS = {"ALERT_GROUP_INTERVAL": "15s", "BIND_ADDRESS": "0.0.0.0"}
# The twin's remote site (tests/stack/test_remote_site.py).
SITE_NAME = "twin-site"
# The officer the browser tests sign in as (created with the API's CLI, as `./run.sh operator add` does).
OFFICER = ("desk-officer", "correct horse battery staple")
# A loopback address no twin service takes (the twin's start at 127.0.0.20).
HEARTBEAT_ADDRESS = "127.0.0.5"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# How long a test waits for the stack to reach a state before it fails. Generous on purpose: every
# wait is on a condition, so a deadline only turns "never" into a failure and never decides the
# verdict on a busy machine (scrapes every 15 s, smoke runs every K6_INTERVAL_S, a browser, two API
# replicas and every other helper's tests share two cores). pytest's own limit is 300 s per test.
PATIENCE_S = 150.0
# The browser's waits (playwright's default is 5 s), for the same reason.
BROWSER_PATIENCE_MS = 60_000
expect.set_options(timeout=BROWSER_PATIENCE_MS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "disruptive: breaks part of the stack (and repairs it); runs last")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that break the stack run after every test that needs it healthy.

    A fault leaves traces in Prometheus for minutes (a 5xx ratio over 5 m, say), which would make a
    "healthy stack fires no alert" check depend on the order the files happen to run in.
    """
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def heartbeat() -> Iterator[WebhookRecorder]:
    """The external heartbeat service the Watchdog is sent to (WATCHDOG_WEBHOOK_URL), inside the twin's network."""
    with WebhookRecorder(HEARTBEAT_ADDRESS) as recorder:
        yield recorder


@pytest.fixture(scope="session")
def site_credentials() -> Path:
    """SITE_CREDENTIALS_DIR with the twin's remote site's credentials, made before Apache starts (so it
    listens on 9443, as after `./run.sh site-credentials NAME` on a real host); the site's folder."""
    return make_credentials(Path(tempfile.mkdtemp(prefix="promethoide-sites-")), SITE_NAME)


@pytest.fixture(scope="session")
def twin(heartbeat: WebhookRecorder, site_credentials: Path) -> Iterator[Twin]:
    """The compose stack, booted natively; torn down even when a test fails."""
    stack = Twin(Path(tempfile.mkdtemp(prefix="promethoide-twin-")), api_replicas=2, k6_interval_s=K6_INTERVAL_S,
                 settings={**TWIN_SETTINGS, "WATCHDOG_WEBHOOK_URL": heartbeat.url,
                           "SITE_CREDENTIALS_DIR": str(site_credentials.parent)})
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def prometheus(twin: Twin) -> PrometheusClient:
    return PrometheusClient.of(twin)


@pytest.fixture(scope="session")
def alertmanager(twin: Twin) -> AlertmanagerClient:
    return AlertmanagerClient(twin.url("alertmanager"))


@pytest.fixture(scope="session")
def inbox(twin: Twin) -> Inbox:
    """The SMTP sink's mails, read through mailpit's API (the twin's stand-in serves it on mailpit:8025)."""
    return Inbox(twin.url("mailpit", port=8025))


@pytest.fixture(scope="session")
def scrape_interval_s(twin: Twin) -> float:
    """Prometheus's scrape interval, from its config file."""
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "prometheus" / "prometheus.yml").read_text())
    return float(config["global"]["scrape_interval"].rstrip("s"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (kept after the run, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM = "/usr/bin/chromium"
# Headless flags that work on a machine without network or GPU (see the shared notes).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(twin: Twin) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def forgive_failed_sign_ins(twin: Twin) -> Iterator[None]:
    """For a test that fails sign-ins on purpose: afterwards the API's failure counts are emptied.

    Every client of the twin reaches Apache from the same loopback address. The API bars only the
    failing name from that address (SIGN_IN_LOCKOUT_AFTER), but its per-address count
    (SIGN_IN_ADDRESS_LOCKOUT_AFTER) adds up over the session's deliberate failures: left alone, they
    could one day bar every later sign-in of the session, the twin's own smoke runs included.
    """
    yield
    database = twin.replicas["postgres"][0].database
    assert database is not None
    database.psql("DELETE FROM sign_in_attempts")


SUPERVISOR = ("stack-supervisor", "a supervisor's passphrase for the stack tests")


@pytest.fixture(scope="session")
def supervisor_client(twin: Twin) -> Iterator[httpx.Client]:
    """An HTTP client signed in through Apache as a supervisor (who may do all an officer may, and read entries)."""
    twin.ensure_operator(*SUPERVISOR, role="supervisor")
    with httpx.Client(timeout=PATIENCE_S) as client:
        response = client.post(twin.url("apache", "/api/auth/sign-in"),
                               json={"username": SUPERVISOR[0], "password": SUPERVISOR[1]})
        assert response.status_code == 200, response.text
        yield client


@pytest.fixture(scope="session")
def officer(twin: Twin) -> tuple[str, str]:
    """An officer's user name and password."""
    twin.ensure_operator(*OFFICER)
    return OFFICER


@pytest.fixture
def signed_out_page(browser: Browser, twin: Twin, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The operator page, freshly loaded in a new browser context (no cookie): the sign-in form.

    A screenshot of the outcome is saved after each test.
    """
    context = browser.new_context()
    context.set_default_timeout(BROWSER_PATIENCE_MS)
    tab = context.new_page()
    tab.goto(twin.url("apache", "/"))
    try:
        yield tab
    finally:
        tab.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
        context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill in the sign-in form and submit it (Enter)."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")


@pytest.fixture
def page(signed_out_page: Page, officer: tuple[str, str]) -> Page:
    """The operator page, signed in as the officer, at the first step."""
    sign_in(signed_out_page, *officer)
    expect(signed_out_page.locator("#app")).to_be_visible()
    expect(signed_out_page.locator("#operator")).to_have_text(officer[0])
    return signed_out_page
