"""Alerting service."""
