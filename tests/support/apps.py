"""Service apps as unit tests drive them, without their lifespan."""

from __future__ import annotations


class Untouchable:
    """Stands in for a service's runtime where a test asserts that requests are answered before any
    database or broker access: touching it fails the test."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the request reached the runtime ({name})")
