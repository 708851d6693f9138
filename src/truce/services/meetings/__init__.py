"""The joint meeting kept, its decisions tracked to done, and the playbook's moves as initiatives.

- meetings: `start_meeting`, `show_meeting`, `record_decision`
- decisions: `list_decisions`, `close_decision`
- initiatives: `adopt_initiative`, `list_initiatives`
- due: the daily job `decisions_due` (owners told of decisions due tomorrow and overdue)
- brief_part: what the brief opens with (last meeting's decisions, active initiatives)

docs/meetings.md says the rules to users.
"""

from truce.services.meetings.common import DecisionConflict, MeetingRefused, NotYours
from truce.services.meetings.decisions import close_decision, list_decisions
from truce.services.meetings.initiatives import adopt_initiative, list_initiatives
from truce.services.meetings.meetings import record_decision, show_meeting, start_meeting

__all__ = [
    "DecisionConflict",
    "MeetingRefused",
    "NotYours",
    "adopt_initiative",
    "close_decision",
    "list_decisions",
    "list_initiatives",
    "record_decision",
    "show_meeting",
    "start_meeting",
]
