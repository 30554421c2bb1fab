"""Operator endpoints every service serves (operator API key required)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from shared.kafka.consumer import State
from shared.security import hash_key, require_client
from shared.settings import ServiceSettings


def require_operator(settings: ServiceSettings) -> Callable[[Request, str | None], Awaitable[str]]:
    """A dependency admitting only the operator API key (401 otherwise)."""
    hashes = {"operator": hash_key(settings.operator_api_key.get_secret_value())}
    return require_client(lambda: hashes)


class ConsumerOut(BaseModel):
    group_id: str
    state: State
    halt_reason: str | None


def operator_router(settings: ServiceSettings) -> APIRouter:
    operator = require_operator(settings)
    router = APIRouter(prefix="/v1/ops", tags=["operations"])

    @router.get("/consumers")
    async def consumers(request: Request, _: Annotated[str, Depends(operator)]) -> list[ConsumerOut]:
        """Each consumer's group, state and, when it halted itself, why."""
        return [
            ConsumerOut(group_id=c.group_id, state=c.state, halt_reason=c.halt_reason)
            for c in request.app.state.runtime.consumers
        ]

    return router
