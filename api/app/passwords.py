"""Operator passwords: argon2id hashes (RFC 9106) through argon2-cffi, and generated passwords.

argon2-cffi's `PasswordHasher()` defaults are RFC 9106's second recommended option (argon2id,
t=3, m=64 MiB, p=4; argon2-cffi docs, "Choosing Parameters"). Hashing takes tens of milliseconds of
CPU on purpose, so the API runs it in a worker thread (`asyncio.to_thread`), never on the event loop.
"""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()
MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; this keeps a 16 kB "password" from costing anything extra

# Verified when the user name matches no account, so that an unknown name takes as long to refuse as
# a wrong password: the answer's timing does not tell which names exist.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The PHC string `$argon2id$v=19$m=65536,t=3,p=4$salt$hash` of a password."""
    return HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; None (no such account) checks a dummy and is False."""
    try:
        HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's (then it is re-hashed at sign-in)."""
    return HASHER.check_needs_rehash(password_hash)


def generate() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def problem(password: str) -> str | None:
    """Why a chosen password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password has at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None
