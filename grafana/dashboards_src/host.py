"""Host dashboard, from node-exporter: CPU, memory, swap, disks, filesystems, network and load, per site.

Every site sends its host's node-exporter series (the centre's node job labels them `site: centre`,
remote sites' agents `site: NAME`): the `site` variable lists them, and the Summary, CPU and memory
and Storage rows repeat once per selected site, so that no gauge averages two machines and no stack
adds one host's memory to another's. The Remote sites row compares the sites, one series each.

Memory and filesystem tiles take their query and threshold from the HostMemoryLow and
HostDiskAlmostFull rules (prometheus/alerts.yaml): a tile turns red exactly where its alert fires.
"""

from grafana_foundation_sdk.builders import dashboard

from .common import (RATE, GREEN, NOT_DISK_DEVICES, ORANGE, RED, YELLOW, Q, bars_panel, gauge_panel, new_dashboard,
                     latency_axis, query_variable, right_axis, row, soft_range, stat_panel, steps, threshold_lines,
                     timeseries_panel)
from .rules import condition

# The sites whose hosts this dashboard shows: every site's node-exporter, up or not (a site whose
# exporter is down is still listed, its panels then empty and its ExporterDown alert firing).
SITE_VARIABLE = 'label_values(up{job="node"}, site)'
SITE = 'site=~"$site"'
NODE = f'job="node", {SITE}, instance=~"$instance"'
DEVICES = f'{NODE}, device!~"{NOT_DISK_DEVICES}"'
ALERT_SELECTOR = 'job="node"'
# No rule watches CPU: busy is normal under load; these colours only draw the eye.
CPU_THRESHOLDS = steps((None, GREEN), (0.8, YELLOW), (0.9, RED))
_MEMORY = condition("HostMemoryLow")    # available / total < threshold
_DISK = condition("HostDiskAlmostFull")  # available / size < threshold, writable real filesystems
# Prometheus's own disk is warned about earlier: orange where PrometheusStorageAlmostFull fires.
_PROMETHEUS_DISK = condition("PrometheusStorageAlmostFull")
MEMORY_THRESHOLDS = steps((None, GREEN), (round(1 - _MEMORY.threshold, 6), RED))
DISK_THRESHOLDS = steps((None, GREEN), (round(1 - _PROMETHEUS_DISK.threshold, 6), ORANGE),
                        (round(1 - _DISK.threshold, 6), RED))
# Load per core: above 1, tasks wait for a CPU.
LOAD_THRESHOLDS = steps((None, GREEN), (1, YELLOW), (2, RED))


def _narrow(query: str, selector: str) -> str:
    """The rule's query with its `job="node"` selector replaced by `selector` (a dashboard's variables)."""
    return query.replace(ALERT_SELECTOR, selector)


def cpu_busy(selector: str) -> str:
    """Share of CPU time not idle, averaged over every core."""
    return f'1 - avg(rate(node_cpu_seconds_total{{{selector}, mode="idle"}}{RATE}))'


def memory_used(selector: str) -> str:
    """1 - MemAvailable / MemTotal, the HostMemoryLow rule's query turned into "used"."""
    return f"max(1 - ({_narrow(_MEMORY.query, selector)}))"


def disk_used(selector: str, *, aggregate: bool = False) -> str:
    """Share used per writable real filesystem (the HostDiskAlmostFull rule's series), or the fullest one."""
    used = f"1 - ({_narrow(_DISK.selected, selector)})"
    return f"max({used})" if aggregate else used


def per_site(title: str) -> dashboard.Row:
    """A row repeated once per selected site: its panels' `$site` is that one site."""
    return row(f"{title}: $site").repeat("site")


def _summary(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """CPU, memory and fullest disk as gauges, load per core; uptime and cores as plain numbers."""
    return (
        board.with_row(per_site("Summary"))
        .with_panel(gauge_panel(
            "CPU busy", "Share of CPU time not idle, all cores.",
            [Q(cpu_busy(NODE), "busy", instant=True)], unit="percentunit", thresholds=CPU_THRESHOLDS, width=4))
        .with_panel(gauge_panel(
            "Memory used", "1 - MemAvailable / MemTotal; red where HostMemoryLow fires.",
            [Q(memory_used(NODE), "used", instant=True)], unit="percentunit", thresholds=MEMORY_THRESHOLDS,
            width=4))
        .with_panel(gauge_panel(
            "Fullest filesystem", "The most used writable real filesystem; red where HostDiskAlmostFull fires.",
            [Q(disk_used(NODE, aggregate=True), "used", instant=True)], unit="percentunit",
            thresholds=DISK_THRESHOLDS, width=4))
        .with_panel(stat_panel(
            "Load per core", "1-minute load average over the core count: above 1, tasks wait for a CPU.",
            [Q(f'max(node_load1{{{NODE}}}) / count(node_cpu_seconds_total{{{NODE}, mode="idle"}})', "load/core",
               instant=True)], unit="none", thresholds=LOAD_THRESHOLDS, width=4, height=6))
        .with_panel(stat_panel(
            "Uptime", "Time since the host booted.",
            [Q(f"time() - max(node_boot_time_seconds{{{NODE}}})", "uptime", instant=True)], unit="s",
            width=4, height=3))
        .with_panel(stat_panel(
            "CPU cores", "Cores seen by node-exporter: the scale for the load average.",
            [Q(f'count(node_cpu_seconds_total{{{NODE}, mode="idle"}})', "cores", instant=True)], width=2,
            height=3, decimals=0))
        .with_panel(stat_panel(
            "Memory total", "MemTotal: the size the percentages are of.",
            [Q(f"max(node_memory_MemTotal_bytes{{{NODE}}})", "total", instant=True)], unit="bytes", width=2,
            height=3))
    )


def _cpu_memory(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """CPU by mode, memory and swap, load."""
    return (
        board.with_row(per_site("CPU and memory"))
        .with_panel(soft_range(timeseries_panel(
            "CPU by mode", "Share of CPU time per mode, averaged over cores (idle left out).",
            [Q(f'avg by (mode) (rate(node_cpu_seconds_total{{{NODE}, mode!="idle"}}{RATE}))', "{{mode}}")],
            "percentunit", stacked=True), soft_max=1))
        .with_panel(timeseries_panel(
            "Memory", "Used (total - available) and available memory, stacked to the total.",
            [Q(f"node_memory_MemTotal_bytes{{{NODE}}} - node_memory_MemAvailable_bytes{{{NODE}}}", "used"),
             Q(f"node_memory_MemAvailable_bytes{{{NODE}}}", "available")], "bytes", stacked=True))
        .with_panel(right_axis(timeseries_panel(
            "Swap", "Swap used (left) and pages swapped in and out per second (right): steady swapping means "
            "memory is short even when 'available' looks fine.",
            [Q(f"node_memory_SwapTotal_bytes{{{NODE}}} - node_memory_SwapFree_bytes{{{NODE}}}", "used"),
             Q(f"rate(node_vmstat_pswpin{{{NODE}}}{RATE})", "swapped in/s"),
             Q(f"rate(node_vmstat_pswpout{{{NODE}}}{RATE})", "swapped out/s")], "bytes"), ".*/s$", unit="ops"))
        .with_panel(timeseries_panel(
            "Load per core", "Runnable tasks over 1, 5 and 15 minutes, divided by the core count: 1 = every core "
            "busy.",
            [Q(f'node_load{m}{{{NODE}}} / on (site, instance) count by (site, instance) (node_cpu_seconds_total{{{NODE}, '
               f'mode="idle"}})', f"{m}m") for m in (1, 5, 15)], "none"))
    )


def _storage(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Filesystems (space and inodes), disk throughput, IOPS, latency and busy time (real disks only)."""
    return (
        board.with_row(per_site("Storage"))
        .with_panel(bars_panel(
            "Filesystem used", "Share used per writable real filesystem; red where HostDiskAlmostFull fires.",
            [Q(disk_used(NODE), "{{mountpoint}}", instant=True)], unit="percentunit", thresholds=DISK_THRESHOLDS,
            maximum=1, width=8))
        .with_panel(bars_panel(
            "Filesystem size", "Size of each of those filesystems: the total the percentages are of.",
            [Q(f"node_filesystem_size_bytes{{{NODE}}} and on (site, instance, mountpoint) "
               f"({_narrow(_DISK.selected, NODE)})", "{{mountpoint}}", instant=True)], unit="bytes", width=8))
        .with_panel(bars_panel(
            "Inodes used", "Share of inodes used per filesystem: a disk can be 'full' with space left.",
            [Q(f"1 - node_filesystem_files_free{{{NODE}}} / node_filesystem_files{{{NODE}}} and on (site, "
               f"instance, mountpoint) ({_narrow(_DISK.selected, NODE)})", "{{mountpoint}}", instant=True)],
            unit="percentunit", thresholds=DISK_THRESHOLDS, maximum=1, width=8))
        .with_panel(timeseries_panel(
            "Disk throughput", "Bytes read and written per device (RAM disks and loop devices left out).",
            [Q(f"rate(node_disk_read_bytes_total{{{DEVICES}}}{RATE})", "{{device}} read"),
             Q(f"rate(node_disk_written_bytes_total{{{DEVICES}}}{RATE})", "{{device}} written")], "Bps", width=8))
        .with_panel(timeseries_panel(
            "Disk IOPS", "Reads and writes completed per second per device.",
            [Q(f"rate(node_disk_reads_completed_total{{{DEVICES}}}{RATE})", "{{device}} reads"),
             Q(f"rate(node_disk_writes_completed_total{{{DEVICES}}}{RATE})", "{{device}} writes")], "iops",
            width=8))
        .with_panel(timeseries_panel(
            "Disk latency", "Mean time per read and per write: time spent over operations completed.",
            [Q(f"rate(node_disk_read_time_seconds_total{{{DEVICES}}}{RATE}) / "
               f"rate(node_disk_reads_completed_total{{{DEVICES}}}{RATE})", "{{device}} read"),
             Q(f"rate(node_disk_write_time_seconds_total{{{DEVICES}}}{RATE}) / "
               f"rate(node_disk_writes_completed_total{{{DEVICES}}}{RATE})", "{{device}} write")], "s", width=8))
        .with_panel(soft_range(timeseries_panel(
            "Disk busy", "Share of time each device was busy with I/O (near 100%: saturated).",
            [Q(f"rate(node_disk_io_time_seconds_total{{{DEVICES}}}{RATE})", "{{device}}")], "percentunit",
            width=8), soft_max=1))
        .with_panel(timeseries_panel(
            "Network", "Bytes received and sent per interface (loopback excluded).",
            [Q(f'rate(node_network_receive_bytes_total{{{NODE}, device!="lo"}}{RATE})', "{{device}} in"),
             Q(f'rate(node_network_transmit_bytes_total{{{NODE}, device!="lo"}}{RATE})', "{{device}} out")], "Bps",
            width=16))
    )


# Remote sites' agents (site/): what SiteSilent, SiteRemoteWriteFailing and SiteRemoteWriteBehind watch.
_BEHIND = condition("SiteRemoteWriteBehind")
AGENT = f'job="prometheus-agent", {SITE}'
# The centre has no agent: without a remote site among those chosen these panels are empty, and say why.
NO_AGENT = "no remote site selected"


def _remote_sites(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Every site's last sample, and its agent's remote write: rejected samples and how far behind."""
    return (
        board.with_row(row("Remote sites"))
        .with_panel(timeseries_panel(
            "Site last seen", "Seconds since the newest sample of each site (the centre included) reached "
            "Prometheus; SiteSilent fires when a site seen in the last day has sent nothing for a minute.",
            [Q(f'time() - max by (site) (timestamp(up{{{SITE}}}))', "{{site}}")], "s", width=8))
        .with_panel(timeseries_panel(
            "Remote write rejected", "Samples per second a site's agent gave up on (the centre refused them: "
            "lost); SiteRemoteWriteFailing fires on any.",
            [Q(f"sum by (site) (rate(prometheus_remote_storage_samples_failed_total{{{AGENT}}}{RATE}))", "{{site}}")],
            "short", width=8).no_value(NO_AGENT))
        .with_panel(latency_axis(threshold_lines(timeseries_panel(
            "Remote write behind", "How far each site's agent's sending trails its newest sample; "
            "SiteRemoteWriteBehind fires above the dashed line for ten minutes.",
            [Q(f"max by (site) (max_over_time(prometheus_remote_storage_highest_timestamp_in_seconds{{{AGENT}}}"
               f"{RATE}) - ignoring (remote_name, url) group_right max_over_time("
               f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{AGENT}}}{RATE}))", "{{site}}")],
            "s", width=8).no_value(NO_AGENT), steps((None, GREEN), (_BEHIND.threshold, RED))), _BEHIND.threshold))
    )


def build() -> dashboard.Dashboard:
    """The host dashboard."""
    board = new_dashboard(
        "host", "Promethoide / Host",
        "Every site's host (the centre's, the machine the stack runs on, and each remote site's), from "
        "node-exporter: CPU, memory, swap, disks, filesystems, network, load; one set of rows per site.",
    ).with_variable(query_variable("site", "Site", SITE_VARIABLE)).with_variable(
        query_variable("instance", "Host", f'label_values(up{{job="node", {SITE}}}, instance)'))
    return _remote_sites(_storage(_cpu_memory(_summary(board))))
