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

CREATE TABLE immigration (
    id             integer       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           varchar(120)  NOT NULL CHECK (btrim(name) <> ''),
    dni            varchar(20)   NOT NULL CHECK (dni ~ '^[A-Z0-9]{5,20}$'),
    lodging        varchar(200)  NOT NULL CHECK (btrim(lodging) <> ''),
    declared_money numeric(12,2) NOT NULL CHECK (declared_money >= 0),
    flight_number  varchar(8)    NOT NULL REFERENCES flights (flight_number),
    entry_date     date          NOT NULL DEFAULT utc_today(),
    registered_at  timestamptz   NOT NULL DEFAULT now(),
    -- A traveller passes the checkpoint at most once a day: the unique index, not a prior SELECT,
    -- is what makes two concurrent registrations of one traveller impossible.
    CONSTRAINT immigration_one_entry_per_day UNIQUE (dni, entry_date)
);
-- The unique index above (dni first) also serves the "filter by document" listing.
CREATE INDEX immigration_flight_number_idx ON immigration (flight_number);

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

-- The API's own role: reads the reference tables, appends entries, nothing else.
CREATE ROLE immigration_api LOGIN PASSWORD :'api_password' CONNECTION LIMIT 60;
GRANT CONNECT ON DATABASE :"DBNAME" TO immigration_api;
GRANT USAGE ON SCHEMA public TO immigration_api;
GRANT SELECT ON interpol, flights TO immigration_api;
GRANT SELECT, INSERT ON immigration TO immigration_api;

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
INSERT INTO schema_version (version) VALUES (1);
