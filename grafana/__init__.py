"""Grafana for Promethoide: dashboards as code (dashboards_src) and the files Grafana provisions."""
