"""Apache dashboard, from apache-exporter (mod_status): up, requests, workers, scoreboard, traffic."""

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, GREEN, RED, UP_DOWN, YELLOW, Q, gauge_panel, new_dashboard, row, stat_panel,
                     steps, text_panel, timeseries_panel)

APACHE = 'job="apache"'
# Capacity is the scoreboard: ServerLimit x ThreadsPerChild slots (every state, open slots included),
# which is MaxRequestWorkers with the mpm_event defaults apache/httpd.conf keeps (16 x 25 = 400).
# Spawned workers (busy + idle, 100 here) are not the limit: Apache spawns more up to it.
CAPACITY = f"sum(apache_scoreboard{{{APACHE}}})"
BUSY_SHARE = f'sum(apache_workers{{{APACHE}, state="busy"}}) / {CAPACITY}'
ERRORS_NOTE = (
    "mod_status counts no status codes, so this dashboard has no error rate. The front door's errors show "
    "in the [probes](/d/promethoide-probes) (the page and /api through Apache) and in the API's own 5xx "
    "([API dashboard](/d/promethoide-api))."
)


def _summary(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Up, requests/s, worker saturation, uptime."""
    return (
        board.with_row(row("Summary"))
        .with_panel(stat_panel(
            "Apache", "apache_up: the exporter read mod_status. DOWN also when the exporter itself is down.",
            [Q(f"min(apache_up{{{APACHE}}}) or vector(0)", "up", instant=True)],
            thresholds=steps((None, RED), (1, GREEN)), mappings=UP_DOWN, width=6, height=6))
        .with_panel(stat_panel(
            "Requests/s", "Every request Apache served: the page, /api and /delay.",
            [Q(f"sum(rate(apache_accesses_total{{{APACHE}}}{RATE}))", "requests/s", instant=True)], unit="reqps",
            width=6, height=6))
        .with_panel(gauge_panel(
            "Busy workers", "Busy workers over capacity (every scoreboard slot, MaxRequestWorkers): near 100% "
            "new requests queue.",
            [Q(BUSY_SHARE, "busy", instant=True)], unit="percentunit",
            thresholds=steps((None, GREEN), (0.6, YELLOW), (0.8, RED))))
        .with_panel(stat_panel(
            "Uptime", "Time since Apache (re)started.",
            [Q(f"max(apache_uptime_seconds_total{{{APACHE}}})", "uptime", instant=True)], unit="s",
            width=6, height=6))
    )


def _details(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Requests, latency, workers against capacity, scoreboard, connections, CPU and bytes sent over time."""
    return (
        board.with_row(row("Details"))
        .with_panel(text_panel("Errors", ERRORS_NOTE, height=2))
        .with_panel(timeseries_panel(
            "Requests per second", "From mod_status' total accesses.",
            [Q(f"sum(rate(apache_accesses_total{{{APACHE}}}{RATE}))", "requests/s")], "reqps"))
        .with_panel(timeseries_panel(
            "Mean request duration", "Time spent serving over requests served (mod_status' total duration); "
            "/delay, slow by design, pulls it up whenever it is probed.",
            [Q(f"sum(rate(apache_duration_ms_total{{{APACHE}}}{RATE})) / 1000 / "
               f"sum(rate(apache_accesses_total{{{APACHE}}}{RATE}))", "mean")], "s"))
        .with_panel(timeseries_panel(
            "Workers against capacity", "Busy, idle and not yet spawned worker slots, stacked to the capacity "
            "(scoreboard slots): busy reaching the top means requests queue.",
            [Q(f"sum by (state) (apache_workers{{{APACHE}}})", "{{state}}"),
             Q(f"{CAPACITY} - sum(apache_workers{{{APACHE}}})", "not spawned")], "short", stacked=True)
            .decimals(0))
        .with_panel(timeseries_panel(
            "Connections", "Client connections by state (total, and those writing, keep-alive, closing).",
            [Q(f"sum by (state) (apache_connections{{{APACHE}}})", "{{state}}")], "short").decimals(0))
        .with_panel(timeseries_panel(
            "CPU", "CPU seconds per second Apache's processes used, user and system.",
            [Q(f"sum by (type) (rate(apache_cpu_time_ms_total{{{APACHE}}}{RATE})) / 1000", "{{type}}")],
            "percentunit", stacked=True))
        .with_panel(timeseries_panel(
            "Scoreboard", "What each worker slot is doing (open slots left out).",
            [Q(f'sum by (state) (apache_scoreboard{{{APACHE}, state!="open_slot"}})', "{{state}}")], "short",
            stacked=True))
        .with_panel(timeseries_panel(
            "Traffic sent", "Bytes sent to clients (mod_status counts kilobytes of 1024 bytes).",
            [Q(f"sum(rate(apache_sent_kilobytes_total{{{APACHE}}}{RATE})) * 1024", "sent")], "Bps"))
    )


def build() -> dashboard.Dashboard:
    """The Apache dashboard."""
    board = new_dashboard(
        "apache", "Promethoide / Apache",
        "The operator's front door, from apache-exporter (mod_status): up, requests/s, busy and idle workers, "
        "traffic.",
    )
    return _details(_summary(board))
