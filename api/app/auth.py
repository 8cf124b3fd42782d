"""Signing operators in and out, their sessions, and the slow-down and lockout of failed sign-ins.

A session is a random opaque token (`secrets.token_urlsafe`, 256 bits) in an HttpOnly cookie; the
database keeps only its SHA-256, so neither a backup nor a read of the sessions table signs anyone
in. Every state lives in PostgreSQL, so every worker and every replica agrees on it.
"""

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from app import passwords
from app.config import Settings
from app.db import Pool

SESSION_COOKIE = "promethoide_session"
ROLES = ("officer", "supervisor")  # each role may do everything the ones before it may
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 32 bytes in unpadded base64url


@dataclass(frozen=True)
class Operator:
    """A signed-in operator."""

    id: int
    username: str
    role: str

    def may_act_as(self, role: str) -> bool:
        """Whether this operator's role includes `role`'s rights."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class SignIn:
    """What a sign-in came to: a session token, or the refusal's reason (and for a lockout, the wait in s).

    `username` is the account's name when the name matched one (for the audit trail), else None.
    """

    username: str | None
    token: str | None = None
    operator: Operator | None = None
    expires_at: datetime | None = None
    refusal: str | None = None  # bad_credentials | locked_out
    retry_after_s: int = 0


class SessionRefused(Exception):
    """No valid session: `reason` is not_signed_in or session_expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digest(token: str) -> bytes:
    """The SHA-256 of a session token: what the sessions table keeps."""
    return hashlib.sha256(token.encode()).digest()


def normalise_username(name: str) -> str:
    """User names are case-insensitive: stored and compared lowercase."""
    return name.strip().lower()


async def sign_in(db: Pool, settings: Settings, username: str, password: str, address: str) -> SignIn:
    """Check a user name and password, and open a session if they match an enabled account.

    Unknown name, wrong password and disabled account all verify one hash and answer `bad_credentials`
    alike. A name barred from this address, a name barred everywhere or an address barred for every
    name (SCOPES) answers `locked_out` without a check.
    """
    username = normalise_username(username)
    account = await _find_account(db, username)
    known = account["username"] if account else None
    wait = await _barred_for(db, username, address)
    if wait > 0:
        return SignIn(known, refusal="locked_out", retry_after_s=wait)
    stored_hash = account["password_hash"] if account else None
    matches = await asyncio.to_thread(passwords.verify, stored_hash, password)
    if not matches or account is None or account["disabled"]:
        await _record_failure(db, settings, username, address)
        return SignIn(known, refusal="bad_credentials")
    await _forget_failures(db, username, address)
    if passwords.needs_rehash(account["password_hash"]):
        new_hash = await asyncio.to_thread(passwords.hash_password, password)
        await db.fetch(
            "UPDATE operators SET password_hash = %s, updated_at = now() WHERE id = %s", (new_hash, account["id"])
        )
    return await _open_session(db, settings, Operator(account["id"], account["username"], account["role"]))


async def session_operator(db: Pool, settings: Settings, token: str | None) -> tuple[Operator, datetime]:
    """The operator a session token belongs to and the session's end, keeping the session alive.

    Raises `SessionRefused("not_signed_in")` for a missing, malformed or unknown token or a disabled
    account, `SessionRefused("session_expired")` past the shift's end or the idle timeout (the session
    is then deleted). `last_seen_at` is written only when older than the touch interval.
    """
    if token is None or not _TOKEN.fullmatch(token):
        raise SessionRefused("not_signed_in")
    key = digest(token)
    # postgres/init.sql's session_check: the lookup, and the touch when due, in one round trip.
    rows = await db.fetch("SELECT * FROM session_check(%s, %s, %s)",
                          (key, settings.session_idle_timeout_s, settings.session_touch_interval_s))
    if not rows or rows[0]["disabled"]:
        raise SessionRefused("not_signed_in")
    row = rows[0]
    if row["expired"]:
        await end_session(db, token)
        raise SessionRefused("session_expired")
    return Operator(row["id"], row["username"], row["role"]), row["expires_at"]


async def end_session(db: Pool, token: str | None) -> None:
    """Delete a session (sign-out); an unknown or missing token is a no-op."""
    if token is not None and _TOKEN.fullmatch(token):
        await db.fetch("DELETE FROM sessions WHERE token_sha256 = %s", (digest(token),))


async def _find_account(db: Pool, username: str) -> dict[str, object] | None:
    rows = await db.fetch(
        "SELECT id, username, password_hash, role, disabled FROM operators WHERE username = %s", (username,)
    )
    return rows[0] if rows else None


async def _open_session(db: Pool, settings: Settings, operator: Operator) -> SignIn:
    """A new session for `operator`; the operator's ended sessions are swept away on the way."""
    token = secrets.token_urlsafe(32)
    rows = await db.fetch(
        """WITH swept AS (
               DELETE FROM sessions WHERE operator_id = %(id)s
                  AND (expires_at <= now() OR last_seen_at <= now() - make_interval(secs => %(idle)s))
           )
           INSERT INTO sessions (token_sha256, operator_id, expires_at)
           VALUES (%(key)s, %(id)s, now() + make_interval(secs => %(max_age)s))
           RETURNING expires_at""",
        {"key": digest(token), "id": operator.id, "idle": settings.session_idle_timeout_s,
         "max_age": settings.session_max_age_s},
        retry=False,
    )
    return SignIn(operator.username, token=token, operator=operator, expires_at=rows[0]["expires_at"])


# The three counts a failed sign-in adds to (sign_in_attempts.scope), and what each protects against:
# - client: one account name from one client address. Guessing one operator's password; slowed down,
#   then locked out at SIGN_IN_LOCKOUT_AFTER. Only that name from that address is barred, so an office
#   behind one NAT address keeps signing in while one of its operators mistypes.
# - account: one account name from every address together, locked at SIGN_IN_ACCOUNT_LOCKOUT_AFTER
#   (much higher): guessing one password from many addresses.
# - address: every name from one address, locked at SIGN_IN_ADDRESS_LOCKOUT_AFTER (much higher):
#   spraying names (or one password over many names) from one address.
SCOPES = ("client", "account", "address")


def _keys(username: str, address: str) -> dict[str, str]:
    """The sign_in_attempts key of each scope ("address name" for client: neither holds a space)."""
    return {"client": f"{address[:64]} {username[:64]}", "account": username[:64], "address": address[:64]}


async def _barred_for(db: Pool, username: str, address: str) -> int:
    """Seconds until this account name may be tried again from this address (0: now)."""
    keys = _keys(username, address)
    rows = await db.fetch(
        """SELECT coalesce(ceil(extract(epoch FROM max(locked_until) - now())), 0)::int AS wait
             FROM sign_in_attempts
            WHERE locked_until > now()
              AND (scope, key) IN (('client', %(client)s), ('account', %(account)s), ('address', %(address)s))""",
        keys,
    )
    return max(0, rows[0]["wait"])


async def _forget_failures(db: Pool, username: str, address: str) -> None:
    """After a success: this name's failures from this address are forgiven (not the wider counts,
    which only their window ends)."""
    await db.fetch("DELETE FROM sign_in_attempts WHERE scope = 'client' AND key = %s",
                   (_keys(username, address)["client"],))


async def _record_failure(db: Pool, settings: Settings, username: str, address: str) -> None:
    """Count a failure in each scope (SCOPES), and bar what the counts call for.

    Counts older than the window start again from one. In the client scope the n-th failure within
    the window bars for 2^(n - slowdown_after) s once n reaches `sign_in_slowdown_after`, and for
    `sign_in_lockout_s` once it reaches `sign_in_lockout_after` (never longer than the lockout); the
    account and address scopes lock for `sign_in_lockout_s` at their own thresholds, without slowing.
    """
    counted = "CASE WHEN a.last_failed_at <= now() - make_interval(secs => %(window)s) THEN 1 ELSE a.failures + 1 END"
    await db.fetch(
        f"""INSERT INTO sign_in_attempts AS a (scope, key, failures, locked_until)
            SELECT scope, key, 1, {_bar_until("1", "failed.scope")}
              FROM (VALUES ('client', %(client)s), ('account', %(account)s), ('address', %(address)s))
                   AS failed (scope, key)
            ON CONFLICT (scope, key) DO UPDATE SET
                failures = {counted}, last_failed_at = now(), locked_until = {_bar_until(counted, "a.scope")}""",
        {**_keys(username, address), "window": settings.sign_in_window_s,
         "slowdown_after": settings.sign_in_slowdown_after, "lockout_after": settings.sign_in_lockout_after,
         "account_lockout_after": settings.sign_in_account_lockout_after,
         "address_lockout_after": settings.sign_in_address_lockout_after, "lockout_s": settings.sign_in_lockout_s},
        retry=False,
    )


def _bar_until(failures: str, scope: str) -> str:
    """SQL for when a count of `failures` (an SQL expression) in `scope` (an SQL expression) may try
    again; NULL: now."""
    lockout_after = f"""CASE {scope} WHEN 'client' THEN %(lockout_after)s
                                     WHEN 'account' THEN %(account_lockout_after)s
                                     ELSE %(address_lockout_after)s END"""
    return f"""CASE WHEN {failures} >= {lockout_after} THEN now() + make_interval(secs => %(lockout_s)s)
                    WHEN {scope} = 'client' AND {failures} >= %(slowdown_after)s THEN now() + make_interval(secs =>
                         least(%(lockout_s)s, power(2, least({failures} - %(slowdown_after)s, 30))))
               END"""
