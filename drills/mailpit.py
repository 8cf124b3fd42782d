"""Reading the mails an SMTP sink received, through mailpit's REST API (API v1); Python stdlib only.

The same class reads a real mailpit (`http://localhost:8025` on a Docker host, as compose publishes
it) and the twin's stand-in (tests/twin/mailsink.py, at `http://mailpit:8025` inside the twin):

    inbox = Inbox("http://mailpit:8025")
    inbox.delete_all()
    mail = inbox.wait_for(lambda m: "API down" in m.subject, timeout=180)
    mail.sender, mail.recipients, mail.subject, mail.body

Endpoints used (https://mailpit.axllent.org/docs/api-v1/): GET /api/v1/messages (summaries, newest
first), GET /api/v1/message/{ID} (one message with Text and HTML), DELETE /api/v1/messages.
Every method raises urllib.error.URLError (HTTPError on an error status) when the API fails.
"""

from __future__ import annotations

import html
import json
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

PAGE = 500  # mailpit's list is paged (default 50): ask for more than a drill ever sends


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
    """A mailpit-compatible API at `url`."""

    def __init__(self, url: str, timeout: float = 10, headers: dict[str, str] | None = None) -> None:
        """`headers`: sent with every request, e.g. the Authorization of a mailpit behind basic auth."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})

    def _request(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Accept": "application/json", **self.headers})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        if method != "GET":
            return None  # mailpit answers DELETE with a plain "ok"
        return json.loads(body)

    def ids(self) -> list[str]:
        """The IDs of every stored mail, newest first."""
        return [summary["ID"] for summary in self._request(f"/api/v1/messages?limit={PAGE}")["messages"]]

    def get(self, mail_id: str) -> Mail:
        """One mail, with its bodies."""
        message = self._request(f"/api/v1/message/{mail_id}")
        recipients = tuple(_address(entry) for key in ("To", "Cc", "Bcc") for entry in message.get(key) or [])
        return Mail(id=message["ID"], sender=_address(message.get("From")), recipients=recipients,
                    subject=message.get("Subject", ""), text=message.get("Text", ""), html=message.get("HTML", ""))

    def messages(self) -> list[Mail]:
        """Every stored mail, newest first."""
        return [self.get(mail_id) for mail_id in self.ids()]

    def delete_all(self) -> None:
        """Empty the mailbox."""
        self._request("/api/v1/messages", method="DELETE")

    def wait_for(self, condition: Callable[[Mail], bool], timeout: float, poll_s: float = 1) -> Mail:
        """The first (oldest) mail satisfying `condition`, polling until `timeout` seconds have passed.

        Raises AssertionError naming the subjects held when none arrived in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            matching = [mail for mail in reversed(self.messages()) if condition(mail)]
            if matching:
                return matching[0]
            if time.monotonic() > deadline:
                subjects = [mail.subject for mail in self.messages()]
                raise AssertionError(f"no such mail within {timeout} s; the sink holds: {subjects}")
            time.sleep(poll_s)
