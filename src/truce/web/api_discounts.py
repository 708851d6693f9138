"""Discount approval over the API: requests beyond the pricing policy and the pricing owner's answers.

Each route calls the service function the CLI calls (truce.services.discounts), acting as the caller;
the service checks who may touch which request (the deal's owner or a sales leader asks; the approver
kind in truce.toml answers, never the requester).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from truce.reports import typed
from truce.reports.models import DiscountApproval
from truce.web.api_common import api_router, as_json, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import MAX_ID, Id, Rate, Strict, Text

router = api_router(tags=["discount approvals"])
Reader = Annotated[Caller, Depends(allowed("read_records"))]
Requester = Annotated[Caller, Depends(allowed("request_discounts"))]
Approver = Annotated[Caller, Depends(allowed("answer_discounts"))]
ApprovalId = Annotated[int, Path(ge=1, le=MAX_ID, description="The request's number")]


class DiscountRequestIn(Strict):
    opportunity_id: Id = Field(description="The deal")
    discount: Rate = Field(description="The discount asked for, as a rate: 0.25 is 25 %")
    reason: Annotated[str, *Text(64, 1)] = Field(
        description="A reason from truce.toml [pricing.approval] reasons, e.g. competitor"
    )
    note: Annotated[str, *Text(2000)] | None = Field(None, description="What the approver should know")


class DiscountAnswerIn(Strict):
    note: Annotated[str, *Text(2000, 1)] = Field(description="Why: for the seller and the record")


class DiscountWithdrawIn(Strict):
    note: Annotated[str, *Text(2000)] | None = Field(None, description="Why the request is taken back")


@router.get(
    "/discount-approvals",
    summary="Discount approval requests, newest first (as `truce discounts --json`)",
    response_model=list[DiscountApproval],
)
def list_requests(
    request: Request,
    who: Reader,
    pending: Annotated[bool, Query(description="Only requests waiting for an answer, the soonest due first")] = False,
) -> Response:
    from truce.services.discounts import list_approvals

    return as_json(typed(DiscountApproval, list_approvals(store(request), settings(request), pending=pending)))


@router.get(
    "/discount-approvals/{approval_id}",
    summary="One discount approval request",
    response_model=DiscountApproval,
)
def get_request(request: Request, who: Reader, approval_id: ApprovalId) -> Response:
    from truce.services.discounts import get_approval

    return as_json(typed(DiscountApproval, get_approval(store(request), settings(request), approval_id)))


@router.post(
    "/discount-approvals",
    summary="The deal's owner or a sales leader asks for a discount beyond policy (as `truce discount request`)",
    status_code=201,
    response_model=DiscountApproval,
)
def ask(request: Request, who: Requester, body: DiscountRequestIn) -> Response:
    from truce.services import discounts

    made = discounts.request(
        store(request), settings(request), body.opportunity_id, body.discount, body.reason, who.who.email,
        body.note, origin="api",
    )  # fmt: skip
    return as_json(typed(DiscountApproval, made), status_code=201)


@router.post(
    "/discount-approvals/{approval_id}/approve",
    summary="The pricing owner approves a request, with a note",
    response_model=DiscountApproval,
)
def approve(request: Request, who: Approver, approval_id: ApprovalId, body: DiscountAnswerIn) -> Response:
    from truce.services import discounts

    return as_json(
        typed(
            DiscountApproval,
            discounts.approve(store(request), settings(request), approval_id, who.who.email, body.note, origin="api"),
        )
    )


@router.post(
    "/discount-approvals/{approval_id}/refuse",
    summary="The pricing owner refuses a request, with a note",
    response_model=DiscountApproval,
)
def refuse(request: Request, who: Approver, approval_id: ApprovalId, body: DiscountAnswerIn) -> Response:
    from truce.services import discounts

    return as_json(
        typed(
            DiscountApproval,
            discounts.refuse(store(request), settings(request), approval_id, who.who.email, body.note, origin="api"),
        )
    )


@router.post(
    "/discount-approvals/{approval_id}/withdraw",
    summary="Who asked (or a sales leader) takes a request back",
    response_model=DiscountApproval,
)
def withdraw(request: Request, who: Requester, approval_id: ApprovalId, body: DiscountWithdrawIn) -> Response:
    from truce.services import discounts

    return as_json(
        typed(
            DiscountApproval,
            discounts.withdraw(store(request), settings(request), approval_id, who.who.email, body.note, origin="api"),
        )
    )
