"""Every panel and variable query, as Grafana sends it, parses and evaluates on a real Prometheus.

The Prometheus here (Debian's 2.42) has no data: this proves syntax and evaluation. The twin's tests
reuse tests/grafana/queries.py against its live Prometheus for "data in every panel".
"""

import pytest

from tests.grafana.queries import (PanelQuery, PromQL, QueryError, Window, interval_variables, panel_queries,
                                   substitute, variable_queries)

PANELS = panel_queries()
VARIABLES = variable_queries()


@pytest.fixture(scope="module")
def prom(prometheus_url: str) -> PromQL:
    return PromQL(prometheus_url)


# ---------------------------------------------------------------------------------------------
# Grafana's variables


def test_interval_variables_follow_grafana() -> None:
    # 1 h at a 60 s step with a 15 s scrape: $__rate_interval = max(60 + 15, 4 x 15) = 75 s.
    assert interval_variables(Window()) == {
        "__interval_ms": "60000", "__interval": "60s", "__rate_interval_ms": "75000", "__rate_interval": "75s",
        "__range_ms": "3600000", "__range_s": "3600", "__range": "3600s",
    }
    assert Window(step_s=15).rate_interval_s == 60


def test_longest_names_first_and_every_syntax() -> None:
    expr = "rate(x{i=~\"$instance\", j=~\"${instance:regex}\", k=~\"[[instance]]\"}[$__rate_interval]) * $__interval_ms"
    assert substitute(expr, Window(), {"instance": ".+"}) == 'rate(x{i=~".+", j=~".+", k=~".+"}[75s]) * 60000'


def test_a_variable_is_not_a_prefix_of_another() -> None:
    assert substitute("$a + $ab", Window(), {"a": "1", "ab": "2"}) == "1 + 2"


def test_a_leftover_variable_fails() -> None:
    with pytest.raises(QueryError, match="unresolved"):
        substitute('up{job=~"$job"}', Window(), {})


def test_there_is_something_to_check() -> None:
    assert len(PANELS) > 80 and len(VARIABLES) >= 6
    assert {query.dashboard for query in PANELS} == {
        "promethoide-overview", "promethoide-api", "promethoide-postgres", "promethoide-host",
        "promethoide-apache", "promethoide-probes", "promethoide-smoke", "promethoide-slo"}


# ---------------------------------------------------------------------------------------------
# On Debian's Prometheus


def test_a_syntax_error_is_a_failure(prom: PromQL) -> None:
    broken = PanelQuery("d", 1, "p", "A", "sum(rate(up[$__rate_interval])", instant=False, range=True)
    with pytest.raises(QueryError, match="bad_data"):
        prom.evaluate_panel(broken)


def test_an_unknown_function_is_a_failure(prom: PromQL) -> None:
    broken = PanelQuery("d", 1, "p", "A", "holt_winter(up[5m], 0.5, 0.5)", instant=True, range=False)
    with pytest.raises(QueryError, match="bad_data"):
        prom.evaluate_panel(broken)


@pytest.mark.parametrize("query", PANELS, ids=str)
def test_panel_query_evaluates(prom: PromQL, query: PanelQuery) -> None:
    prom.evaluate_panel(query)


@pytest.mark.parametrize("query", VARIABLES, ids=str)
def test_variable_query_evaluates(prom: PromQL, query: object) -> None:
    prom.evaluate_variable(query)  # type: ignore[arg-type]
