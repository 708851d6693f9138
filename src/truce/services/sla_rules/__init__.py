"""The handoff's event rules: reminders before a deadline, notices after a breach, escalation, pace.

One round (`round.run_round`) is what the `sla_sweep` job and `truce sla sweep` do every few
minutes: record breaches (truce.services.sla.sweep, which owes `sla_breach`), remind sellers whose
clocks run out (`sla_due_soon`), then escalate leads past their decision deadline
(`sla_escalated`, re-routing owes `lead_routed`). `mql_pace` and `feedback_reminders` run daily.
Every message is owed in the unit of work of the change that caused it (truce.services.notify).
"""
