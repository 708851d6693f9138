"""Event ingestion: other systems push touchpoints and stage changes, up to 10,000 a request.

The items are `truce import`'s columns under its rules (truce.services.ingest): all or
nothing, idempotent by external id. A bad item is answered with 422 and the path of each
bad field (body.items.42.occurred_at); nothing is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request

from truce.web.api_common import api_router, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import IngestOut, StageChangeBatch, TouchpointBatch

router = api_router(tags=["ingestion"])
Pusher = Annotated[Caller, Depends(allowed("ingest_events"))]


def _cells(item) -> dict[str, str]:
    """An item as the text cells of an import row."""
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else str(value)
        for name, value in item.model_dump(exclude_none=True).items()
    }


def _ingest(request: Request, who: Caller, table: str, items: list) -> dict:
    from truce.services.ingest import ingest

    return ingest(store(request), settings(request), table, [_cells(i) for i in items], who.who.email)


@router.post(
    "/ingest/touchpoints",
    summary="Push touches (as `truce import touchpoints`): all or nothing, idempotent by external_id",
    response_model=IngestOut,
)
def ingest_touchpoints(request: Request, who: Pusher, body: TouchpointBatch):
    return _ingest(request, who, "touchpoints", body.items)


@router.post(
    "/ingest/stage-changes",
    summary="Push stage moves into the ledger (as `truce import stage-changes`): all or nothing, idempotent",
    response_model=IngestOut,
)
def ingest_stage_changes(request: Request, who: Pusher, body: StageChangeBatch):
    return _ingest(request, who, "stage_changes", body.items)
