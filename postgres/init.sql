-- Schema, sample data and roles of the immigration checkpoint.
-- The postgres image runs this once, on an empty data directory, as POSTGRES_USER on POSTGRES_DB
-- (psql -v ON_ERROR_STOP=1). The two login roles take their passwords from the environment of the
-- postgres container, so no secret is written here.

\set ON_ERROR_STOP on
\getenv api_password API_DB_PASSWORD
\getenv exporter_password EXPORTER_DB_PASSWORD

\if :{?api_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'API_DB_PASSWORD is not set in the postgres container'; END $$;
\endif
\if :{?exporter_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'EXPORTER_DB_PASSWORD is not set in the postgres container'; END $$;
\endif

-- "Today" is a UTC date everywhere, whatever the session's TimeZone.
CREATE FUNCTION utc_today() RETURNS date
    LANGUAGE sql STABLE
    RETURN (now() AT TIME ZONE 'UTC')::date;

CREATE TABLE interpol (
    dni         varchar(20)  PRIMARY KEY CHECK (dni ~ '^[A-Z0-9]{5,20}$'),
    name        varchar(120) NOT NULL CHECK (btrim(name) <> ''),
    nationality char(2)      NOT NULL CHECK (nationality ~ '^[A-Z]{2}$'),
    notice      varchar(10)  NOT NULL CHECK (notice IN ('red', 'yellow', 'blue', 'green')),
    listed_on   date         NOT NULL
);

-- Flights are scheduled routes (a number and an arrival time of day), not dated departures,
-- so the sample rows stay valid whatever the date.
CREATE TABLE flights (
    flight_number     varchar(8)  PRIMARY KEY
                                  CHECK (flight_number ~ '^([A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])[0-9]{1,4}[A-Z]?$'),
    airline           varchar(60) NOT NULL CHECK (btrim(airline) <> ''),
    origin            char(3)     NOT NULL CHECK (origin ~ '^[A-Z]{3}$'),
    destination       char(3)     NOT NULL CHECK (destination ~ '^[A-Z]{3}$'),
    scheduled_arrival time        NOT NULL,
    CHECK (origin <> destination)
);

-- Operators of the checkpoint (issue 12). Accounts are disabled, never deleted: the audit trail and
-- the entries name them. The password hash is argon2id in its PHC string format ($argon2id$v=19$...).
CREATE TABLE operators (
    id            integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      varchar(64) NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          varchar(16) NOT NULL CHECK (role IN ('officer', 'supervisor')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Signed-in sessions. Only the SHA-256 of the cookie's token is kept: a read of this table (a backup,
-- say) does not let anyone sign in. expires_at is the end of the shift; last_seen_at feeds the idle timeout.
CREATE TABLE sessions (
    token_sha256 bytea       PRIMARY KEY CHECK (length(token_sha256) = 32),
    operator_id  integer     NOT NULL REFERENCES operators (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_operator_id_idx ON sessions (operator_id);

-- The session check of every business request (api/app/auth.py, session_operator): the session's
-- operator, and whether the session ended (the shift's end, or idle for idle_s); last_seen_at is
-- touched when older than touch_s. One round trip, and PL/pgSQL keeps the plans of its statements
-- for the connection's life: the API sends plain statements, which PostgreSQL plans on every call
-- (the join cost more to plan than to run; tests/benchmarks/README.md). SECURITY INVOKER: it reads
-- and writes with the caller's own rights.
CREATE FUNCTION session_check(token bytea, idle_s integer, touch_s integer)
RETURNS TABLE (id integer, username varchar, role varchar, disabled boolean, expires_at timestamptz,
               expired boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    seen timestamptz;
BEGIN
    SELECT o.id, o.username, o.role, o.disabled, s.expires_at, s.last_seen_at
      INTO id, username, role, disabled, expires_at, seen
      FROM sessions s JOIN operators o ON o.id = s.operator_id
     WHERE s.token_sha256 = token;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    expired := expires_at <= now() OR seen <= now() - make_interval(secs => idle_s);
    IF NOT expired AND NOT disabled AND seen <= now() - make_interval(secs => touch_s) THEN
        UPDATE sessions SET last_seen_at = now() WHERE token_sha256 = token;
    END IF;
    RETURN NEXT;
END
$$;

-- Failed sign-ins, per client address and account name together (scope 'client', key "ADDRESS NAME"),
-- per account name alone (as typed, lowercased) and per client address alone (api/app/auth.py, SCOPES):
-- every worker and replica reads the same counts, so slowing down and locking out hold whichever one answers.
CREATE TABLE sign_in_attempts (
    scope           varchar(8)  NOT NULL CHECK (scope IN ('client', 'account', 'address')),
    key             varchar(129) NOT NULL,
    failures        integer     NOT NULL CHECK (failures > 0),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

CREATE TABLE immigration (
    id             integer       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           varchar(120)  NOT NULL CHECK (btrim(name) <> ''),
    dni            varchar(20)   NOT NULL CHECK (dni ~ '^[A-Z0-9]{5,20}$'),
    lodging        varchar(200)  NOT NULL CHECK (btrim(lodging) <> ''),
    declared_money numeric(12,2) NOT NULL CHECK (declared_money >= 0),
    flight_number  varchar(8)    NOT NULL REFERENCES flights (flight_number),
    entry_date     date          NOT NULL DEFAULT utc_today(),
    registered_at  timestamptz   NOT NULL DEFAULT now(),
    -- Who registered the entry. The API always sets it; NULL only for rows an administrator
    -- inserted by hand (restores and tests of schema version 1 data).
    registered_by  varchar(64)   REFERENCES operators (username),
    -- A traveller passes the checkpoint at most once a day: the unique index, not a prior SELECT,
    -- is what makes two concurrent registrations of one traveller impossible.
    CONSTRAINT immigration_one_entry_per_day UNIQUE (dni, entry_date)
);
-- The unique index above (dni first) also serves the "filter by document" listing.
CREATE INDEX immigration_flight_number_idx ON immigration (flight_number);

-- The audit trail: append-only for the API (see the grants below: no UPDATE, DELETE or TRUNCATE).
-- operator is NULL only for a sign-in naming no account. client_address is the address Apache saw
-- (the last hop of X-Forwarded-For); request_id is Apache's UNIQUE_ID, or the API's own.
-- Never a password, a hash or a session token.
CREATE TABLE audit_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    operator       varchar(64) REFERENCES operators (username),
    action         varchar(32) NOT NULL CHECK (action IN (
                       'sign_in', 'sign_out', 'document_check', 'flight_check', 'registration',
                       'registration_dry_run', 'entry_read', 'list_read', 'audit_read')),
    subject        varchar(64),
    outcome        varchar(8)  NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    reason         varchar(40),
    request_id     varchar(64) NOT NULL,
    client_address varchar(64)
);
CREATE INDEX audit_log_operator_id_idx ON audit_log (operator, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

INSERT INTO interpol (dni, name, nationality, notice, listed_on) VALUES
    ('12345678A', 'John Doe',        'US', 'red',    '2019-03-14'),
    ('87654321B', 'Jane Roe',        'GB', 'red',    '2020-07-02'),
    ('11223344C', 'Carlos Ruiz',     'ES', 'yellow', '2021-11-23'),
    ('44332211D', 'Anna Kowalska',   'PL', 'blue',   '2022-05-09'),
    ('55667788E', 'Pierre Martin',   'FR', 'red',    '2023-01-30');

INSERT INTO flights (flight_number, airline, origin, destination, scheduled_arrival) VALUES
    ('AA123', 'American Airlines', 'JFK', 'EZE', '09:40'),
    ('BA456', 'British Airways',   'LHR', 'EZE', '11:15'),
    ('IB789', 'Iberia',            'MAD', 'EZE', '06:55'),
    ('AF321', 'Air France',        'CDG', 'EZE', '13:20'),
    ('LA800', 'LATAM',             'GRU', 'EZE', '17:05'),
    ('AR1133', 'Aerolineas Argentinas', 'MIA', 'EZE', '22:30');

-- Nobody connects or creates objects unless granted below (PostgreSQL 15+ already denies CREATE).
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The API's own role: reads the reference tables, appends entries and audit rows, keeps sessions.
-- The operator CLI (python -m app.operators) runs as this role too: it creates accounts and changes
-- their password, role and disabled flag, but never deletes one. Nothing here lets it change the
-- audit trail: no UPDATE, DELETE, TRUNCATE or TRIGGER on audit_log, and it owns no table.
CREATE ROLE immigration_api LOGIN PASSWORD :'api_password' CONNECTION LIMIT 60;
GRANT CONNECT ON DATABASE :"DBNAME" TO immigration_api;
GRANT USAGE ON SCHEMA public TO immigration_api;
GRANT SELECT ON interpol, flights TO immigration_api;
GRANT SELECT, INSERT ON immigration TO immigration_api;
GRANT SELECT, INSERT ON operators TO immigration_api;
GRANT UPDATE (password_hash, role, disabled, updated_at) ON operators TO immigration_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, sign_in_attempts TO immigration_api;
GRANT SELECT, INSERT ON audit_log TO immigration_api;

-- postgres-exporter's role: pg_monitor reads every statistics view and nothing of the data.
CREATE ROLE metrics_exporter LOGIN PASSWORD :'exporter_password' CONNECTION LIMIT 5;
GRANT pg_monitor TO metrics_exporter;
GRANT CONNECT ON DATABASE :"DBNAME" TO metrics_exporter;

-- The schema's version: a backup records it, and a restore refuses a backup that a newer schema wrote.
-- Raise it (and add a migration) whenever this file's tables change. Read by run.sh and postgres/backup.sh.
CREATE TABLE schema_version (
    version    integer     PRIMARY KEY CHECK (version > 0),
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_version (version) VALUES (2);
