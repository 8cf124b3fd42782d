"""Tests of the k6-pycron service (scheduler, smoke test, Pushgateway push)."""
