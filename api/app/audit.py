"""The audit trail: who did what, to which document or entry, with what outcome, from where.

Rows are only ever inserted (the API's database role cannot update or delete them: postgres/init.sql).
A row never holds a password, a hash or a session token: only the names below.
"""

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from fastapi import Request

from app.db import DatabaseTimeout, DatabaseUnavailable, Pool, Row
from app.errors import ApiError, EntryRefused, NotFound

log = logging.getLogger(__name__)

# Apache's mod_unique_id (base64-like, 24+ characters) or any similar id a proxy sets.
_REQUEST_ID = re.compile(r"[A-Za-z0-9@_+/=.:-]{1,64}")
REQUEST_ID_HEADER = "x-request-id"


class Action(str, Enum):
    """What an operator did (the audit_log.action values)."""

    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    DOCUMENT_CHECK = "document_check"
    FLIGHT_CHECK = "flight_check"
    REGISTRATION = "registration"
    REGISTRATION_DRY_RUN = "registration_dry_run"
    ENTRY_READ = "entry_read"
    LIST_READ = "list_read"
    AUDIT_READ = "audit_read"


class Outcome(str, Enum):
    """ok: done (a check that found nothing is done too); refused: a 4xx answer; failed: a 5xx answer."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


def request_id(request: Request) -> str:
    """The proxy's request id (X-Request-ID, Apache's UNIQUE_ID), or a new one if absent or odd."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if _REQUEST_ID.fullmatch(given):
        return given
    own = getattr(request.state, "request_id", None)
    if own is None:
        own = request.state.request_id = uuid.uuid4().hex
    return str(own)


def client_address(request: Request) -> str:
    """The client's address as the proxy saw it.

    uvicorn's --proxy-headers (on by default) replaces the peer address by X-Forwarded-For's last hop
    when the peer is in FORWARDED_ALLOW_IPS (uvicorn docs, "Proxies and forwarded headers").
    """
    return request.client.host if request.client else "unknown"


async def record(
    db: Pool,
    request: Request,
    *,
    operator: str | None,
    action: Action,
    outcome: Outcome,
    subject: str | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit row. Never retried: a lost connection may have stored it already."""
    await db.fetch(
        """INSERT INTO audit_log (operator, action, subject, outcome, reason, request_id, client_address)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (operator, action.value, subject, outcome.value, reason, request_id(request), client_address(request)[:64]),
        retry=False,
    )


async def page(
    db: Pool,
    *,
    operator: str | None,
    action: Action | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Row]:
    """Audit rows newest first, below `before_id`, filtered by operator, action and `since <= at < until`."""
    return await db.fetch(
        """SELECT id, at, operator, action, subject, outcome, reason, request_id, client_address
             FROM audit_log
            WHERE (%(operator)s::text IS NULL OR operator = %(operator)s)
              AND (%(action)s::text IS NULL OR action = %(action)s)
              AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
              AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
              AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
            ORDER BY id DESC LIMIT %(limit)s""",
        {"operator": operator, "action": action.value if action else None, "since": since, "until": until,
         "before_id": before_id, "limit": limit},
    )


@dataclass
class Note:
    """What a route adds to its audit row before it returns: the reason of a successful answer."""

    reason: str | None = None


@dataclass
class Auditor:
    """Records the actions of one request's operator. Usage (a route):

        async with audit.action(Action.DOCUMENT_CHECK, subject=dni) as note:
            ...  # raise NotFound / EntryRefused as usual; or set note.reason = "listed"

    The row's outcome follows the answer: ok (2xx), refused (a NotFound, EntryRefused or ApiError:
    4xx, its reason code kept), failed (the database unavailable or slow: 5xx). A failed action's row
    is written if the database lets it; a successful action whose row cannot be written fails (503).
    """

    db: Pool
    request: Request
    operator: str

    @asynccontextmanager
    async def action(self, action: Action, subject: str | None = None) -> AsyncIterator[Note]:
        note = Note()
        try:
            yield note
        except (NotFound, ApiError) as exc:
            await self._record(action, Outcome.REFUSED, subject, exc.reason)
            raise
        except EntryRefused as exc:
            await self._record(action, Outcome.REFUSED, subject, exc.refusal.reason)
            raise
        except (DatabaseUnavailable, DatabaseTimeout) as exc:
            reason = "db_timeout" if isinstance(exc, DatabaseTimeout) else "db_unavailable"
            try:
                await self._record(action, Outcome.FAILED, subject, reason)
            except (DatabaseUnavailable, DatabaseTimeout):
                log.warning("audit row of a failed %s not written: the database is unavailable", action.value)
            raise
        await self._record(action, Outcome.OK, subject, note.reason)

    async def _record(self, action: Action, outcome: Outcome, subject: str | None, reason: str | None) -> None:
        await record(self.db, self.request, operator=self.operator, action=action, outcome=outcome,
                     subject=subject, reason=reason)
