"""Prometheus for Promethoide: prometheus.yml, the alert and SLO specs, and what is generated from them."""
