"""Operator accounts, from the command line: `python -m app.operators COMMAND ...` (issue 12).

Runs inside the API's container (`./run.sh operator ...`), with the API's settings and database role.

    add NAME [--role officer|supervisor] [--generate]   a new account
    list                                                 every account: name, role, disabled, dates
    disable NAME                                         refuse its sign-ins and end its sessions
    reset-password NAME [--generate]                     a new password; ends its sessions
    ensure NAME --password-env VAR [--role R]            create or update a service account (idempotent)
    bootstrap NAME                                       first run: a supervisor, if there is none yet

A password is typed twice (not echoed) when standard input is a terminal; otherwise, or with
--generate, one is generated and shown once. Exit status: 0 done, 1 refused (the reason on stderr),
2 bad usage (argparse).
"""

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable, Sequence

import psycopg2
import psycopg2.errors

from app import passwords
from app.auth import ROLES, normalise_username
from app.config import get_settings

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
Connection = psycopg2.extensions.connection


class Refused(Exception):
    """The command cannot be carried out; the message says why."""


def username(value: str) -> str:
    """argparse type: a user name, lowercased; 3 to 64 of a-z 0-9 . _ - starting with a letter or digit."""
    name = normalise_username(value)
    if not USERNAME.fullmatch(name):
        raise argparse.ArgumentTypeError("a user name is 3 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return name


def connect() -> Connection:
    """A connection with the API's own settings (POSTGRES_*), in autocommit mode."""
    settings = get_settings()
    kwargs = settings.dsn_kwargs() | {"application_name": "promethoide-operators"}
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    return conn


def choose_password(generate: bool, show: Callable[[str], None]) -> str:
    """A password typed twice at a terminal, or a generated one, shown once through `show`."""
    if generate or not sys.stdin.isatty():
        password = passwords.generate()
        show(password)
        return password
    first = getpass.getpass("Password (empty: generate one): ")
    if not first:
        return choose_password(True, show)
    if (problem := passwords.problem(first)) is not None:
        raise Refused(problem)
    if getpass.getpass("Password again: ") != first:
        raise Refused("the two passwords differ")
    return first


def _show_generated(name: str) -> Callable[[str], None]:
    return lambda password: print(f"Password of {name} (shown once, keep it safe): {password}")


def add(conn: Connection, name: str, role: str, generate: bool) -> None:
    if _exists(conn, name):
        raise Refused(f"an operator named {name} exists already (use reset-password)")
    password = choose_password(generate, _show_generated(name))
    _insert(conn, name, role, password)
    print(f"Added {name} ({role}).")


def list_operators(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("""SELECT username, role, disabled, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'),
                              to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"')
                         FROM operators ORDER BY username""")
        rows = cur.fetchall()
    print(f"{'USERNAME':<24} {'ROLE':<11} {'STATE':<9} {'CREATED':<18} UPDATED")
    for name, role, disabled, created, updated in rows:
        print(f"{name:<24} {role:<11} {'disabled' if disabled else 'enabled':<9} {created:<18} {updated}")


def disable(conn: Connection, name: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE operators SET disabled = true, updated_at = now() WHERE username = %s RETURNING id", (name,))
        row = cur.fetchone()
        if row is None:
            raise Refused(f"no operator is named {name}")
        cur.execute("DELETE FROM sessions WHERE operator_id = %s", (row[0],))
    print(f"Disabled {name}; their sessions are ended.")


def reset_password(conn: Connection, name: str, generate: bool) -> None:
    if not _exists(conn, name):
        raise Refused(f"no operator is named {name}")
    password = choose_password(generate, _show_generated(name))
    _set_password(conn, name, password)
    print(f"New password set for {name}; their sessions are ended.")


def ensure(conn: Connection, name: str, role: str, password_env: str) -> None:
    """Create the account, or give an existing one this role and password, enabled (service accounts).

    An account that already has them is left alone, its sessions too: running it again changes nothing.
    """
    password = os.environ.get(password_env, "")
    if (problem := passwords.problem(password)) is not None:
        raise Refused(f"${password_env}: {problem}")
    with conn.cursor() as cur:
        cur.execute("SELECT password_hash, role, disabled FROM operators WHERE username = %s", (name,))
        found = cur.fetchone()
    if found is not None and found[1] == role and not found[2] and passwords.verify(found[0], password):
        print(f"{name} ({role}) is as asked already.")
    elif found is not None:
        _set_password(conn, name, password, role=role)
        print(f"Updated {name} ({role}).")
    else:
        _insert(conn, name, role, password)
        print(f"Added {name} ({role}).")


def bootstrap(conn: Connection, name: str) -> None:
    """Create the first supervisor with a generated password, shown once; nothing if a supervisor exists."""
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM operators WHERE role = 'supervisor')")
        if cur.fetchone()[0]:  # type: ignore[index]
            return
    password = passwords.generate()
    _insert(conn, name, "supervisor", password)
    print(f"Operator page supervisor  user: {name}  password: {password}  (shown once: keep it safe)")


def _exists(conn: Connection, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM operators WHERE username = %s)", (name,))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def _insert(conn: Connection, name: str, role: str, password: str) -> None:
    with conn.cursor() as cur:
        try:
            cur.execute("INSERT INTO operators (username, password_hash, role) VALUES (%s, %s, %s)",
                        (name, passwords.hash_password(password), role))
        except psycopg2.errors.UniqueViolation:
            raise Refused(f"an operator named {name} exists already") from None


def _set_password(conn: Connection, name: str, password: str, role: str | None = None) -> None:
    """Set the password, and with a `role` that role and enabled (`ensure`); end the account's sessions.

    A plain password reset leaves a disabled account disabled.
    """
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE operators SET password_hash = %s, role = coalesce(%s, role),
                      disabled = disabled AND %s::text IS NULL, updated_at = now()
                WHERE username = %s RETURNING id""",
            (passwords.hash_password(password), role, role, name),
        )
        row = cur.fetchone()
        if row is None:
            raise Refused(f"no operator is named {name}")
        cur.execute("DELETE FROM sessions WHERE operator_id = %s", (row[0],))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m app.operators", description="Manage operator accounts.")
    commands = top.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("add", help="add an operator")
    cmd.add_argument("name", type=username)
    cmd.add_argument("--role", choices=ROLES, default="officer")
    cmd.add_argument("--generate", action="store_true", help="generate the password and show it once")
    commands.add_parser("list", help="list the operators")
    cmd = commands.add_parser("disable", help="disable an operator and end their sessions")
    cmd.add_argument("name", type=username)
    cmd = commands.add_parser("reset-password", help="set a new password and end their sessions")
    cmd.add_argument("name", type=username)
    cmd.add_argument("--generate", action="store_true", help="generate the password and show it once")
    cmd = commands.add_parser("ensure", help="create or update a service account from an environment variable")
    cmd.add_argument("name", type=username)
    cmd.add_argument("--password-env", required=True, metavar="VAR", help="the variable holding the password")
    cmd.add_argument("--role", choices=ROLES, default="officer")
    cmd = commands.add_parser("bootstrap", help="create the first supervisor if there is none")
    cmd.add_argument("name", type=username)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        conn = connect()
    except psycopg2.OperationalError as exc:
        print(f"cannot connect to the database: {str(exc).strip()}", file=sys.stderr)
        return 1
    try:
        match args.command:
            case "add":
                add(conn, args.name, args.role, args.generate)
            case "list":
                list_operators(conn)
            case "disable":
                disable(conn, args.name)
            case "reset-password":
                reset_password(conn, args.name, args.generate)
            case "ensure":
                ensure(conn, args.name, args.role, args.password_env)
            case "bootstrap":
                bootstrap(conn, args.name)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
