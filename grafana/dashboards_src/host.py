"""Host dashboard, from node-exporter: CPU, memory, disk, network and load of the machine."""

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, GREEN, NOT_DISKS, RED, YELLOW, Q, bars_panel, gauge_panel, new_dashboard, query_variable, row,
                     stat_panel, steps, timeseries_panel)

NODE = 'job="node", instance=~"$instance"'
DISKS = f'{NODE}, fstype!~"{NOT_DISKS}"'
BUSY = steps((None, GREEN), (0.8, YELLOW), (0.9, RED))
MEMORY_USED = f"1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}"
DISK_USED = f"1 - node_filesystem_avail_bytes{{{DISKS}}} / node_filesystem_size_bytes{{{DISKS}}}"


def _summary(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """CPU, memory and fullest disk as gauges, uptime and cores as numbers."""
    return (
        board.with_row(row("Summary"))
        .with_panel(gauge_panel(
            "CPU busy", "Share of CPU time not idle, all cores.",
            [Q(f'1 - avg(rate(node_cpu_seconds_total{{{NODE}, mode="idle"}}{RATE}))', "busy", instant=True)],
            unit="percentunit", thresholds=BUSY, width=5))
        .with_panel(gauge_panel(
            "Memory used", "1 - MemAvailable / MemTotal (the alert fires below 10% available).",
            [Q(f"max({MEMORY_USED})", "used", instant=True)], unit="percentunit", thresholds=BUSY, width=5))
        .with_panel(gauge_panel(
            "Fullest filesystem", "The most used real filesystem (the alert fires below 10% free).",
            [Q(f"max({DISK_USED})", "used", instant=True)], unit="percentunit", thresholds=BUSY, width=5))
        .with_panel(stat_panel(
            "Uptime", "Time since the host booted.",
            [Q(f"time() - max(node_boot_time_seconds{{{NODE}}})", "uptime", instant=True)], unit="s",
            width=5, height=6))
        .with_panel(stat_panel(
            "CPU cores", "Cores seen by node-exporter: the scale for the load average.",
            [Q(f'count(node_cpu_seconds_total{{{NODE}, mode="idle"}})', "cores", instant=True)], width=4, height=6))
    )


def _details(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """CPU by mode, memory, load, filesystems, disk I/O and network over time."""
    return (
        board.with_row(row("Details"))
        .with_panel(timeseries_panel(
            "CPU by mode", "Share of CPU time per mode, averaged over cores (idle left out).",
            [Q(f'avg by (mode) (rate(node_cpu_seconds_total{{{NODE}, mode!="idle"}}{RATE}))', "{{mode}}")],
            "percentunit", stacked=True))
        .with_panel(timeseries_panel(
            "Memory", "Used (total - available) and available memory.",
            [Q(f"node_memory_MemTotal_bytes{{{NODE}}} - node_memory_MemAvailable_bytes{{{NODE}}}", "used"),
             Q(f"node_memory_MemAvailable_bytes{{{NODE}}}", "available")], "bytes", stacked=True))
        .with_panel(timeseries_panel(
            "Load average", "Runnable tasks averaged over 1, 5 and 15 minutes; compare with the core count.",
            [Q(f"node_load1{{{NODE}}}", "1m"), Q(f"node_load5{{{NODE}}}", "5m"),
             Q(f"node_load15{{{NODE}}}", "15m")], "short"))
        .with_panel(bars_panel(
            "Filesystem used", "Share used per mount point (pseudo filesystems excluded).",
            [Q(DISK_USED, "{{mountpoint}}", instant=True)], unit="percentunit", thresholds=BUSY, maximum=1))
        .with_panel(timeseries_panel(
            "Disk I/O", "Bytes read and written per device.",
            [Q(f"rate(node_disk_read_bytes_total{{{NODE}}}{RATE})", "{{device}} read"),
             Q(f"rate(node_disk_written_bytes_total{{{NODE}}}{RATE})", "{{device}} written")], "Bps"))
        .with_panel(timeseries_panel(
            "Disk busy", "Share of time each device was busy with I/O.",
            [Q(f"rate(node_disk_io_time_seconds_total{{{NODE}}}{RATE})", "{{device}}")], "percentunit"))
        .with_panel(timeseries_panel(
            "Network", "Bytes received and sent per interface (loopback excluded).",
            [Q(f'rate(node_network_receive_bytes_total{{{NODE}, device!="lo"}}{RATE})', "{{device}} in"),
             Q(f'rate(node_network_transmit_bytes_total{{{NODE}, device!="lo"}}{RATE})', "{{device}} out")], "Bps",
            width=24))
    )


def build() -> dashboard.Dashboard:
    """The host dashboard."""
    board = new_dashboard(
        "host", "Promethoide / Host",
        "The machine the stack runs on, from node-exporter: CPU, memory, disk, network, load.",
    ).with_variable(query_variable("instance", "Host", 'label_values(up{job="node"}, instance)'))
    return _details(_summary(board))
