# shellcheck shell=bash
# ./run.sh backup, ./run.sh restore and its rehearsal restore --check (sourced by run.sh, which provides
# die and env_value).
#
# A backup is a directory promethoide-YYYYMMDDTHHMMSSZ (UTC) under the backup root, mode 700, files 600:
#   postgres.dump       pg_dump custom format (one snapshot, taken while the API keeps serving)
#   postgres.rows.tsv   "table<TAB>rows", counted from the dump; a restore must find the same
#   grafana.db          Grafana's SQLite database (users, UI-made changes), copied while Grafana is stopped
#   alertmanager-silences.json   `amtool silence query -o json`: the silences that have not expired
#   prometheus.tar      Prometheus's TSDB, only with --with-prometheus, copied while Prometheus is stopped
#   manifest.json       what, when, which versions wrote it, sizes and SHA-256 of every file
#   SHA256SUMS          `sha256sum --check` format, over every file above
# It is written as NAME.partial and renamed when complete: a directory without .partial is whole.
# Settings (environment, else .env, else default): BACKUP_DIR (./backups), BACKUP_RETENTION_DAYS (14),
# BACKUP_PROMETHEUS (false).

BACKUP_FORMAT=1
BACKUP_NAME_PATTERN='^promethoide-[0-9]{8}T[0-9]{6}Z(\.partial)?$'
PUSH_JOB=promethoide_backup

# A setting: the environment wins over .env, .env over the default.
backup_setting() {
    local name=$1 default=$2 value=${!1:-}
    if [[ -z $value && -f .env ]]; then
        value=$(env_value "$name")
    fi
    echo "${value:-$default}"
}

# postgres/backup.sh, run inside the postgres container (nothing to install or mount there).
postgres_backup() {
    docker compose exec -T postgres sh -c "$(cat postgres/backup.sh)" backup.sh "$@"
}

# A path given on the command line, as the caller meant it: run.sh has changed to the project directory
# (cd sets OLDPWD to where the caller was).
caller_path() {
    if [[ $1 == /* ]]; then echo "$1"; else echo "${OLDPWD:-$PWD}/$1"; fi
}

# (Not a pipe into grep -q: with pipefail, grep leaving early could fail the pipe by SIGPIPE.)
has_service() {
    local services
    services=$(docker compose config --services 2>/dev/null) || return 1
    grep -qx -- "$1" <<< "$services"
}

# The schema version this checkout's init.sql creates.
code_schema_version() {
    sed -n 's/^INSERT INTO schema_version (version) VALUES (\([0-9][0-9]*\));$/\1/p' postgres/init.sql | tail -n 1
}

# A command on a service's volumes, in a one-off container of the service's own image
# and user, while the service is stopped (a consistent copy; files keep the owner the service needs).
in_volume() {
    local service=$1
    shift
    docker compose run --rm --no-deps -T --entrypoint "$1" "$service" "${@:2}"
}

# Runs a command while a service is stopped, and starts the service again even when the command fails.
while_stopped() {
    local service=$1 status=0
    shift
    docker compose stop "$service"
    "$@" || status=$?
    docker compose start "$service"
    return "$status"
}

push_backup_metrics() {
    local success=$1 duration=$2 bytes=$3 now body
    now=$(date -u +%s)
    body="# TYPE promethoide_backup_success gauge
promethoide_backup_success $success
# TYPE promethoide_backup_last_run_timestamp_seconds gauge
promethoide_backup_last_run_timestamp_seconds $now
# TYPE promethoide_backup_duration_seconds gauge
promethoide_backup_duration_seconds $duration
"
    # POST replaces only the metrics it names: a failed run leaves the last success's time in place.
    if [[ $success == 1 ]]; then
        body+="# TYPE promethoide_backup_last_success_timestamp_seconds gauge
promethoide_backup_last_success_timestamp_seconds $now
# TYPE promethoide_backup_size_bytes gauge
promethoide_backup_size_bytes $bytes
"
    fi
    has_service pushgateway || return 0
    docker compose exec -T pushgateway wget -q -O /dev/null --header "Content-Type: text/plain; version=0.0.4" \
        --post-data "$body" "http://127.0.0.1:9091/metrics/job/$PUSH_JOB" ||
        echo "run.sh: warning: could not push the backup metrics to the Pushgateway" >&2
}

json_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# manifest.json of the backup in $1 (files listed are those present, manifest excluded).
write_manifest() {
    local dir=$1 started=$2 info=$3 file first=1 table rows image
    {
        printf '{\n  "format": %s,\n' "$BACKUP_FORMAT"
        printf '  "created_at": %s,\n' "$(json_string "$started")"
        printf '  "finished_at": %s,\n' "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
        printf '  "written_by": {\n'
        printf '    "promethoide": %s,\n' "$(json_string "$(git rev-parse HEAD 2>/dev/null || echo unknown)")"
        printf '    "postgres_server": %s,\n' "$(json_string "$(sed -n 's/^server_version=//p' "$info")")"
        printf '    "pg_dump": %s,\n' "$(json_string "$(sed -n 's/^pg_dump_version=//p' "$info")")"
        printf '    "images": ['
        first=1
        while IFS= read -r image; do
            [[ -n $image ]] || continue
            [[ $first == 1 ]] || printf ', '
            json_string "$image"
            first=0
        done < <(docker compose config --images 2>/dev/null | LC_ALL=C sort -u)
        printf ']\n  },\n'
        first=1
        printf '  "schema_version": %s,\n' "$(sed -n 's/^schema_version=//p' "$info")"
        printf '  "postgres": {\n    "database": %s,\n    "rows": {' "$(json_string "$(sed -n 's/^database=//p' "$info")")"
        while IFS=$'\t' read -r table rows; do
            [[ $first == 1 ]] || printf ','
            printf '\n      %s: %s' "$(json_string "$table")" "$rows"
            first=0
        done < "$dir/postgres.rows.tsv"
        printf '\n    }\n  },\n  "files": ['
        first=1
        for file in "$dir"/*; do
            [[ $(basename "$file") == manifest.json ]] && continue
            [[ $first == 1 ]] || printf ','
            printf '\n    {"name": %s, "bytes": %s, "sha256": "%s"}' "$(json_string "$(basename "$file")")" \
                "$(wc -c < "$file" | tr -d ' ')" "$(sha256sum "$file" | cut -d ' ' -f 1)"
            first=0
        done
        printf '\n  ]\n}\n'
    } > "$dir/manifest.json"
}

# Deletes our own backups (names promethoide-<UTC timestamp>) older than the retention, never $2.
prune_backups() {
    local root=$1 keep=$2 days cutoff entry name
    days=$(backup_setting BACKUP_RETENTION_DAYS 14)
    [[ $days =~ ^[1-9][0-9]*$ ]] || die "BACKUP_RETENTION_DAYS must be a whole number of days (1 or more), not '$days'"
    cutoff=$(date -u -d "@$(($(date -u +%s) - days * 86400))" +%Y%m%dT%H%M%SZ)
    for entry in "$root"/promethoide-*; do
        name=$(basename "$entry")
        [[ -d $entry && $name =~ $BACKUP_NAME_PATTERN && $entry != "$keep" ]] || continue
        local stamp=${name#promethoide-}
        stamp=${stamp%.partial}
        if [[ $stamp < $cutoff ]]; then
            rm -rf -- "$entry"
            echo "Pruned $entry (older than $days days)."
        fi
    done
}

backup() {
    local with_prometheus root started_epoch started stamp dir partial info
    with_prometheus=$(backup_setting BACKUP_PROMETHEUS false)
    while [[ $# -gt 0 && $1 == --* ]]; do
        case $1 in
            --with-prometheus) with_prometheus=true ;;
            *) die "backup: unknown option '$1' (use: backup [--with-prometheus] [DIR])" ;;
        esac
        shift
    done
    [[ $# -le 1 ]] || die "backup: one directory at most (use: backup [--with-prometheus] [DIR])"
    if [[ $# -eq 1 ]]; then
        root=$(caller_path "$1")
    else
        root=$(backup_setting BACKUP_DIR ./backups)  # relative to the project, like .env
    fi
    umask 077
    mkdir -p -- "$root"
    started_epoch=$(date -u +%s)
    started=$(date -u -d "@$started_epoch" +%Y-%m-%dT%H:%M:%SZ)
    stamp=$(date -u -d "@$started_epoch" +%Y%m%dT%H%M%SZ)
    dir="$root/promethoide-$stamp"
    partial="$dir.partial"
    [[ ! -e $dir && ! -e $partial ]] || die "backup: $dir already exists (one backup a second at most)"
    mkdir -- "$partial"
    # On any failure: the incomplete directory goes, the failure is pushed.
    BACKUP_PARTIAL=$partial
    BACKUP_STARTED=$started_epoch
    trap 'backup_failed' EXIT

    info=$(mktemp)
    postgres_backup describe > "$info"
    echo "Dumping PostgreSQL (the API keeps serving)..."
    postgres_backup dump > "$partial/postgres.dump"
    postgres_backup count < "$partial/postgres.dump" > "$partial/postgres.rows.tsv"
    [[ -s $partial/postgres.rows.tsv ]] || die "backup: the dump holds no table"

    if has_service grafana; then
        echo "Copying Grafana's database (Grafana is stopped for the copy)..."
        while_stopped grafana in_volume grafana cat /var/lib/grafana/grafana.db > "$partial/grafana.db"
    fi
    if has_service alertmanager; then
        docker compose exec -T alertmanager amtool silence query -o json \
            --alertmanager.url=http://127.0.0.1:9093 > "$partial/alertmanager-silences.json"
    fi
    if [[ $with_prometheus == true ]]; then
        echo "Copying Prometheus's TSDB (Prometheus is stopped for the copy: a gap in the graphs)..."
        while_stopped prometheus in_volume prometheus tar -cf - -C /prometheus . > "$partial/prometheus.tar"
    fi

    write_manifest "$partial" "$started" "$info"
    rm -f "$info"
    (cd "$partial" && sha256sum -- * > SHA256SUMS)
    chmod 600 "$partial"/*
    mv -- "$partial" "$dir"
    trap - EXIT
    push_backup_metrics 1 "$(($(date -u +%s) - started_epoch))" "$(du -sb "$dir" | cut -f 1)"
    prune_backups "$root" "$dir"
    echo "Backup complete: $dir"
}

backup_failed() {
    local status=$?
    rm -rf -- "$BACKUP_PARTIAL"
    push_backup_metrics 0 "$(($(date -u +%s) - BACKUP_STARTED))" 0
    echo "run.sh: backup FAILED (nothing kept of this run)" >&2
    exit "$status"
}

# Refuses (die, nothing touched) a backup that is incomplete, altered, or newer than this code.
verify_backup() {
    local dir=$1 format schema ours problems
    [[ -d $dir ]] || die "restore: $dir is not a directory"
    [[ $dir != *.partial ]] || die "restore: $dir is an incomplete backup (.partial): refused"
    local required
    for required in SHA256SUMS manifest.json postgres.dump postgres.rows.tsv; do
        [[ -f $dir/$required ]] || die "restore: $dir has no $required: not a complete backup, refused"
    done
    for required in manifest.json postgres.dump postgres.rows.tsv; do
        grep -q "  $required\$" "$dir/SHA256SUMS" ||
            die "restore: SHA256SUMS in $dir does not cover $required: refused"
    done
    if ! problems=$(cd "$dir" && sha256sum --check --strict --quiet SHA256SUMS 2>&1); then
        die "restore: checksums do not match, the backup in $dir is damaged or altered; nothing was restored:
$problems"
    fi
    format=$(sed -n 's/^  "format": \([0-9][0-9]*\),$/\1/p' "$dir/manifest.json")
    [[ -n $format ]] || die "restore: manifest.json in $dir has no format: refused"
    ((format <= BACKUP_FORMAT)) ||
        die "restore: the backup has format $format, this run.sh reads up to $BACKUP_FORMAT: update Promethoide first"
    schema=$(sed -n 's/^  "schema_version": \([0-9][0-9]*\),$/\1/p' "$dir/manifest.json")
    ours=$(code_schema_version)
    [[ -n $schema && -n $ours ]] || die "restore: no schema version in the manifest or in postgres/init.sql: refused"
    ((schema <= ours)) ||
        die "restore: the backup was written by schema version $schema, newer than this checkout's $ours: update Promethoide first; nothing was restored"
}

# Puts the stack back to serving after a restore attempt, whatever its outcome.
restart_writers() {
    docker compose up -d --wait --wait-timeout 120 api k6
}

# A restore that stops half-way: no staging database left behind, and the API serves again (on the
# old data if the swap had not happened yet, on the restored data if it had).
restore_interrupted() {
    local status=$?
    rm -f -- "$RESTORE_STAGED"
    postgres_backup discard || true
    restart_writers || true
    echo "run.sh: restore FAILED (see above); the API was started again" >&2
    exit "$status"
}

# ./run.sh restore --check DIR, the rehearsal: the dump restored into a staging database beside the
# live one, its row counts compared with the manifest, the staging database dropped. Nothing is stopped
# and nothing live is overwritten, so it can run on the production host whenever a backup is made.
restore_check() {
    local dir=$1
    verify_backup "$dir"
    echo "Backup $dir verified (checksums, format, schema version)."
    RESTORE_STAGED=$(mktemp)
    trap 'rm -f -- "$RESTORE_STAGED"; postgres_backup discard || true' EXIT
    postgres_backup stage < "$dir/postgres.dump" > "$RESTORE_STAGED" ||
        die "restore --check: PostgreSQL could not restore the dump: this backup would not restore; the live database is untouched"
    diff -u "$dir/postgres.rows.tsv" "$RESTORE_STAGED" >&2 ||
        die "restore --check: restored row counts differ from the manifest (above): this backup would not restore as it is"
    postgres_backup discard
    trap - EXIT
    rm -f -- "$RESTORE_STAGED"
    echo "Restore check passed: $dir restores, its row counts match the manifest; nothing live was touched."
}

restore() {
    if [[ ${1:-} == --check ]]; then
        [[ $# -eq 2 ]] || die "restore: give one backup directory (use: restore [--check] DIR)"
        restore_check "$(caller_path "${2%/}")"
        return
    fi
    [[ $# -eq 1 && ${1:-} != --* ]] || die "restore: give one backup directory (use: restore [--check] DIR)"
    local dir
    dir=$(caller_path "${1%/}")
    verify_backup "$dir"
    echo "Backup $dir verified (checksums, format, schema version)."

    docker compose up -d --wait --wait-timeout 120 postgres
    echo "Stopping the API and the smoke tests during the restore..."
    RESTORE_STAGED=$(mktemp)
    trap 'restore_interrupted' EXIT
    docker compose stop api k6
    postgres_backup stage < "$dir/postgres.dump" > "$RESTORE_STAGED" ||
        die "restore: PostgreSQL could not restore the dump; the live database is untouched"
    diff -u "$dir/postgres.rows.tsv" "$RESTORE_STAGED" >&2 ||
        die "restore: restored row counts differ from the manifest (above); the live database is untouched"
    postgres_backup promote
    echo "PostgreSQL restored; row counts match the manifest."

    if [[ -f $dir/grafana.db ]] && has_service grafana; then
        while_stopped grafana in_volume grafana sh -c 'cat > /var/lib/grafana/grafana.db.restore &&
            rm -f /var/lib/grafana/grafana.db-journal /var/lib/grafana/grafana.db-wal /var/lib/grafana/grafana.db-shm &&
            mv /var/lib/grafana/grafana.db.restore /var/lib/grafana/grafana.db' < "$dir/grafana.db"
        echo "Grafana's database restored."
    fi
    if [[ -f $dir/prometheus.tar ]] && has_service prometheus; then
        while_stopped prometheus in_volume prometheus sh -c 'rm -rf /prometheus/* && tar -xf - -C /prometheus' \
            < "$dir/prometheus.tar"
        echo "Prometheus's TSDB restored."
    fi
    if [[ -f $dir/alertmanager-silences.json ]] && has_service alertmanager; then
        restore_silences "$dir/alertmanager-silences.json"
    fi
    trap - EXIT
    rm -f -- "$RESTORE_STAGED"
    restart_writers
    echo "Restore complete from $dir; the API is serving again."
}

# Silences are imported only into an Alertmanager that has none (a new host): on the old host they
# are still in its volume, and importing them again would duplicate them.
restore_silences() {
    local file=$1 existing
    existing=$(docker compose exec -T alertmanager amtool silence query -q --alertmanager.url=http://127.0.0.1:9093)
    if [[ -n $existing ]]; then
        echo "Alertmanager already has silences: those of the backup were not imported."
        return
    fi
    docker compose exec -T alertmanager amtool silence import --force --alertmanager.url=http://127.0.0.1:9093 < "$file"
    echo "Alertmanager's silences restored."
}
