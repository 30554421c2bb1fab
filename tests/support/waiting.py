"""One way to wait in a test: poll a condition until it holds or a deadline passes, then say what was
awaited. A test never sleeps and then asserts that nothing happened."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30.0, what: str = "condition"
) -> None:
    """Returns once `check()` (plain or async) is true; AssertionError naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        await asyncio.sleep(0.1)
