"""Reading the mails an SMTP sink received, through mailpit's REST API (API v1).

The same class reads a real mailpit (`http://localhost:8025` on a Docker host, as compose publishes
it) and the twin's stand-in (tests/twin/mailsink.py, at `http://mailpit:8025` inside the twin):

    inbox = Inbox("http://mailpit:8025")
    inbox.delete_all()
    mail = inbox.wait_for(lambda m: "API down" in m.subject, timeout=180)
    mail.sender, mail.recipients, mail.subject, mail.body

Endpoints used (https://mailpit.axllent.org/docs/api-v1/): GET /api/v1/messages (summaries, newest
first), GET /api/v1/message/{ID} (one message with Text and HTML), DELETE /api/v1/messages.
"""

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

PAGE = 500  # mailpit's list is paged (default 50): ask for more than a test ever sends


@dataclass(frozen=True)
class Mail:
    """One received mail: addresses are bare lowercase addresses; `recipients` is To + Cc + Bcc."""

    id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str

    @property
    def body(self) -> str:
        """The text part, or the HTML part reduced to its text (tags dropped, entities decoded)."""
        if self.text.strip():
            return self.text
        return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", self.html)))

    @property
    def links(self) -> set[str]:
        """Every http(s) URL of the mail, from the text and from the HTML's href attributes."""
        found = set(re.findall(r"https?://[^\s\"'<>]+", self.text))
        found |= {html.unescape(url) for url in re.findall(r"""href=["'](https?://[^"']+)["']""", self.html)}
        return found


def _address(entry: dict[str, Any] | None) -> str:
    return str((entry or {}).get("Address", "")).lower()


class Inbox:
    """A mailpit-compatible API; every method raises httpx.HTTPStatusError on an error status."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def ids(self) -> list[str]:
        """The IDs of every stored mail, newest first."""
        response = httpx.get(f"{self.url}/api/v1/messages", params={"limit": PAGE}, timeout=self.timeout)
        response.raise_for_status()
        return [summary["ID"] for summary in response.json()["messages"]]

    def get(self, mail_id: str) -> Mail:
        """One mail, with its bodies."""
        response = httpx.get(f"{self.url}/api/v1/message/{mail_id}", timeout=self.timeout)
        response.raise_for_status()
        message = response.json()
        recipients = tuple(_address(entry) for key in ("To", "Cc", "Bcc") for entry in message.get(key) or [])
        return Mail(id=message["ID"], sender=_address(message.get("From")), recipients=recipients,
                    subject=message.get("Subject", ""), text=message.get("Text", ""), html=message.get("HTML", ""))

    def messages(self) -> list[Mail]:
        """Every stored mail, newest first."""
        return [self.get(mail_id) for mail_id in self.ids()]

    def delete_all(self) -> None:
        """Empty the mailbox."""
        httpx.delete(f"{self.url}/api/v1/messages", timeout=self.timeout).raise_for_status()

    def wait_for(self, condition: Callable[[Mail], bool], timeout: float, poll_s: float = 1) -> Mail:
        """The first (oldest) mail satisfying `condition`, polling until `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [mail for mail in reversed(self.messages()) if condition(mail)]
            if matching:
                return matching[0]
            if time.monotonic() > deadline:
                subjects = [mail.subject for mail in self.messages()]
                raise AssertionError(f"no such mail within {timeout} s; the sink holds: {subjects}")
            time.sleep(poll_s)
