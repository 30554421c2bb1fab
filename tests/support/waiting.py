"""One way to wait in a test: poll a condition until it holds or a deadline passes, then say what was
awaited. A test never sleeps and then asserts that nothing happened."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_S = 0.1


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
        await asyncio.sleep(POLL_S)


def eventually_sync(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    """`eventually` for code that must block (a worker thread, a synchronous helper): returns once
    `check()` is true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        time.sleep(POLL_S)
