"""postgres/backup.sh, run natively (Debian's PostgreSQL client and server) as run.sh runs it in the container."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import ThrowawayPostgres

SCRIPT = Path(__file__).resolve().parents[2] / "postgres" / "backup.sh"
TABLES = ["audit_log", "flights", "immigration", "interpol", "operators", "schema_version", "sessions",
          "sign_in_attempts"]


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as pg:
        yield pg


def backup_sh(pg: ThrowawayPostgres, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """The script with the container's environment: POSTGRES_USER and POSTGRES_DB, a local socket."""
    env = {**os.environ, "PGHOST": str(pg.dir), "PGPORT": str(pg.port), "POSTGRES_USER": pg.superuser, "POSTGRES_DB": pg.database}
    return subprocess.run(["sh", str(SCRIPT), *args], input=stdin, capture_output=True, env=env, check=check)


def register(pg: ThrowawayPostgres, first: int, count: int) -> None:
    pg.psql(
        "INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
        f"SELECT 'Traveller ' || n, 'BK' || lpad(n::text, 8, '0'), 'Hotel', 900, 'AA123' FROM generate_series({first}, {first + count - 1}) n"
    )


def rows(text: bytes) -> dict[str, int]:
    return {table: int(n) for table, n in (line.split("\t") for line in text.decode().splitlines())}


def test_describe_names_the_versions_and_the_schema(postgres: ThrowawayPostgres) -> None:
    info = dict(line.split("=", 1) for line in backup_sh(postgres, "describe").stdout.decode().splitlines())
    assert info["schema_version"] == "2"
    assert info["server_version"] == postgres.psql("SHOW server_version")
    assert info["pg_dump_version"].split()[0] == info["server_version"].split()[0]


def test_counts_come_from_the_dump_not_from_the_live_tables(postgres: ThrowawayPostgres) -> None:
    register(postgres, 1, 25)
    dump = backup_sh(postgres, "dump").stdout
    register(postgres, 100, 5)  # after the snapshot: not in the dump
    assert rows(backup_sh(postgres, "count", stdin=dump).stdout) == {
        "audit_log": 0, "flights": 6, "immigration": 25, "interpol": 5, "operators": 0, "schema_version": 1,
        "sessions": 0, "sign_in_attempts": 0}


def test_stage_leaves_the_live_database_alone_and_promote_replaces_it(postgres: ThrowawayPostgres) -> None:
    register(postgres, 1, 40)
    dump = backup_sh(postgres, "dump").stdout
    expected = rows(backup_sh(postgres, "count", stdin=dump).stdout)
    postgres.psql("DELETE FROM immigration WHERE id % 2 = 0")  # the mistake to undo
    staged = rows(backup_sh(postgres, "stage", stdin=dump).stdout)
    assert staged == expected
    assert postgres.psql("SELECT count(*) FROM immigration") == "20"
    backup_sh(postgres, "promote")
    assert postgres.psql("SELECT count(*) FROM immigration") == "40"
    assert postgres.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{postgres.database}_restore'") == "0"
    # Grants came back: the API's role connects, reads and appends; identities continue after the last id.
    postgres.psql("INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
                  "VALUES ('After Restore', 'AFTER0001', 'Hotel', 900, 'IB789')", user=postgres.api_user)
    assert postgres.psql("SELECT max(id) FROM immigration", user=postgres.api_user) == "41"
    assert postgres.psql("SELECT has_database_privilege('public', current_database(), 'CONNECT')") == "f"


def test_a_damaged_dump_is_refused_and_the_live_database_kept(postgres: ThrowawayPostgres) -> None:
    register(postgres, 1, 10)
    dump = bytearray(backup_sh(postgres, "dump").stdout)
    del dump[len(dump) // 2:]  # a truncated file: a full disk, an interrupted copy
    result = backup_sh(postgres, "stage", stdin=bytes(dump), check=False)
    assert result.returncode != 0
    assert postgres.psql("SELECT count(*) FROM immigration") == "10"
    assert postgres.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{postgres.database}_restore'") == "0"


def test_a_damaged_dump_is_not_counted(postgres: ThrowawayPostgres) -> None:
    register(postgres, 1, 2000)
    dump = backup_sh(postgres, "dump").stdout
    result = backup_sh(postgres, "count", stdin=dump[: len(dump) * 2 // 3], check=False)
    assert result.returncode == 1
    assert b"pg_restore could not read the whole dump" in result.stderr


def test_an_empty_input_is_refused_with_a_message(postgres: ThrowawayPostgres) -> None:
    result = backup_sh(postgres, "stage", stdin=b"", check=False)
    assert result.returncode == 1
    assert b"no dump on standard input" in result.stderr


def test_an_unknown_command_prints_the_usage(postgres: ThrowawayPostgres) -> None:
    result = backup_sh(postgres, "drop-everything", check=False)
    assert result.returncode == 2
    assert b"usage: backup.sh dump | describe | count | stage | promote | discard" in result.stderr
