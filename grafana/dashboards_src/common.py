"""Building blocks shared by every dashboard: the datasource, queries, panels and the final JSON."""

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, gauge, prometheus, stat, text, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import text as text_models

# Every rate() window: Grafana derives it from the step and the datasource's scrape interval.
RATE = "[$__rate_interval]"
# The API's request counter is its latency histogram's count (labels handler, method, status), as
# api/app/metrics.py exposes it; requests that matched no route carry handler="none".
REQUESTS = "http_request_duration_seconds_count"

# The uid pinned in provisioning/datasources/prometheus.yaml. Naming it here, never a ${DS_...}
# placeholder: file provisioning does not resolve those, every panel would say "No data".
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="promethoide-prometheus")
GRAFANA_BUILTIN = models.DataSourceRef(type_val="grafana", uid="-- Grafana --")

# Every dashboard carries this tag: the link menu at the top of each one lists them all.
TAG = "promethoide"

UIDS = {
    "overview": "promethoide-overview",
    "api": "promethoide-api",
    "postgres": "promethoide-postgres",
    "host": "promethoide-host",
    "apache": "promethoide-apache",
    "probes": "promethoide-probes",
    "smoke": "promethoide-smoke",
    "slo": "promethoide-slo",
    "runbooks": "promethoide-runbooks",
}

# Filesystems that are not disks: excluded from disk panels and the disk alert alike.
NOT_DISKS = ".*tmpfs|squashfs|overlay|nsfs|fuse.*|nfs.*"
# Block devices that are not disks: RAM disks, compressed swap in RAM, loop images, floppies. Disk I/O
# panels leave them out (node-exporter's own default excludes only some of them).
NOT_DISK_DEVICES = "ram.*|zram.*|loop.*|fd.*"

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"
# Grafana's default text colour: an informational number, neither healthy nor unhealthy.
NEUTRAL = "text"
# Every panel that splits by HTTP status class paints the classes alike (legends contain the class).
STATUS_COLOURS = {"2xx": GREEN, "3xx": BLUE, "4xx": YELLOW, "5xx": RED}


@dataclass(frozen=True)
class Q:
    """One PromQL target: its expression, legend and whether Grafana asks for one instant or a range."""

    expr: str
    legend: str = "__auto"
    instant: bool = False


def dashboard_url(key: str, keep_time: bool = True) -> str:
    """The path of a Promethoide dashboard; panel links can carry the current time range along."""
    return f"/d/{UIDS[key]}?${{__url_time_range}}" if keep_time else f"/d/{UIDS[key]}"


def _targets(queries: list[Q]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    """Prometheus targets with refIds A, B, C... and the datasource pinned on each."""
    built: list[cogbuilder.Builder[cogvariants.Dataquery]] = []
    for index, q in enumerate(queries):
        target = prometheus.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + index))
        target = target.datasource(DATASOURCE)
        built.append(target.instant() if q.instant else target.range())
    return built


def steps(*pairs: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds from (value, colour) pairs; the first value is None (the base colour)."""
    return dashboard.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(
        [models.Threshold(value=value, color=color) for value, color in pairs]
    )


Mappings = list[models.ValueMap | models.RangeMap | models.RegexMap | models.SpecialValueMap]


def value_text(mapping: dict[str, tuple[str, str]]) -> Mappings:
    """Value mappings {value: (text, colour)}, e.g. 1 -> UP in green."""
    return [models.ValueMap(options={
        value: models.ValueMappingResult(text=label, color=color, index=index)
        for index, (value, (label, color)) in enumerate(mapping.items())
    })]


UP_DOWN = value_text({"1": ("UP", GREEN), "0": ("DOWN", RED)})
PASS_FAIL = value_text({"1": ("PASS", GREEN), "0": ("FAIL", RED)})


def _link(title: str, url: str) -> dashboard.DashboardLink:
    """A panel link to another dashboard."""
    return dashboard.DashboardLink(title).type(models.DashboardLinkType.LINK).url(url)


def timeseries_panel(title: str, description: str, queries: list[Q], unit: str, *, width: int = 12,
                     height: int = 8, stacked: bool = False) -> timeseries.Panel:
    """A time series panel: lines, a light fill, the legend listed under it."""
    panel = (
        timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
        .targets(_targets(queries)).unit(unit).span(width).height(height)
        .fill_opacity(25 if stacked else 10).line_width(1).show_points(common_models.VisibilityMode.NEVER)
        .legend(common.VizLegendOptions().display_mode(common_models.LegendDisplayMode.LIST)
                .placement(common_models.LegendPlacement.BOTTOM).show_legend(True))
        .tooltip(common.VizTooltipOptions().mode(common_models.TooltipDisplayMode.MULTI)
                 .sort(common_models.SortOrder.DESCENDING))
    )
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    return panel


def threshold_lines(panel: timeseries.Panel, thresholds: dashboard.ThresholdsConfig) -> timeseries.Panel:
    """Draw `thresholds` as dashed lines on a time series panel (objectives, limits)."""
    return panel.thresholds(thresholds).thresholds_style(
        common.GraphThresholdsStyleConfig().mode(common_models.GraphThresholdsStyleMode.DASHED))


def stat_panel(title: str, description: str, queries: list[Q], *, unit: str = "none",
               thresholds: dashboard.ThresholdsConfig | None = None, mappings: Mappings | None = None,
               width: int = 4, height: int = 4, link: tuple[str, str] | None = None,
               no_value: str | None = None, decimals: int | None = None) -> stat.Panel:
    """A big single number (the last value), optionally linking elsewhere.

    With `thresholds` (or colour-carrying `mappings`) it is a health tile, its background coloured;
    without, it is informational (requests/s, uptime, cores) and stays the neutral text colour: a
    number that is not judged must not look healthy. `decimals=0` for counts.
    """
    judged = thresholds is not None or mappings is not None
    panel = (
        stat.Panel().title(title).description(description).datasource(DATASOURCE)
        .targets(_targets(queries)).unit(unit).span(width).height(height)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common_models.BigValueColorMode.BACKGROUND if judged else common_models.BigValueColorMode.NONE)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .thresholds(thresholds or steps((None, NEUTRAL)))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(mappings)
    if link:
        panel = panel.links([_link(*link)])
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel


def gauge_panel(title: str, description: str, queries: list[Q], *, unit: str,
                thresholds: dashboard.ThresholdsConfig, minimum: float = 0, maximum: float = 1,
                width: int = 6, height: int = 6) -> gauge.Panel:
    """A gauge between `minimum` and `maximum` with coloured bands."""
    return (
        gauge.Panel().title(title).description(description).datasource(DATASOURCE)
        .targets(_targets(queries)).unit(unit).min(minimum).max(maximum).span(width).height(height)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds).show_threshold_markers(True)
    )


def bars_panel(title: str, description: str, queries: list[Q], *, unit: str,
               thresholds: dashboard.ThresholdsConfig | None = None, maximum: float | None = None,
               width: int = 12, height: int = 8) -> bargauge.Panel:
    """Horizontal bars, one per series (per route, per reason...), each its last value."""
    panel = (
        bargauge.Panel().title(title).description(description).datasource(DATASOURCE)
        .targets(_targets(queries)).unit(unit).min(0).span(width).height(height)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds or steps((None, BLUE)))
    )
    return panel.max(maximum) if maximum is not None else panel


def text_panel(title: str, markdown: str, *, width: int = 24, height: int = 3) -> text.Panel:
    """Markdown: what a dashboard shows and where to go next."""
    return text.Panel().title(title).mode(text_models.TextMode.MARKDOWN).content(markdown).span(width).height(height)


def row(title: str) -> dashboard.Row:
    """A row header; the panels added after it belong to it."""
    return dashboard.Row(title)


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> dashboard.QueryVariable:
    """A variable listing label values from Prometheus, refreshed with the time range.

    Multi-value and "All" expand to a regex: queries must match them with =~, never =.
    """
    variable = (
        dashboard.QueryVariable(name).label(label).datasource(DATASOURCE).query(query)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(models.VariableSort.ALPHABETICAL_ASC)
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".+")
    return variable


def new_dashboard(key: str, title: str, description: str) -> dashboard.Dashboard:
    """A Promethoide dashboard: pinned uid, last hour, refreshed every 30 s, linked to its siblings."""
    return (
        dashboard.Dashboard(title).uid(UIDS[key]).description(description).tags([TAG])
        .editable().time("now-1h", "now").refresh("30s").timezone("browser")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .annotation(
            dashboard.AnnotationQuery().name("Annotations & Alerts").datasource(GRAFANA_BUILTIN)
            .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)").type("dashboard").built_in(1)
        )
        .link(
            dashboard.DashboardLink("Promethoide").type(models.DashboardLinkType.DASHBOARDS).tags([TAG])
            .as_dropdown(True).keep_time(True).include_vars(False)
        )
    )


def _number_panels(panels: list[Any]) -> None:
    """Give every panel (rows and the panels inside collapsed rows too) a unique id, in reading order."""
    next_id = 1
    for panel in panels:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1


def to_json(builder: dashboard.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, panels numbered."""
    model = builder.build()
    _number_panels(model.panels or [])
    return json.loads(json.dumps(model, cls=JSONEncoder))  # type: ignore[no-any-return]


def _set(id_val: str, value: Any) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val=id_val, value=value)


def status_colours(panel: timeseries.Panel) -> timeseries.Panel:
    """Fixed colours per HTTP status class (5xx red everywhere), matched anywhere in the series name."""
    for status, colour in STATUS_COLOURS.items():
        panel = panel.override_by_regexp(f".*{status}.*", [_set("color", {"mode": "fixed", "fixedColor": colour})])
    return panel


def soft_range(panel: timeseries.Panel, *, soft_min: float | None = 0, soft_max: float | None = None,
               ) -> timeseries.Panel:
    """Soft axis limits: the axis reaches at least this far, further when the data does.

    Grafana's auto-scale ignores thresholds (an objective line at 250 ms never shows under 5 ms
    latencies): a soft maximum at the objective keeps the line, and the data under it, in view.
    """
    if soft_min is not None:
        panel = panel.axis_soft_min(soft_min)
    if soft_max is not None:
        panel = panel.axis_soft_max(soft_max)
    return panel


def right_axis(panel: timeseries.Panel, name_regexp: str, unit: str | None = None) -> timeseries.Panel:
    """Move the series whose name matches onto a right-hand axis (their own scale, optionally unit)."""
    properties = [_set("custom.axisPlacement", "right")]
    if unit is not None:
        properties.append(_set("unit", unit))
    return panel.override_by_regexp(name_regexp, properties)


def counts(panel: timeseries.Panel) -> timeseries.Panel:
    """A panel of whole events: no fractional tick labels or values."""
    return panel.decimals(0)


def pass_fail_bars(panel: timeseries.Panel) -> timeseries.Panel:
    """A binary 1 = pass / 0 = fail series as bars coloured by value (not a line between runs)."""
    return (
        panel.draw_style(common_models.GraphDrawStyle.BARS).fill_opacity(80).min(0).max(1).decimals(0)
        .thresholds(steps((None, RED), (1, GREEN)))
        .color_scheme(dashboard.FieldColor().mode(models.FieldColorModeId.THRESHOLDS))
        .mappings(PASS_FAIL)
    )


def latency_axis(panel: timeseries.Panel, objective: float) -> timeseries.Panel:
    """A latency axis where milliseconds and an objective hundreds of times larger both show.

    Logarithmic (base 10), soft limits from 1 ms to the objective: a 3 ms probe and the 1 s line sit
    on one readable axis; a linear axis with the objective in view flattens the milliseconds to zero.
    """
    return soft_range(panel.scale_distribution(
        common.ScaleDistributionConfig().type(common_models.ScaleDistribution.LOG).log(10)),
        soft_min=0.001, soft_max=objective)
