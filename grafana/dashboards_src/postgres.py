"""PostgreSQL dashboard, from postgres-exporter: up, connections, transactions, cache, locks, size; and the last backup.

Only metrics that Debian's exporter (0.11) and the image (0.20) both expose, aggregated so that the
labels they disagree on (0.11 adds `server`, 0.20 adds `datid` and activity details) never matter.
"""

from grafana_foundation_sdk.builders import dashboard

from .common import (right_axis, RATE, GREEN, ORANGE, RED, UP_DOWN, YELLOW, Q, gauge_panel, new_dashboard, query_variable, row,
                     stat_panel, steps, timeseries_panel, value_text)
from .rules import condition

PG = 'job="postgres"'
DB = f'{PG}, datname=~"$datname", datname!~"template.*"'
CONNECTIONS = f"sum(pg_stat_database_numbackends{{{PG}}})"
MAX_CONNECTIONS = f"max(pg_settings_max_connections{{{PG}}})"
# One definition for every "connections used" tile (Overview, this dashboard): the API's pools are
# fitted under max_connections at start-up, so 80% used means little headroom left for a restart.
CONNECTIONS_USED = f"{CONNECTIONS} / {MAX_CONNECTIONS}"
CONNECTIONS_THRESHOLDS = steps((None, GREEN), (0.8, YELLOW), (0.9, RED))
# template0/template1 are copied by CREATE DATABASE, never used: the Database variable leaves them
# out, so "All" means the databases an operator has.
TEMPLATES = "template.*"
# What ./run.sh backup pushes (backup/backup.sh, job promethoide_backup), and the alert on its age: the
# tile reads the rule's own query and turns red at the rule's threshold.
BACKUP = 'job="promethoide_backup"'
BACKUP_TOO_OLD = condition("BackupTooOld")  # time() - last good backup's time > threshold (s)
BACKUP_RESULT = value_text({"1": ("OK", GREEN), "0": ("FAILED", RED)})


def _health(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Up, connection headroom, cache hit ratio, deadlocks at a glance."""
    return (
        board.with_row(row("Health"))
        .with_panel(stat_panel(
            "PostgreSQL", "pg_up: the exporter reached the server. DOWN also when the exporter itself is down.",
            [Q(f"min(pg_up{{{PG}}}) or vector(0)", "up", instant=True)],
            thresholds=steps((None, RED), (1, GREEN)), mappings=UP_DOWN, width=6, height=6))
        .with_panel(gauge_panel(
            "Connections used", "Backends connected over max_connections; the API's pools must fit below.",
            [Q(CONNECTIONS_USED, "used", instant=True)], unit="percentunit", thresholds=CONNECTIONS_THRESHOLDS))
        .with_panel(gauge_panel(
            "Cache hit ratio", "Blocks found in shared buffers over blocks needed, over the time range.",
            [Q(f"sum(increase(pg_stat_database_blks_hit{{{DB}}}[$__range])) / (sum(increase("
               f"pg_stat_database_blks_hit{{{DB}}}[$__range])) + sum(increase(pg_stat_database_blks_read{{{DB}}}"
               f"[$__range])))", "hit ratio", instant=True)], unit="percentunit",
            thresholds=steps((None, RED), (0.9, YELLOW), (0.99, GREEN))))
        .with_panel(stat_panel(
            "Deadlocks", "Deadlocks detected over the time range.",
            [Q(f"sum(increase(pg_stat_database_deadlocks{{{DB}}}[$__range]))", "deadlocks", instant=True)],
            thresholds=steps((None, GREEN), (1, ORANGE)), width=6, height=6, decimals=0))
    )


def _activity(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Connections against the limit, transactions, cache hits, locks, deadlocks and size over time."""
    return (
        board.with_row(row("Activity"))
        .with_panel(timeseries_panel(
            "Connections against max_connections", "Connected backends and the server's limit.",
            [Q(CONNECTIONS, "connections"), Q(MAX_CONNECTIONS, "max_connections")], "short"))
        .with_panel(timeseries_panel(
            "Connections by state", "From pg_stat_activity: active, idle... (idle in transaction apart, right).",
            [Q(f'sum by (state) (pg_stat_activity_count{{{DB}, state!~"idle in transaction.*"}})', "{{state}}")],
            "short", stacked=True).decimals(0))
        .with_panel(right_axis(timeseries_panel(
            "Transactions per second", "Commits (left) and rollbacks (right axis: a handful beside thousands of "
            "commits would lie flat on theirs) per database.",
            [Q(f"sum by (datname) (rate(pg_stat_database_xact_commit{{{DB}}}{RATE}))", "{{datname}} commit"),
             Q(f"sum by (datname) (rate(pg_stat_database_xact_rollback{{{DB}}}{RATE}))", "{{datname}} rollback")],
            "ops"), ".* rollback$"))
        .with_panel(timeseries_panel(
            "Cache hit ratio", "Shared-buffer hits over all block reads, per database.",
            [Q(f"sum by (datname) (rate(pg_stat_database_blks_hit{{{DB}}}{RATE})) / (sum by (datname) "
               f"(rate(pg_stat_database_blks_hit{{{DB}}}{RATE})) + sum by (datname) "
               f"(rate(pg_stat_database_blks_read{{{DB}}}{RATE})))", "{{datname}}")], "percentunit"))
        .with_panel(timeseries_panel(
            "Locks by mode", "Locks held or awaited, by mode.",
            [Q(f"sum by (mode) (pg_locks_count{{{DB}}})", "{{mode}}")], "short", stacked=True))
        .with_panel(timeseries_panel(
            "Deadlocks", "Deadlocks detected per database, per rate window.",
            [Q(f"sum by (datname) (increase(pg_stat_database_deadlocks{{{DB}}}{RATE}))", "{{datname}}")],
            "short").decimals(0))
        .with_panel(timeseries_panel(
            "Database size", "On-disk size of each database.",
            [Q(f"sum by (datname) (pg_database_size_bytes{{{DB}}})", "{{datname}}")], "bytes", width=24))
    )


def _work(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """What the server does and what holds it up: tuples, temp files, checkpoints, long transactions."""
    return (
        board.with_row(row("Work and stalls"))
        # Reads run hundreds of times the rows writes do: writes get the right axis, or they lie flat.
        .with_panel(right_axis(timeseries_panel(
            "Tuples per second", "Rows returned by scans and fetched by index (left), inserted, updated and "
            "deleted (right axis).",
            [Q(f"sum(rate(pg_stat_database_tup_{kind}{{{DB}}}{RATE}))", kind)
             for kind in ("returned", "fetched", "inserted", "updated", "deleted")], "rowsps", width=8),
            "^(inserted|updated|deleted)$"))
        .with_panel(timeseries_panel(
            "Temporary files written", "Bytes sorts and hashes spilled to disk (work_mem too small).",
            [Q(f"sum by (datname) (rate(pg_stat_database_temp_bytes{{{DB}}}{RATE}))", "{{datname}}")], "Bps",
            width=8))
        .with_panel(timeseries_panel(
            "Checkpoints per minute", "Timed (checkpoint_timeout) and requested (WAL full, or asked): many "
            "requested ones mean max_wal_size is too small. Exporter 0.11 and 0.20 name them apart.",
            [Q(f'sum(rate({{__name__=~"pg_stat_bgwriter_checkpoints_timed(_total)?", {PG}}}{RATE})) * 60',
               "timed"),
             Q(f'sum(rate({{__name__=~"pg_stat_bgwriter_checkpoints_req(_total)?", {PG}}}{RATE})) * 60',
               "requested")], "opm", width=8))
        .with_panel(timeseries_panel(
            "Longest transaction", "Age of the oldest open transaction by state: an old one holds locks and "
            "stops vacuum.",
            [Q(f"max by (state) (pg_stat_activity_max_tx_duration{{{DB}}})", "{{state}}")], "s", width=8))
        .with_panel(timeseries_panel(
            "Idle in transaction", "Sessions that opened a transaction and wait: each holds its locks and a "
            "connection.",
            [Q(f'sum(pg_stat_activity_count{{{DB}, state=~"idle in transaction.*"}})', "idle in transaction")],
            "short", width=8).decimals(0))
        .with_panel(timeseries_panel(
            "Exporter scrape errors", "1 when the exporter's last read of PostgreSQL failed: the panels above "
            "then show old or no values.",
            [Q(f"max(pg_exporter_last_scrape_error{{{PG}}})", "last scrape error")], "none", width=8)
            .decimals(0).min(0).max(1))
    )


def _backups(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """The last ./run.sh backup: how old the last good one is (BackupTooOld), and how the last run went."""
    return (
        board.with_row(row("Backups"))
        .with_panel(stat_panel(
            "Last backup", f"Age of the last good ./run.sh backup; red from {BACKUP_TOO_OLD.threshold / 3600:g} h "
            "(BackupTooOld). \"never\" (orange): none recorded in the last day (none ran, or the Pushgateway "
            "restarted over a day ago); the alert gives a new stack its first day.",
            [Q(f"max({BACKUP_TOO_OLD.query})", "age", instant=True)], unit="s",
            # The base colour is what "never" (no value) shows: not green, nothing is proven safe.
            thresholds=steps((None, ORANGE), (0, GREEN), (BACKUP_TOO_OLD.threshold, RED)), no_value="never",
            width=6))
        .with_panel(stat_panel(
            "Last backup run", "How the last ./run.sh backup ended; a failed run keeps the last good one's age.",
            [Q(f"min(promethoide_backup_success{{{BACKUP}}})", "result", instant=True)],
            mappings=BACKUP_RESULT, no_value="never", width=6))
        .with_panel(stat_panel(
            "Backup duration", "How long the last run took (dump, Grafana's copy, silences, TSDB if asked).",
            [Q(f"max(promethoide_backup_duration_seconds{{{BACKUP}}})", "duration", instant=True)], unit="s",
            width=6))
        .with_panel(stat_panel(
            "Backup size", "Size on disk of the last good backup.",
            [Q(f"max(promethoide_backup_size_bytes{{{BACKUP}}})", "size", instant=True)], unit="bytes", width=6))
    )


def build() -> dashboard.Dashboard:
    """The PostgreSQL dashboard."""
    board = new_dashboard(
        "postgres", "Promethoide / PostgreSQL",
        "The database behind the API, from postgres-exporter: up, connections against the limit, transactions, "
        "cache hit ratio, locks, deadlocks, size, and the last backup.",
    ).with_variable(
        query_variable("datname", "Database",
                       f'label_values(pg_database_size_bytes{{job="postgres", datname!~"{TEMPLATES}"}}, datname)'))
    return _backups(_work(_activity(_health(board))))
