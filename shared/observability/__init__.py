"""Metrics, structured logging and health endpoints shared by every service."""
