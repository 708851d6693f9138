"""The webhook receivers: HubSpot's signed deliveries and Salesforce's outbound messages.

No log-in: each delivery is authenticated by its signature (HubSpot) or by its org id and the
connection's secret in the URL (Salesforce), in truce.services.connectors.webhooks, which also
refuses replays and pulls the changed records before the answer goes back. Refusals are JSON
with the reason (400 malformed, 401 forged or stale, 404 no such connection, 502 the CRM did
not give the records, 503 busy); the vendor retries what was not answered 200.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from truce.services.connectors import webhooks
from truce.web.schemas import ErrorOut

router = APIRouter(prefix="/hooks", tags=["webhooks"])
ConnectionName = Annotated[str, Path(max_length=64, description="The connection's name (`truce connections`)")]
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not a delivery of this CRM; `error` names the problem"},
    401: {"model": ErrorOut, "description": "Forged, stale, from another account, or the wrong key: not taken"},
    404: {"model": ErrorOut, "description": "No such connection, or it was revoked"},
    413: {"model": ErrorOut, "description": "The request body is larger than the server takes (16 MiB)"},
    502: {
        "model": ErrorOut,
        "description": "The CRM did not give the changed records; the delivery was not taken, retry",
    },
    503: {
        "model": ErrorOut,
        "description": "The store was busy or the webhook secret unreadable; nothing taken, retry",
    },
}


@router.post(
    "/hubspot/{connection}",
    summary="HubSpot webhooks (v3 signature): pull the records the events name",
    responses={200: {"description": "Taken: `{connection, events, new, replayed, ignored, pulled}`; "
                                    "events seen before are acknowledged and not pulled again"}, **REFUSALS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "array", "items": {"type": "object"},
        "description": "HubSpot's events: eventId, subscriptionType, objectId, occurredAt, portalId"}}}}},
)  # fmt: skip
async def hubspot(request: Request, connection: ConnectionName) -> Response:
    body = await request.body()
    config = request.app.state.config
    try:
        receipt = await run_in_threadpool(
            webhooks.receive_hubspot, request.app.state.engine, config, connection,
            method=request.method, uri=signed_uri(request, config), body=body,
            signature=request.headers.get("x-hubspot-signature-v3"),
            timestamp=request.headers.get("x-hubspot-request-timestamp"),
        )  # fmt: skip
    except webhooks.WebhookRefused as exc:
        return _refused(exc)
    return JSONResponse(receipt.as_dict())


@router.post(
    "/salesforce/{connection}",
    summary="Salesforce outbound messages: pull the records the notifications name, then acknowledge",
    responses={200: {"description": "The SOAP acknowledgement (`<Ack>true</Ack>`): taken, or seen before",
                     "content": {"text/xml": {"schema": {"type": "string"}}}}, **REFUSALS},
    openapi_extra={"requestBody": {"required": True, "content": {"text/xml": {"schema": {
        "type": "string", "description": "A SOAP envelope with <notifications> (OrganizationId, Notification: Id, sObject)"}}}}},
)  # fmt: skip
async def salesforce(
    request: Request,
    connection: ConnectionName,
    key: Annotated[str | None, Query(max_length=200, description="The connection's webhook secret")] = None,
) -> Response:
    body = await request.body()
    try:
        await run_in_threadpool(
            webhooks.receive_salesforce, request.app.state.engine, request.app.state.config, connection,
            key=key, body=body,
        )  # fmt: skip
    except webhooks.WebhookRefused as exc:
        return _refused(exc)
    return Response(webhooks.ACK, media_type="text/xml")


def signed_uri(request: Request, config) -> str:
    """The URI HubSpot signed: the address it was given for truce. Behind a proxy that is not the
    one this server sees, so `[notify] base_url` (the public address), when set, stands for it."""
    if "base_url" not in config.notify.model_fields_set:
        return str(request.url)
    query = request.url.query
    return config.notify.base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def _refused(exc: webhooks.WebhookRefused) -> JSONResponse:
    answer = JSONResponse({"error": str(exc), "errors": []}, status_code=exc.status)
    if exc.status in (502, 503):
        answer.headers["Retry-After"] = "60"
    return answer
