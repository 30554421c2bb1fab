"""Loyalty service."""
