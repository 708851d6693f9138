"""The /notifications page: your inbox (mark read, mark all read), your channels per kind of event,
and for RevOps the deliveries that failed and the channels that are broken.

Every form calls the function the API and the CLI call (truce.services.notify.inbox, .preferences,
.revops). The bell with the unread count on every page comes from pages_base.render.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from truce.domain.access import can
from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HERE = "/notifications"


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, who: Caller = Depends(allowed("read_own_notifications"))) -> HTMLResponse:
    from truce.services.notify.inbox import notifications
    from truce.services.notify.preferences import preferences
    from truce.services.notify.revops import failed

    engine, config = request.app.state.engine, request.app.state.config
    revops = can(who.who.role, "manage_notifications")
    return render(
        request,
        who,
        "notifications.html",
        inbox=notifications(engine, config, who.who.id, limit=200),
        prefs=preferences(engine, config, who.who.email),
        failed=failed(engine) if revops else None,
    )


@router.post("/notifications/{notification_id}/read")
def read(request: Request, notification_id: int, who: Caller = Depends(allowed("read_own_notifications"))) -> Response:
    from truce.services.lifecycle import NotFound
    from truce.services.notify.inbox import mark_read

    try:
        mark_read(request.app.state.engine, who.who.id, notification_id, actor=who.who.email, origin="web")
    except NotFound as exc:
        return back(HERE, str(exc), "error")
    return back(HERE, "Marked read.")


@router.post("/notifications/read-all")
def read_all(request: Request, who: Caller = Depends(allowed("read_own_notifications"))) -> Response:
    from truce.services.notify.inbox import mark_all_read

    done = mark_all_read(request.app.state.engine, who.who.id, actor=who.who.email, origin="web")
    return back(HERE, f"{done['marked_read']} notifications marked read.")


@router.post("/notifications/preferences")
async def choose(request: Request, who: Caller = Depends(allowed("read_own_notifications"))) -> Response:
    """One checkbox per kind and channel, named `<kind>:<channel>`; an unticked box is a channel not wanted."""
    from starlette.concurrency import run_in_threadpool

    from truce.services.notify.outbox import EVENT_KINDS, MACHINE_KINDS
    from truce.services.notify.preferences import set_preferences
    from truce.services.records import InvalidField

    form = await request.form()
    ticked = {name for name in form if ":" in name}
    choices = {
        kind: [c for c in ("inbox", "email") if f"{kind}:{c}" in ticked]
        for kind in EVENT_KINDS
        if kind not in MACHINE_KINDS
    }
    engine, config = request.app.state.engine, request.app.state.config
    try:
        await run_in_threadpool(
            set_preferences, engine, config, who.who.email, choices, actor=who.who.email, origin="web"
        )
    except InvalidField as exc:
        return back(HERE + "#preferences", str(exc), "error")
    return back(HERE + "#preferences", "Your notification channels are saved.")


@router.post("/notifications/retry")
def retry(request: Request, who: Caller = Depends(allowed("manage_notifications"))) -> Response:
    from truce.services.notify.revops import retry as retry_all

    done = retry_all(request.app.state.engine, actor=who.who.email, origin="web")
    return back(
        HERE + "#failed",
        f"{done['retried']} deliveries will be tried again in the next round; {done['channels_cleared']} channels cleared.",
    )
