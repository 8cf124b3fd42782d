"""postgres/init.sql: constraints that hold whatever the API does, and least-privilege roles."""

import subprocess

import pytest

from tests.support.postgres import ThrowawayPostgres

INSERT = "INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) VALUES "


def refused(postgres: ThrowawayPostgres, sql: str, user: str | None = None) -> str:
    """Run SQL that must fail; return PostgreSQL's error."""
    with pytest.raises(subprocess.CalledProcessError) as failure:
        postgres.psql(sql, user=user)
    return str(failure.value.stderr)


def test_the_original_sample_rows_are_there(postgres: ThrowawayPostgres) -> None:
    assert postgres.psql("SELECT count(*) FROM interpol WHERE dni IN ('12345678A', '87654321B')") == "2"
    assert postgres.psql("SELECT count(*) FROM flights WHERE flight_number IN ('AA123', 'BA456')") == "2"


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ("('', 'ABCDE1', 'h', 600, 'AA123')", "check constraint"),
        ("('n', 'abcde1', 'h', 600, 'AA123')", "check constraint"),
        ("('n', 'ABCDE1', ' ', 600, 'AA123')", "check constraint"),
        ("('n', 'ABCDE1', 'h', -1, 'AA123')", "check constraint"),
        ("('n', 'ABCDE1', 'h', 600, 'ZZ999')", "foreign key constraint"),
        ("('n', 'ABCDE1', 'h', 1e12, 'AA123')", "numeric field overflow"),
        ("(NULL, 'ABCDE1', 'h', 600, 'AA123')", "not-null constraint"),
    ],
)
def test_the_tables_refuse_bad_rows(postgres: ThrowawayPostgres, values: str, error: str) -> None:
    assert error in refused(postgres, INSERT + values)


def test_one_traveller_enters_once_a_day(postgres: ThrowawayPostgres) -> None:
    postgres.psql(INSERT + "('n', 'ONCEADAY1', 'h', 600, 'AA123')")
    assert "immigration_one_entry_per_day" in refused(postgres, INSERT + "('n', 'ONCEADAY1', 'h', 700, 'BA456')")


def test_every_lookup_has_an_index(postgres: ThrowawayPostgres) -> None:
    indexes = postgres.psql("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'")
    assert "interpol USING btree (dni)" in indexes
    assert "flights USING btree (flight_number)" in indexes
    assert "immigration USING btree (dni, entry_date)" in indexes
    assert "immigration USING btree (id)" in indexes


def test_the_api_role_reads_and_appends_only(postgres: ThrowawayPostgres) -> None:
    api = postgres.api_user
    assert postgres.psql("SELECT count(*) > 0 FROM flights", user=api) == "t"
    assert "permission denied" in refused(postgres, "DELETE FROM immigration", user=api)
    assert "permission denied" in refused(postgres, "UPDATE interpol SET name = 'x'", user=api)
    assert "permission denied" in refused(postgres, "INSERT INTO interpol VALUES ('ZZZZZ9', 'x', 'AR', 'red', now())", user=api)
    assert "permission denied" in refused(postgres, "CREATE TABLE evil (x int)", user=api)
    assert postgres.psql("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user", user=api) == "f"


def test_the_exporter_role_monitors_without_reading_data(postgres: ThrowawayPostgres) -> None:
    exporter = postgres.exporter_user
    assert int(postgres.psql("SELECT count(*) FROM pg_stat_activity", user=exporter)) >= 1
    assert "permission denied" in refused(postgres, "SELECT * FROM immigration", user=exporter)


@pytest.mark.parametrize("missing", ["API_DB_PASSWORD", "EXPORTER_DB_PASSWORD"])
def test_init_sql_stops_with_a_clear_error_without_a_role_password(postgres: ThrowawayPostgres, missing: str) -> None:
    database = f"without_{missing.lower()}"
    postgres.psql(f"CREATE DATABASE {database}", database="postgres")
    passwords = {"API_DB_PASSWORD": "a", "EXPORTER_DB_PASSWORD": "b"}
    del passwords[missing]
    result = postgres.load_init_sql(database, passwords, check=False)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'interpol'", database=database) == "0"


# -- issue 12: operators, sessions, failed sign-ins, the audit trail --------------------------------------

# Exactly what the API's role may do on each table (the CLI runs as that role too): anything more fails.
API_PRIVILEGES = {
    "operators": {"SELECT", "INSERT"},  # UPDATE of four columns only, below; never DELETE
    "sessions": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "sign_in_attempts": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "audit_log": {"SELECT", "INSERT"},  # append-only
    "immigration": {"SELECT", "INSERT"},
    "interpol": {"SELECT"},
    "flights": {"SELECT"},
    "schema_version": set(),
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@pytest.mark.parametrize("table", sorted(API_PRIVILEGES))
def test_the_api_role_has_exactly_its_privileges_on_each_table(postgres: ThrowawayPostgres, table: str) -> None:
    granted = {
        privilege for privilege in PRIVILEGES
        if postgres.psql(f"SELECT has_table_privilege('{postgres.api_user}', '{table}', '{privilege}')") == "t"
    }
    assert granted == API_PRIVILEGES[table]
    assert postgres.psql(f"SELECT tableowner FROM pg_tables WHERE tablename = '{table}'") != postgres.api_user


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET outcome = 'ok'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "DELETE FROM operators",
    "UPDATE operators SET username = 'renamed'",
    "UPDATE operators SET created_at = now()",
    "UPDATE immigration SET registered_by = NULL",
    "CREATE TRIGGER t BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION utc_today()",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
])
def test_the_api_role_cannot_rewrite_history(postgres: ThrowawayPostgres, statement: str) -> None:
    error = refused(postgres, statement, user=postgres.api_user)
    assert "permission denied" in error or "must be owner" in error, error


def test_the_api_role_may_change_a_password_role_and_disabled_flag(postgres: ThrowawayPostgres) -> None:
    assert postgres.psql("UPDATE operators SET disabled = disabled, role = role, password_hash = password_hash, "
                         "updated_at = now() WHERE false", user=postgres.api_user) == "UPDATE 0"


@pytest.mark.parametrize(("values", "error"), [
    ("('ok.name', 'plain-text-password', 'officer')", "check constraint"),  # never anything but an argon2id hash
    ("('ok.name', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'admin')", "check constraint"),
    ("('Upper.Case', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'officer')", "check constraint"),
    ("('x', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'officer')", "check constraint"),
])
def test_operators_refuse_bad_rows(postgres: ThrowawayPostgres, values: str, error: str) -> None:
    assert error in refused(postgres, f"INSERT INTO operators (username, password_hash, role) VALUES {values}")


@pytest.mark.parametrize(("values", "error"), [
    ("('sign_in', 'maybe', 'r1')", "check constraint"),  # outcome
    ("('reboot', 'ok', 'r1')", "check constraint"),  # action
    ("('sign_in', 'ok', NULL)", "not-null constraint"),  # request id
])
def test_audit_rows_are_well_formed(postgres: ThrowawayPostgres, values: str, error: str) -> None:
    assert error in refused(postgres, f"INSERT INTO audit_log (action, outcome, request_id) VALUES {values}")


def test_the_schema_version_is_2(postgres: ThrowawayPostgres) -> None:
    assert postgres.psql("SELECT max(version) FROM schema_version") == "2"


def test_the_session_check_runs_with_the_callers_rights_only(postgres: ThrowawayPostgres) -> None:
    """session_check (the API's per-request check) is SECURITY INVOKER: calling it grants the API role
    nothing beyond its own rights on sessions and operators."""
    assert postgres.psql("SELECT prosecdef FROM pg_proc WHERE proname = 'session_check'") == "f"
    assert postgres.psql("SELECT count(*) FROM session_check('\\x00', 900, 60)", user=postgres.api_user) == "0"
