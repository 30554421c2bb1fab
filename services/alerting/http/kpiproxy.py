"""The console's Insights page reads KPIs through here: a same-origin proxy to the insights service.

As with member lookup, the session cookie guards it like every other console call, insights needs no CORS
opening and its address need not be reachable from people's browsers. Only the KPI query parameters pass;
the insights service's answers (including its 422s naming a parameter) are passed back as they are. The
routes stay out of alerting's OpenAPI document: their contract is insights' GET /v1/kpis, documented and
fuzzed there.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from services.alerting.http.deps import SettingsDep
from services.alerting.http.session import operator_or_session

PARAMETERS = frozenset(
    {"metric", "interval", "from", "to", "group_by", "compare", "cursor", "limit"}
    | {"business_line", "channel", "region", "store_id", "tier", "aspect", "level"}
)
router = APIRouter(prefix="/console/api", tags=["console"], dependencies=[Depends(operator_or_session)])


@router.get("/kpis", include_in_schema=False)
async def kpis(request: Request, settings: SettingsDep) -> JSONResponse:
    """GET /v1/kpis of the insights service (same parameters, same answer)."""
    return await _forward("/v1/kpis", request, settings)


@router.get("/kpis/records", include_in_schema=False)
async def kpi_records(request: Request, settings: SettingsDep) -> JSONResponse:
    """GET /v1/kpis/records of the insights service: the records behind a cell."""
    return await _forward("/v1/kpis/records", request, settings)


async def _forward(path: str, request: Request, settings: SettingsDep) -> JSONResponse:
    params = httpx.QueryParams([(k, v) for k, v in request.query_params.multi_items() if k in PARAMETERS])
    key = settings.insights_api_key or settings.operator_api_key
    try:
        async with httpx.AsyncClient(base_url=settings.insights_url, timeout=10.0) as client:
            answer = await client.get(path, params=params, headers={"X-API-Key": key.get_secret_value()})
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise HTTPException(503, "the insights service is unavailable", headers={"Retry-After": "5"}) from exc
    if answer.status_code >= 500 or answer.status_code in (401, 403):
        # A refused key is this deployment's misconfiguration, not the caller's: no 401 to the browser.
        raise HTTPException(503, "the insights service is unavailable", headers={"Retry-After": "5"})
    return JSONResponse(body, status_code=answer.status_code)
