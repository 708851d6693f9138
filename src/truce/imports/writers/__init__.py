"""One writer per table: what a row means for that table, which references it needs, what it writes."""

from truce.imports.writers.contacts import ContactWriter
from truce.imports.writers.ledger import StageChangeWriter
from truce.imports.writers.records import AccountWriter, CampaignWriter, OpportunityWriter, TouchpointWriter, UserWriter

WRITERS = {
    "users": UserWriter,
    "accounts": AccountWriter,
    "contacts": ContactWriter,
    "campaigns": CampaignWriter,
    "touchpoints": TouchpointWriter,
    "opportunities": OpportunityWriter,
    "stage_changes": StageChangeWriter,
}
