"""Taking access back through the API: tokens, sessions, deactivation, passwords (truce.services.revocation).

RevOps (`manage_users`) acts on anyone; every user (`manage_own_credentials`) lists and revokes
their own tokens and changes their own password. Nothing is deleted from the records: a revoked
token keeps its row with `revoked_at`, so these are POSTs, like every other action of the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from truce.web.api_common import api_router, store
from truce.web.app import COOKIE, Caller, allowed, client_address, login_guard
from truce.web.schemas import MAX_ID, ErrorOut, Strict, UserOut

router = api_router(tags=["access"])
Own = Annotated[Caller, Depends(allowed("manage_own_credentials"))]
Manager = Annotated[Caller, Depends(allowed("manage_users"))]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=200)]
WAIT_AND_RETRY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "Too many failed password checks: wait `Retry-After` seconds"},
    503: {"model": ErrorOut, "description": "Too many password checks running: try again after `Retry-After`"},
}


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it; never the token")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokensOut(BaseModel):
    items: list[TokenOut]


class SessionOut(BaseModel):
    id: int
    created_at: dt.datetime
    expires_at: dt.datetime


class SessionsOut(BaseModel):
    items: list[SessionOut]


class SessionsEndedOut(BaseModel):
    id: int
    email: str
    sessions_ended: int


class PasswordIn(Strict):
    current_password: Password
    new_password: Annotated[str, StringConstraints(min_length=10, max_length=200)]
    revoke_tokens: bool = Field(False, description="Also revoke every API token of yours (this one too)")


class PasswordChangedOut(BaseModel):
    sessions_ended: int = Field(description="Your other sessions, ended; the one asking (if any) stays")
    tokens_revoked: list[int]


def _user(request: Request, user_id: int) -> dict:
    from truce.services import records

    return records.get_record(store(request), "users", user_id)


@router.get("/tokens", summary="API tokens: RevOps sees everyone's, others their own", response_model=TokensOut)
def tokens(
    request: Request,
    who: Own,
    user: Annotated[str | None, Query(min_length=3, max_length=254, description="Only this user's (email)")] = None,
) -> dict:
    from truce.services.revocation import list_tokens

    return {"items": list_tokens(store(request), by=who.who, user=user)}


@router.post(
    "/tokens/{token_id}/revoke", summary="Revoke a token: refused from the next request on", response_model=TokenOut
)
def revoke(request: Request, who: Own, token_id: TokenId) -> dict:
    from truce.services.revocation import revoke_token

    return revoke_token(store(request), token_id, by=who.who, actor=who.who.email, origin="api")


@router.post("/users/{user_id}/deactivate", summary="Deactivate a user and end their sessions", response_model=UserOut)
def deactivate(request: Request, who: Manager, user_id: UserId) -> dict:
    from truce.services.revocation import deactivate_user

    deactivate_user(store(request), user_id, by=who.who, actor=who.who.email, origin="api")
    return _user(request, user_id)


@router.post("/users/{user_id}/activate", summary="Let a deactivated user log in again", response_model=UserOut)
def activate(request: Request, who: Manager, user_id: UserId) -> dict:
    from truce.services.revocation import activate_user

    activate_user(store(request), user_id, by=who.who, actor=who.who.email, origin="api")
    return _user(request, user_id)


@router.get("/users/{user_id}/sessions", summary="A user's live browser sessions", response_model=SessionsOut)
def sessions(request: Request, who: Manager, user_id: UserId) -> dict:
    from truce.services.revocation import list_sessions

    return {"items": list_sessions(store(request), user_id, by=who.who)}


@router.post(
    "/users/{user_id}/sessions/end", summary="Log a user out of every browser", response_model=SessionsEndedOut
)
def end_sessions(request: Request, who: Manager, user_id: UserId) -> dict:
    from truce.services.revocation import end_sessions as end

    return end(store(request), user_id, by=who.who, actor=who.who.email, origin="api")


@router.put(
    "/me/password",
    summary="Change your own password (send the current one); your other sessions end",
    response_model=PasswordChangedOut,
    responses=WAIT_AND_RETRY,
)
def change_password(request: Request, who: Own, body: PasswordIn) -> dict:
    from truce.services.revocation import change_own_password

    return change_own_password(
        store(request),
        who.who,
        body.current_password,
        body.new_password,
        keep_session=request.cookies.get(COOKIE) if who.csrf is not None else None,
        revoke_tokens=body.revoke_tokens,
        address=client_address(request),
        origin="api",
        guard=login_guard(request),
    )
