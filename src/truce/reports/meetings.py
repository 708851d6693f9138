"""The joint meeting: a meeting with its agenda, the decisions taken in it, and the initiatives
RevOps adopts from the playbook.

What `truce meeting …`, `truce decisions …`, `truce initiative adopt` and `truce initiatives`
print with --json, and what the API's /meetings, /decisions and /initiatives routes answer.
"""

from __future__ import annotations

from pydantic import Field

from truce.reports.base import Moment, Number, Report, Row


class Decision(Report):
    """A decision of a meeting: who owes it by when, and the indicator it should move."""

    id: int
    meeting: str
    item: int | None
    text: str
    owner: str
    owner_name: str | None
    owner_team: str | None
    due_on: Moment | None
    indicator: str | None
    indicator_label: str | None
    indicator_better: str | None
    indicator_then: Number | None
    state: str
    overdue: bool
    note: str | None
    decided_at: Moment
    decided_by: str | None
    closed_at: Moment | None
    closed_by: str | None


class Attendee(Row):
    email: str
    name: str | None
    team: str | None


class AgendaItem(Row):
    item: int
    rule: str | None
    owner_team: str | None
    text: str
    decisions: list[int]


class Meeting(Report):
    id: int
    period: str
    first_day: Moment
    last_day: Moment
    held_at: Moment
    opened_by: str | None
    attendees: list[Attendee]
    agenda: list[AgendaItem]
    decisions: list[Decision]


class Window(Row):
    start: Moment = Field(alias="from")
    end: Moment = Field(alias="to")


class InitiativeIndicator(Row):
    key: str
    label: str
    better_when: str
    then: Number | None
    now: Number | None
    change: Number | None
    direction: str | None
    better: bool | None


class InitiativeScore(Row):
    """The diagnostic's score in the round before the initiative began and the first round after."""

    round_before: str | None
    score_before: Number | None
    round_after: str | None
    score_after: Number | None
    change: Number | None


class Initiative(Report):
    id: int
    move: str
    move_text: str
    owner: str
    owner_name: str | None
    started_on: Moment
    state: str
    note: str | None
    adopted_by: str | None
    window_days: int
    now_window: Window
    indicators: list[InitiativeIndicator]
    score: InitiativeScore


__all__ = ["AgendaItem", "Attendee", "Decision", "Initiative", "InitiativeIndicator", "InitiativeScore", "Meeting"]
