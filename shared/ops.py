"""Operator endpoints every service serves (operator API key required)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shared.security import require_client
from shared.settings import ServiceSettings


def operator_router(settings: ServiceSettings) -> APIRouter:
    operator = require_client(lambda: {"operator": settings.operator_api_key})
    router = APIRouter(prefix="/v1/ops", tags=["operations"])

    @router.get("/consumers")
    async def consumers(request: Request, _: Annotated[str, Depends(operator)]) -> list[dict[str, Any]]:
        """Each consumer's group, state and, when it halted itself, why."""
        return [
            {"group_id": c.group_id, "state": c.state, "halt_reason": c.halt_reason}
            for c in request.app.state.runtime.consumers
        ]

    return router
