#!/bin/sh
# Dump and restore of the application database. Runs where PostgreSQL's client tools are: inside the
# postgres container (`docker compose exec -T postgres sh -c "$(cat postgres/backup.sh)" backup.sh CMD`,
# called by ./run.sh backup and restore), or natively against any server (the tests).
#
#   dump        the database, pg_dump custom format, on stdout (one snapshot: consistent while the API writes)
#   describe    key=value lines: database, server_version, pg_dump_version, schema_version
#   count       a dump on stdin -> "table<TAB>rows" lines, counted from the dump's COPY data
#   stage       a dump on stdin -> restored into DB_restore (the live database untouched);
#               prints "table<TAB>rows" of what was restored
#   promote     DB_restore replaces DB (the only step that overwrites anything)
#   discard     drop DB_restore
#
# Connection: libpq's variables (PGHOST, PGPORT...); the user and database are POSTGRES_USER and
# POSTGRES_DB, as the postgres image sets them. Inside the container no password is needed: the image
# trusts local connections (docker-library/docs, postgres/content.md, "Note 1").
set -eu

db=${POSTGRES_DB:?POSTGRES_DB is not set}
export PGUSER="${POSTGRES_USER:?POSTGRES_USER is not set}"
staging="${db}_restore"

# On the maintenance database; "does not exist, skipping" notices are not news.
psql_admin() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"
}

# Every table of the public schema with its row count, as "table<TAB>rows", sorted by name.
count_rows() {
    psql -X -q -A -t -F "$(printf '\t')" -v ON_ERROR_STOP=1 -d "$1" -c "
        SELECT c.relname,
               (xpath('/row/n/text()',
                      query_to_xml(format('SELECT count(*) AS n FROM public.%I', c.relname), false, true, '')))[1]::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        ORDER BY c.relname"
}

# The dump on stdin, into a file: pg_restore reads an archive more than once.
save_stdin() {
    archive=$(mktemp "${TMPDIR:-/tmp}/promethoide-dump.XXXXXX")
    trap 'rm -f "$archive"' EXIT
    cat > "$archive"
    [ -s "$archive" ] || { echo "backup.sh: no dump on standard input" >&2; exit 1; }
}

case "${1:-}" in
    dump)
        exec pg_dump --format=custom --no-password -d "$db"
        ;;
    describe)
        echo "database=$db"
        echo "server_version=$(psql -X -A -t -d "$db" -c 'SHOW server_version')"
        echo "pg_dump_version=$(pg_dump --version | sed 's/^pg_dump (PostgreSQL) //')"
        echo "schema_version=$(psql -X -A -t -d "$db" -c 'SELECT max(version) FROM schema_version')"
        ;;
    count)
        save_stdin
        # Data comes out as COPY blocks, one line per row (newlines inside values are escaped).
        # sh has no pipefail: pg_restore's failure is noted in a file, so a damaged dump is not counted.
        { pg_restore --data-only --file=- "$archive" || echo failed > "$archive.failed"; } | awk '
            /^COPY public\./ { split($2, name, "."); table = name[2]; rows[table] = 0; inside = 1; next }
            inside && $0 == "\\." { inside = 0; next }
            inside { rows[table]++ }
            END { for (t in rows) printf "%s\t%d\n", t, rows[t] }' | LC_ALL=C sort
        if [ -e "$archive.failed" ]; then
            rm -f "$archive.failed"
            echo "backup.sh: pg_restore could not read the whole dump" >&2
            exit 1
        fi
        ;;
    stage)
        save_stdin
        pg_restore --list "$archive" > /dev/null
        psql_admin -c "DROP DATABASE IF EXISTS \"$staging\""
        # The database's own settings (encoding, locale, grants) are in the archive's DATABASE
        # entries, which pg_restore emits only with --create: take them, aimed at the staging name.
        # (A failure in this pipe shows at the next step: no staging database to restore into.)
        pg_restore --create --schema-only --file=- "$archive" |
            grep -E "^(CREATE DATABASE|GRANT .* ON DATABASE|REVOKE .* ON DATABASE|COMMENT ON DATABASE) " |
            sed "s/ DATABASE $db / DATABASE $staging /; s/ DATABASE $db;/ DATABASE $staging;/" |
            psql_admin
        # Roles are not in a database dump: init.sql creates them when the stack first starts.
        if ! pg_restore --exit-on-error --single-transaction --no-owner -d "$staging" "$archive"; then
            psql_admin -c "DROP DATABASE IF EXISTS \"$staging\""
            echo "backup.sh: the dump could not be restored; the live database is untouched" >&2
            exit 1
        fi
        count_rows "$staging"
        ;;
    promote)
        psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "ALTER DATABASE \"$staging\" RENAME TO \"$db\""
        ;;
    discard)
        psql_admin -c "DROP DATABASE IF EXISTS \"$staging\" WITH (FORCE)"
        ;;
    *)
        echo "usage: backup.sh dump | describe | count | stage | promote | discard" >&2
        exit 2
        ;;
esac
