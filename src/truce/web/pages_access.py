"""The /access page: who can log in, their sessions and API tokens, and taking access back.

Everyone sees their own API tokens (with **Revoke**) and changes their own password there; RevOps
also sees every user who can log in, with **End sessions**, **Deactivate** / **Activate**, and
every token. Each form calls the function `truce token revoke`, `truce user sessions end`,
`truce user deactivate|activate` and the password change call (truce.services.revocation).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.domain.access import can
from truce.web.app import COOKIE, Caller, allowed, client_address, login_guard
from truce.web.pages_base import PageRoute, back, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HERE = "/access"


@router.get("/access", response_class=HTMLResponse)
def access(request: Request, who: Caller = Depends(allowed("manage_own_credentials"))) -> HTMLResponse:
    from truce.services.revocation import access_overview

    overview = access_overview(request.app.state.engine, who.who)
    return render(request, who, "access.html", overview=overview, manager=can(who.who.role, "manage_users"))


@router.post("/access/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, who: Caller = Depends(allowed("manage_own_credentials"))) -> Response:
    from truce.services.revocation import revoke_token

    return _done(
        lambda: revoke_token(request.app.state.engine, token_id, by=who.who, actor=who.who.email, origin="web"),
        lambda t: f"Token {t['id']} ({t['name']}, of {t['user']}) is revoked: it is refused from now on.",
    )


@router.post("/access/users/{user_id}/deactivate")
def deactivate(request: Request, user_id: int, who: Caller = Depends(allowed("manage_users"))) -> Response:
    from truce.services.revocation import deactivate_user

    return _done(
        lambda: deactivate_user(request.app.state.engine, user_id, by=who.who, actor=who.who.email, origin="web"),
        lambda u: f"{u['email']} is inactive: {u['sessions_ended']} sessions ended, API tokens refused.",
    )


@router.post("/access/users/{user_id}/activate")
def activate(request: Request, user_id: int, who: Caller = Depends(allowed("manage_users"))) -> Response:
    from truce.services.revocation import activate_user

    return _done(
        lambda: activate_user(request.app.state.engine, user_id, by=who.who, actor=who.who.email, origin="web"),
        lambda u: f"{u['email']} is active again.",
    )


@router.post("/access/users/{user_id}/sessions/end")
def end_sessions(request: Request, user_id: int, who: Caller = Depends(allowed("manage_users"))) -> Response:
    from truce.services.revocation import end_sessions as end

    return _done(
        lambda: end(request.app.state.engine, user_id, by=who.who, actor=who.who.email, origin="web"),
        lambda u: f"{u['email']}: {u['sessions_ended']} sessions ended.",
    )


@router.post("/access/password")
def password(
    request: Request,
    current_password: str = Form(""),
    new_password: str = Form(""),
    repeat_password: str = Form(""),
    revoke_tokens: str = Form(""),
    who: Caller = Depends(allowed("manage_own_credentials")),
) -> Response:
    from truce.services.revocation import change_own_password

    if new_password != repeat_password:
        return back(HERE + "#password", "the new password and its repetition differ; nothing was changed", "error")

    def change():
        return change_own_password(
            request.app.state.engine,
            who.who,
            current_password,
            new_password,
            keep_session=request.cookies.get(COOKIE),
            revoke_tokens=bool(revoke_tokens),
            address=client_address(request),
            origin="web",
            guard=login_guard(request),
        )

    def said(done: dict) -> str:
        tokens = f", {len(done['tokens_revoked'])} API tokens revoked" if revoke_tokens else ""
        return f"Your password is changed: {done['sessions_ended']} other sessions ended{tokens}."

    return _done(change, said, HERE + "#password")


def _done(act, said, where: str = HERE) -> Response:
    """Do it and go back with what happened; a refusal (no such user or token, already so, a wrong
    current password) goes back as the message. Throttling and busy checks answer 429/503 pages."""
    from truce.services.logins import LoginError
    from truce.services.revocation import NoSuchLogin, RevocationRefused

    try:
        done = act()
    except (LoginError, NoSuchLogin, RevocationRefused) as exc:
        return back(where, str(exc), "error")
    return back(where, said(done))
