"""The webhook delivery log of an analysis: each delivery with every try."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from realtone_api.callbacks import webhook_store
from realtone_api.deps import CurrentUser, ServicesDep
from realtone_api.schemas import error_responses
from realtone_core import lifecycle
from realtone_core.webhooks import DeliveryOut

router = APIRouter(
    prefix="/v1/analyses", tags=["analyses"], responses=error_responses(401, 404, 503)
)


class DeliveryListResponse(BaseModel):
    items: list[DeliveryOut]


@router.get("/{analysis_id}/deliveries", response_model=DeliveryListResponse)
def list_deliveries(
    analysis_id: str, user: CurrentUser, services: ServicesDep
) -> DeliveryListResponse:
    try:
        ident = UUID(analysis_id)
    except ValueError as exc:
        raise lifecycle.not_found() from exc
    # Another user's analysis is unknown here too.
    if services.analyses.get(ident, user.id) is None:
        raise lifecycle.not_found()
    return DeliveryListResponse(items=webhook_store(services).for_analysis(ident))
