"""Notifications: owed in the outbox with the change that caused them, delivered by the worker."""

from truce.services.notify.outbox import EVENT_KINDS, EventKind, UnknownEventKind, owe, owe_many, owe_team

__all__ = ["EVENT_KINDS", "EventKind", "UnknownEventKind", "owe", "owe_many", "owe_team"]
