"""Sentiment service."""
