"""Who may do what: the roles of the web app and the REST API, and the permission table.

A user's role is `viewer` when their access is viewer; otherwise it is their team: sales,
marketing or revops (revops administers truce). docs/permissions.md prints PERMISSIONS as
a table, and a test fails when the two differ.
"""

from __future__ import annotations

ROLES = ("sales", "marketing", "revops", "viewer")

# action → roles allowed. Every route names exactly one action.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read_reports": ("sales", "marketing", "revops", "viewer"),
    "read_records": ("sales", "marketing", "revops", "viewer"),
    "write_records": ("sales", "marketing", "revops"),
    "ingest_events": ("revops",),
    "decide_handoffs": ("sales",),
    "assign_handoffs": ("sales", "revops"),
    "add_feedback": ("sales", "marketing", "revops"),
    "answer_feedback": ("marketing",),
    "edit_campaign_cost": ("marketing",),
    "take_survey": ("sales", "marketing"),
    "edit_targets": ("revops",),
    "edit_funnel_config": ("revops",),
    "edit_account_plans": ("sales", "marketing", "revops"),
    "manage_users": ("revops",),
    "manage_own_credentials": ("sales", "marketing", "revops", "viewer"),
    "read_audit": ("revops",),
    "read_jobs": ("revops",),
    "hold_meetings": ("sales", "marketing", "revops"),
    "close_decisions": ("sales", "marketing", "revops"),
    "adopt_initiatives": ("revops",),
    "request_discounts": ("sales",),
    "answer_discounts": ("sales", "marketing", "revops"),
    "read_own_notifications": ("sales", "marketing", "revops", "viewer"),
    "manage_notifications": ("revops",),
    "manage_connections": ("revops",),
    "run_survey_rounds": ("revops",),
}

DESCRIPTIONS = {
    "read_reports": "read every report (funnel, SLA, custody, attribution, economics, diagnostic, targets, brief)",
    "read_records": "list and read records (accounts, contacts, campaigns, touchpoints, opportunities)",
    "write_records": "create and update records",
    "ingest_events": "push batches of touchpoints and stage changes into the API",
    "decide_handoffs": "accept or reject a handoff",
    "assign_handoffs": "give a waiting lead to another seller (RevOps, or a sales leader)",
    "add_feedback": "send one line of feedback",
    "answer_feedback": "set a feedback item's status and reply",
    "edit_campaign_cost": "change a campaign's budget or cost",
    "take_survey": "answer the diagnostic survey",
    "edit_targets": "set shared and team targets",
    "edit_funnel_config": "change the funnel definition",
    "edit_account_plans": "set a key account's joint plan",
    "manage_users": "add, deactivate and reactivate users, set their passwords, end their sessions and revoke their tokens",
    "manage_own_credentials": "list and revoke their own API tokens and change their own password",
    "read_audit": "read the audit trail",
    "read_jobs": "see the scheduled jobs: their schedule, last run, next run and last error",
    "hold_meetings": "start the joint meeting and record its decisions (RevOps, or a leader of sales or marketing)",
    "close_decisions": "mark a meeting decision done or drop it (its owner, a leader of the owner's team, or RevOps)",
    "adopt_initiatives": "adopt a move of the diagnostic's playbook as an initiative",
    "request_discounts": "ask for a discount beyond policy on their own deal (any deal: a sales leader), or withdraw it",
    "answer_discounts": "approve or refuse a discount request: only the approver kind [pricing.approval] names",
    "read_own_notifications": "read and mark read their own notifications and choose their channels",
    "manage_notifications": "see failed notification deliveries and broken channels, and retry them",
    "manage_connections": "see the CRM connections (last sync, cursors, errors, rejects) and start a sync",
    "run_survey_rounds": "open a round of the diagnostic survey and remind those who have not answered",
}


class Forbidden(PermissionError):
    """The user's role may not do this; the message names the action and who may."""


def role_of(team: str, access: str) -> str:
    return "viewer" if access == "viewer" else team


def can(role: str, action: str) -> bool:
    return role in PERMISSIONS[action]


def require(role: str, action: str) -> None:
    if not can(role, action):
        allowed = ", ".join(PERMISSIONS[action])
        raise Forbidden(f"a {role} user may not {DESCRIPTIONS[action]}; allowed: {allowed}")
