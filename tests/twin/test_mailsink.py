"""The twin's mail sink, a real SMTP server, read through tests/support/mail.py as mailpit would be."""

import smtplib
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest

from tests.support.compose import ROOT
from tests.support.mail import Inbox
from tests.support.processes import free_port, stop_group, wait_until


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[int, Inbox]]:
    """The sink on free loopback ports: (SMTP port, an Inbox on its API)."""
    smtp_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.twin.mailsink", "--smtp", f"127.0.0.1:{smtp_port}", "--http",
         f"127.0.0.1:{http_port}"], cwd=ROOT, start_new_session=True,
    )
    inbox = Inbox(f"http://127.0.0.1:{http_port}")

    def ready() -> bool:
        try:
            return httpx.get(f"{inbox.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: process.poll() is None and ready(), 30, "the mail sink")
        yield smtp_port, inbox
    finally:
        stop_group(process)


@pytest.fixture
def inbox(sink: tuple[int, Inbox]) -> Inbox:
    sink[1].delete_all()
    return sink[1]


def send(port: int, subject: str, *, to: list[str], bcc: list[str] = (), html: str | None = None,  # type: ignore[assignment]
         text: str = "plain words") -> None:
    message = EmailMessage()
    message["From"] = "Promethoide <alerts@promethoide.local>"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message, to_addrs=[*to, *bcc])


def test_every_mail_is_kept_with_sender_recipients_subject_and_body(sink: tuple[int, Inbox], inbox: Inbox) -> None:
    send(sink[0], "[FIRING:1] API down", to=["Operations@promethoide.local", "oncall@example.org"],
         bcc=["audit@example.org"], text="The API is down.\nRunbook: http://localhost:3000/d/x?viewPanel=2")
    (mail,) = inbox.messages()
    assert mail.sender == "alerts@promethoide.local"
    assert mail.recipients == ("operations@promethoide.local", "oncall@example.org", "audit@example.org")
    assert mail.subject == "[FIRING:1] API down"
    assert "The API is down." in mail.body
    assert mail.links == {"http://localhost:3000/d/x?viewPanel=2"}


def test_an_html_only_mail_reads_as_text_and_its_links_are_found(sink: tuple[int, Inbox], inbox: Inbox) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.org", "b@x.org", "html"
    message.set_content("<p>API &amp; database</p><a href='https://runbooks.example/ApiDown'>runbook</a>",
                        subtype="html")
    with smtplib.SMTP("127.0.0.1", sink[0], timeout=10) as client:
        client.send_message(message)
    (mail,) = inbox.messages()
    assert "API & database" in mail.body and "<p>" not in mail.body
    assert mail.links == {"https://runbooks.example/ApiDown"}


def test_newest_first_wait_for_and_delete(sink: tuple[int, Inbox], inbox: Inbox) -> None:
    for subject in ("first", "second"):
        send(sink[0], subject, to=["ops@x.org"])
    assert [mail.subject for mail in inbox.messages()] == ["second", "first"]
    assert inbox.wait_for(lambda mail: mail.subject in ("first", "second"), timeout=5).subject == "first"
    with pytest.raises(AssertionError, match="no such mail within 0 s"):
        inbox.wait_for(lambda mail: mail.subject == "third", timeout=0)
    inbox.delete_all()
    assert inbox.messages() == []


def test_only_the_named_mails_are_deleted_and_unknown_ones_are_404(sink: tuple[int, Inbox], inbox: Inbox) -> None:
    for subject in ("keep", "drop"):
        send(sink[0], subject, to=["ops@x.org"])
    drop = next(mail.id for mail in inbox.messages() if mail.subject == "drop")
    httpx.request("DELETE", f"{inbox.url}/api/v1/messages", json={"IDs": [drop]}, timeout=5).raise_for_status()
    assert [mail.subject for mail in inbox.messages()] == ["keep"]
    with pytest.raises(urllib.error.HTTPError, match="404"):
        inbox.get(drop)


def test_the_list_has_mailpit_s_shape(sink: tuple[int, Inbox], inbox: Inbox) -> None:
    send(sink[0], "shape", to=["ops@x.org"], text="x" * 300)
    listing = httpx.get(f"{inbox.url}/api/v1/messages", timeout=5).json()
    assert {"total", "unread", "count", "start", "tags", "messages"} <= set(listing)
    (summary,) = listing["messages"]
    assert {"ID", "MessageID", "From", "To", "Cc", "Bcc", "Subject", "Created", "Snippet", "Size"} <= set(summary)
    assert summary["From"] == {"Name": "Promethoide", "Address": "alerts@promethoide.local"}
    assert len(summary["Snippet"]) == 250
