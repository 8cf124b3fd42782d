"""The twin's mailpit: a real SMTP server (aiosmtpd) that keeps every mail, and the part of mailpit's
REST API that reads them, on mailpit's ports (SMTP 1025, HTTP 8025).

    python -m tests.twin.mailsink --smtp 127.0.0.30:1025 --http 127.0.0.30:8025

Served (shapes as mailpit's API v1, https://mailpit.axllent.org/docs/api-v1/, and its Go structs
MessagesSummary, MessageSummary and Message in internal/storage/structs.go):

    GET    /api/v1/messages        {"total", "unread", "count", "start", "tags", "messages": [summary...]},
                                   newest first; a summary has ID, MessageID, Read, From, To, Cc, Bcc,
                                   ReplyTo, Subject, Created, Username, Tags, Size, Attachments, Snippet
    GET    /api/v1/message/{ID}    the message: the summary's addresses and Subject, Date, ReturnPath,
                                   Text, HTML, Size, Tags, Inline, Attachments; 404 if unknown
    DELETE /api/v1/messages        deletes every message (or those of {"IDs": [...]}); answers "ok"
    GET    /readyz, /livez         200 "ok" (mailpit's health endpoints)

Addresses are {"Name", "Address"} (Go's net/mail.Address). As mailpit does, an envelope recipient
named in no To or Cc header is listed under Bcc, so To + Cc + Bcc is every recipient of the envelope.
Anything else is 404: this is a stand-in, not mailpit.
"""

import argparse
import asyncio
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

SNIPPET_CHARS = 250  # mailpit's snippet length


@dataclass(frozen=True)
class StoredMail:
    """One received mail: the envelope and the raw message."""

    id: str
    created: datetime
    envelope_from: str
    envelope_to: tuple[str, ...]
    raw: bytes

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]

    def summary(self) -> dict[str, Any]:
        """mailpit's MessageSummary."""
        message = self.parsed()
        text, _ = _bodies(message)
        return {
            "ID": self.id, "MessageID": str(message.get("Message-ID", "")).strip("<>"), "Read": False,
            **self._addresses(message), "Subject": str(message.get("Subject", "")),
            "Created": _rfc3339(self.created), "Username": "", "Tags": [], "Size": len(self.raw),
            "Attachments": 0, "Snippet": " ".join(text.split())[:SNIPPET_CHARS],
        }

    def message(self) -> dict[str, Any]:
        """mailpit's Message."""
        message = self.parsed()
        text, html = _bodies(message)
        try:
            date = parsedate_to_datetime(str(message["Date"])) if message.get("Date") else self.created
        except (TypeError, ValueError):
            date = self.created
        return {
            "ID": self.id, "MessageID": str(message.get("Message-ID", "")).strip("<>"),
            **self._addresses(message), "ReturnPath": self.envelope_from, "Subject": str(message.get("Subject", "")),
            "ListUnsubscribe": {"Header": "", "Links": [], "Errors": "", "HeaderPost": ""},
            "Date": _rfc3339(date), "Tags": [], "Username": "", "Text": text, "HTML": html, "Size": len(self.raw),
            "Inline": [], "Attachments": [],
        }

    def _addresses(self, message: EmailMessage) -> dict[str, Any]:
        headers = {key: _address_list(message.get_all(key, [])) for key in ("From", "To", "Cc", "Reply-To")}
        named = {entry["Address"].lower() for key in ("To", "Cc") for entry in headers[key]}
        bcc = [{"Name": "", "Address": rcpt} for rcpt in self.envelope_to if rcpt.lower() not in named]
        sender = headers["From"][0] if headers["From"] else {"Name": "", "Address": self.envelope_from}
        return {"From": sender, "To": headers["To"], "Cc": headers["Cc"], "Bcc": bcc, "ReplyTo": headers["Reply-To"]}


def _address_list(values: list[Any]) -> list[dict[str, str]]:
    return [{"Name": name, "Address": address} for name, address in getaddresses([str(v) for v in values]) if address]


def _bodies(message: EmailMessage) -> tuple[str, str]:
    """The text/plain and text/html bodies ("" when absent)."""
    parts = {}
    for kind in ("plain", "html"):
        part = message.get_body(preferencelist=(kind,))
        parts[kind] = part.get_content() if part is not None else ""
    return parts["plain"], parts["html"]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Mailbox:
    """The received mails, shared by the SMTP server (its event loop) and the HTTP server (its threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[StoredMail] = []

    def add(self, mail: StoredMail) -> None:
        with self._lock:
            self._mails.append(mail)

    def newest_first(self) -> list[StoredMail]:
        with self._lock:
            return list(reversed(self._mails))

    def get(self, mail_id: str) -> StoredMail | None:
        with self._lock:
            return next((mail for mail in self._mails if mail.id == mail_id), None)

    def delete(self, ids: list[str] | None = None) -> None:
        with self._lock:
            self._mails = [] if not ids else [mail for mail in self._mails if mail.id not in ids]


class KeepEveryMail:
    """aiosmtpd handler: accept and keep every message, whoever it is for."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.mailbox.add(StoredMail(
            id=uuid.uuid4().hex, created=datetime.now(timezone.utc), envelope_from=str(envelope.mail_from or ""),
            envelope_to=tuple(envelope.rcpt_tos), raw=raw,
        ))
        return "250 OK: message stored"


def api_handler(mailbox: Mailbox) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler class serving mailpit's API subset from `mailbox`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # the test logs say enough

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/readyz", "/livez"):
                self._send(HTTPStatus.OK, "ok")
            elif path == "/api/v1/messages":
                mails = mailbox.newest_first()
                self._send(HTTPStatus.OK, {"total": len(mails), "unread": len(mails), "count": len(mails), "start": 0,
                                           "tags": [], "messages": [mail.summary() for mail in mails]})
            elif path.startswith("/api/v1/message/"):
                mail = mailbox.get(path.rsplit("/", 1)[1])
                if mail is None:
                    self._send(HTTPStatus.NOT_FOUND, "message not found")
                else:
                    self._send(HTTPStatus.OK, mail.message())
            else:
                self._send(HTTPStatus.NOT_FOUND, "not served by the twin's mail sink")

        def do_DELETE(self) -> None:
            if self.path.split("?", 1)[0] != "/api/v1/messages":
                self._send(HTTPStatus.NOT_FOUND, "not served by the twin's mail sink")
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, "the body is not JSON")
                return
            mailbox.delete(body.get("IDs") or None)
            self._send(HTTPStatus.OK, "ok")

        def _send(self, status: HTTPStatus, body: Any) -> None:
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(smtp: tuple[str, int], http: tuple[str, int]) -> None:
    """Run both servers until cancelled."""
    mailbox = Mailbox()
    web = ThreadingHTTPServer(http, api_handler(mailbox))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    loop = asyncio.get_running_loop()
    handler = KeepEveryMail(mailbox)
    server = await loop.create_server(lambda: SMTP(handler, hostname="mailpit"), *smtp)
    try:
        await server.serve_forever()
    finally:
        web.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smtp", required=True, type=_host_port, help="HOST:PORT for SMTP (mailpit: 1025)")
    parser.add_argument("--http", required=True, type=_host_port, help="HOST:PORT for the API (mailpit: 8025)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.smtp, args.http))


if __name__ == "__main__":
    main()
