"""PostgreSQL dashboard, from postgres-exporter: up, connections, transactions, cache, locks, size.

Only metrics that Debian's exporter (0.11) and the image (0.20) both expose, aggregated so that the
labels they disagree on (0.11 adds `server`, 0.20 adds `datid` and activity details) never matter.
"""

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, GREEN, ORANGE, RED, UP_DOWN, YELLOW, Q, gauge_panel, new_dashboard, query_variable, row,
                     stat_panel, steps, timeseries_panel)

PG = 'job="postgres"'
DB = f'{PG}, datname=~"$datname"'
CONNECTIONS = f"sum(pg_stat_database_numbackends{{{PG}}})"
MAX_CONNECTIONS = f"max(pg_settings_max_connections{{{PG}}})"


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
            [Q(f"{CONNECTIONS} / {MAX_CONNECTIONS}", "used", instant=True)], unit="percentunit",
            thresholds=steps((None, GREEN), (0.7, YELLOW), (0.85, RED))))
        .with_panel(gauge_panel(
            "Cache hit ratio", "Blocks found in shared buffers over blocks needed, over the time range.",
            [Q(f"sum(increase(pg_stat_database_blks_hit{{{DB}}}[$__range])) / (sum(increase("
               f"pg_stat_database_blks_hit{{{DB}}}[$__range])) + sum(increase(pg_stat_database_blks_read{{{DB}}}"
               f"[$__range])))", "hit ratio", instant=True)], unit="percentunit",
            thresholds=steps((None, RED), (0.9, YELLOW), (0.99, GREEN))))
        .with_panel(stat_panel(
            "Deadlocks", "Deadlocks detected over the time range.",
            [Q(f"sum(increase(pg_stat_database_deadlocks{{{DB}}}[$__range]))", "deadlocks", instant=True)],
            thresholds=steps((None, GREEN), (1, ORANGE)), width=6, height=6))
    )


def _activity(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Connections against the limit, transactions, cache hits, locks, deadlocks and size over time."""
    return (
        board.with_row(row("Activity"))
        .with_panel(timeseries_panel(
            "Connections against max_connections", "Connected backends and the server's limit.",
            [Q(CONNECTIONS, "connections"), Q(MAX_CONNECTIONS, "max_connections")], "short"))
        .with_panel(timeseries_panel(
            "Connections by state", "From pg_stat_activity: active, idle, idle in transaction...",
            [Q(f"sum by (state) (pg_stat_activity_count{{{DB}}})", "{{state}}")], "short", stacked=True))
        .with_panel(timeseries_panel(
            "Transactions per second", "Commits and rollbacks per database.",
            [Q(f"sum by (datname) (rate(pg_stat_database_xact_commit{{{DB}}}{RATE}))", "{{datname}} commit"),
             Q(f"sum by (datname) (rate(pg_stat_database_xact_rollback{{{DB}}}{RATE}))", "{{datname}} rollback")],
            "ops"))
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
            [Q(f"sum by (datname) (increase(pg_stat_database_deadlocks{{{DB}}}{RATE}))", "{{datname}}")], "short"))
        .with_panel(timeseries_panel(
            "Database size", "On-disk size of each database.",
            [Q(f"sum by (datname) (pg_database_size_bytes{{{DB}}})", "{{datname}}")], "bytes", width=24))
    )


def build() -> dashboard.Dashboard:
    """The PostgreSQL dashboard."""
    board = new_dashboard(
        "postgres", "Promethoide / PostgreSQL",
        "The database behind the API, from postgres-exporter: up, connections against the limit, transactions, "
        "cache hit ratio, locks, deadlocks, size.",
    ).with_variable(
        query_variable("datname", "Database", 'label_values(pg_database_size_bytes{job="postgres"}, datname)'))
    return _activity(_health(board))
