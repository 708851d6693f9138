"""Notifications through the API: one's own inbox and channel choices; failed deliveries for RevOps.

Everyone (`read_own_notifications`) reads and marks their own notifications only: another person's
id is answered 404, like an id that does not exist. RevOps (`manage_notifications`) sees what
failed to go out and which channel is broken (truce.services.notify.revops).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, Field

from truce.web.api_common import api_router, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import MAX_ID, Strict

router = api_router(tags=["notifications"])
Own = Annotated[Caller, Depends(allowed("read_own_notifications"))]
RevOps = Annotated[Caller, Depends(allowed("manage_notifications"))]
NotificationId = Annotated[int, Path(ge=1, le=MAX_ID)]


class NotificationOut(BaseModel):
    id: int
    kind: str
    urgency: str
    subject: str
    text: str
    link: str = Field(description="The path in truce where you act on it")
    url: str | None = Field(description="The same, absolute ([notify] base_url)")
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationsOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class ReadOut(BaseModel):
    id: int
    read_at: dt.datetime


class AllReadOut(BaseModel):
    marked_read: int
    at: dt.datetime


class KindChannels(BaseModel):
    kind: str
    label: str
    urgency: str
    channels: list[str]
    chosen: bool = Field(description="False: the company's default ([notify] default_channels)")


class PreferencesOut(BaseModel):
    user: str
    kinds: list[KindChannels]


class PreferencesIn(Strict):
    channels: dict[str, list[Literal["inbox", "email"]]] = Field(
        description='Event kind → channels, e.g. {"lead_routed": ["inbox", "email"], "mql_pace": []}; kinds left out keep theirs'
    )


class BrokenChannelOut(BaseModel):
    name: str
    broken_since: dt.datetime | None
    broken_until: dt.datetime | None
    error: str | None
    failures: int


class DeliveryOut(BaseModel):
    id: int
    outbox_id: int
    kind: str
    subject: str
    channel: str
    target: str
    user: str | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None
    read_at: dt.datetime | None


class FailedOut(BaseModel):
    broken_channels: list[BrokenChannelOut]
    deliveries: list[DeliveryOut]


@router.get("/notifications", summary="Your notifications, newest first", response_model=NotificationsOut)
def notifications(
    request: Request,
    who: Own,
    unread: Annotated[bool, Query(description="Only those not read yet")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    from truce.services.notify.inbox import notifications as inbox

    return inbox(store(request), settings(request), who.who.id, unread_only=unread, limit=limit)


@router.post("/notifications/read-all", summary="Mark all your notifications read", response_model=AllReadOut)
def read_all(request: Request, who: Own) -> dict:
    from truce.services.notify.inbox import mark_all_read

    return mark_all_read(store(request), who.who.id, actor=who.who.email, origin="api")


@router.post(
    "/notifications/{notification_id}/read", summary="Mark one of your notifications read", response_model=ReadOut
)
def read(request: Request, who: Own, notification_id: NotificationId) -> dict:
    from truce.services.notify.inbox import mark_read

    return mark_read(store(request), who.who.id, notification_id, actor=who.who.email, origin="api")


@router.get("/notifications/failed", summary="Failed deliveries and broken channels (RevOps)", response_model=FailedOut)
def failed(request: Request, who: RevOps) -> dict:
    from truce.services.notify.revops import failed as failed_deliveries

    return failed_deliveries(store(request))


@router.get(
    "/me/notification-preferences", summary="Your channels for each kind of event", response_model=PreferencesOut
)
def preferences(request: Request, who: Own) -> dict:
    from truce.services.notify.preferences import preferences as chosen

    return chosen(store(request), settings(request), who.who.email)


@router.put(
    "/me/notification-preferences", summary="Choose your channels per kind of event", response_model=PreferencesOut
)
def set_preferences(request: Request, who: Own, body: PreferencesIn) -> dict:
    from truce.services.notify.preferences import set_preferences as choose

    return choose(store(request), settings(request), who.who.email, body.channels, actor=who.who.email, origin="api")
