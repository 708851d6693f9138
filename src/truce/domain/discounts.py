"""Discount approval rules: who may ask, who may answer, what an approval covers, when the answer is late.

Pure: no database. The services (truce.services.discounts) read the people and the requests
and ask these functions.

- **Who asks.** The deal's owner, or a sales leader (for any deal). Active members only: a
  viewer reads, an inactive user does nothing.
- **Who answers.** The kind of user `[pricing.approval] approver` names: "marketing" — the
  marketing team's leaders (`is_leader`); "revops" — any RevOps member; "sales_leader" — sales
  leaders. Active members only, and never the person who asked (a sales leader who asked for
  their own deal waits for another sales leader).
- **What an approval covers.** A deal is within its approval when an approved request on it
  asked for at least the deal's discount: approving 25 % covers a deal sold at 20 % or 25 %,
  not one sold at 26 %.
- **Late.** The approver's answer is due `answer_within_hours` business hours after the request.
  A request is an SLA breach when it was still waiting at its deadline: answered (approved,
  refused) after it, withdrawn after it, or not answered and now past it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

APPROVERS: dict[str, str] = {
    "marketing": "a marketing leader",
    "revops": "a RevOps member",
    "sales_leader": "a sales leader",
}
OPEN = "requested"
ANSWERS = ("approved", "refused")


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    team: str
    is_leader: bool
    access: str
    active: bool

    @property
    def acts(self) -> bool:
        """An active member: may act, not only read."""
        return self.active and self.access != "viewer"


def is_approver(kind: str, person: Person) -> bool:
    """Whether `person` is of the kind that answers discount requests (before the own-request rule)."""
    if not person.acts:
        return False
    if kind == "marketing":
        return person.team == "marketing" and person.is_leader
    if kind == "revops":
        return person.team == "revops"
    if kind == "sales_leader":
        return person.team == "sales" and person.is_leader
    raise ValueError(f"unknown approver kind {kind!r}; known: {', '.join(APPROVERS)}")


def may_answer(kind: str, person: Person, requester_id: int) -> bool:
    return is_approver(kind, person) and person.id != requester_id


def may_request(person: Person, owner_id: int | None) -> bool:
    return person.acts and (person.id == owner_id or (person.team == "sales" and person.is_leader))


def needs_approval(discount: Decimal, limit: Decimal) -> bool:
    return discount > limit


def covered(discount: Decimal, approved: list[Decimal]) -> bool:
    """Whether one of the approved discounts is at least the deal's discount."""
    return any(rate >= discount for rate in approved)


def late(state: str, due_at: dt.datetime, decided_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether the approver missed the deadline (module docstring)."""
    if state == OPEN:
        return now > due_at
    return decided_at is not None and decided_at > due_at
