"""Writing truce's decisions into Salesforce records, never over a newer edit.

The write-back service passes truce field names and values; each goes to a Salesforce field:

    truce field        Salesforce field (default)       value written
    handoff_status     Status (Lead)                    accepted → the lead status mapped to the funnel's
                                                        accepted stage ([mapping.salesforce.lead_status]),
                                                        else "Working - Contacted"; rejected → the status
                                                        mapped to the exit the seller chose (the
                                                        decision's stage), left out when none is, so
                                                        the next sync does not read it as another stage
    lifecycle_stage    Status (Lead)                    the status mapped to that truce stage (left out,
                                                        and said so, when none is)
    rejection_reason   Truce_Rejection_Reason__c        the reason code (text)
    owner              OwnerId                          the seller's Salesforce user id (the user's
                                                        external id from the User sync; left out when
                                                        truce does not know it)
    mql_score          Truce_MQL_Score__c               a number
    score_link         Truce_Score_Link__c              the URL of the score's explanation
    sla_breach         Truce_SLA_Breach__c              a checkbox (true/false)

`[connectors.salesforce.write_back] fields` names another field for any of them. The custom
fields must exist on the object (docs/connectors.md says how to create them).

The update is `PATCH sobjects/{Object}/{Id}` with `If-Unmodified-Since: <when truce read it>`:
Salesforce answers 412 Precondition Failed when the record changed since, and truce reports a
conflict instead of overwriting (the CRM's newer data wins); 204 means it is written.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from sqlalchemy import Engine, select

from truce.config import TruceConfig, value_key
from truce.services.connectors.errors import CrmError
from truce.services.connectors.http import CrmHttp
from truce.services.connectors.protocol import WriteResult
from truce.services.connectors.salesforce.api import DATA, call
from truce.services.connectors.salesforce.soql import record_id
from truce.store.models import User

DEFAULT_FIELDS = {
    "handoff_status": "Status",
    "lifecycle_stage": "Status",
    "rejection_reason": "Truce_Rejection_Reason__c",
    "owner": "OwnerId",
    "mql_score": "Truce_MQL_Score__c",
    "score_link": "Truce_Score_Link__c",
    "sla_breach": "Truce_SLA_Breach__c",
}
ACCEPTED_STATUS, REJECTED_STATUS = "Working - Contacted", "Closed - Not Converted"


def http_date(moment: dt.datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


class Translator:
    """truce field names and values → a Salesforce PATCH body, and what had to be left out."""

    def __init__(self, config: TruceConfig, engine: Engine | None):
        self.config, self.engine = config, engine
        self.names = DEFAULT_FIELDS | config.connectors.salesforce.write_back.fields
        self.decided_stage: str | None = None

    def body(self, fields: dict[str, str | None], context: dict | None = None) -> tuple[dict, list[str]]:
        body, left_out = {}, []
        self.decided_stage = (context or {}).get("decided_stage")
        # lifecycle_stage after handoff_status: both set Status, and the stage is the more exact.
        for name in sorted(fields, key=lambda f: f == "lifecycle_stage"):
            if name not in self.names:
                left_out.append(f"{name}: not a field truce writes back")
                continue
            try:
                body[self.names[name]] = getattr(self, f"_{name}")(fields[name])
            except LookupError as exc:
                left_out.append(f"{name}: {exc}")
        return body, left_out

    def _status_for(self, stage: str) -> str | None:
        table = self.config.mapping.salesforce.get("lead_status", {})
        return next((status for status, mapped in table.items() if mapped == stage), None)

    def _handoff_status(self, value):
        if value is None:
            return None
        decision = value_key(value)
        if decision == "accepted":
            return self._status_for(self.config.funnel.accepted_stage) or ACCEPTED_STATUS
        if decision == "rejected":
            if self.decided_stage:
                # The status of the exit the seller chose, or none: any other would read back as another stage.
                return self._lifecycle_stage(self.decided_stage)
            return self._status_for("recycled") or self._status_for("disqualified") or REJECTED_STATUS
        return self._lifecycle_stage(value)

    def _lifecycle_stage(self, value):
        if value is None:
            return None
        status = self._status_for(value)
        if status is None:
            raise LookupError(
                f"no Salesforce lead status maps to truce stage {value!r}; add one to [mapping.salesforce.lead_status]"
            )
        return status

    def _rejection_reason(self, value):
        return value

    def _score_link(self, value):
        return value

    def _mql_score(self, value):
        if value is None:
            return None
        number = float(value)
        return int(number) if number.is_integer() else number

    def _sla_breach(self, value):
        return None if value is None else value_key(value) in ("true", "yes", "1")

    def _owner(self, value):
        if value is None:
            return None
        user_id = self._salesforce_user(value)
        if user_id is None:
            raise LookupError(f"truce knows no Salesforce user id for {value!r} (sync the User object first)")
        return user_id

    def _salesforce_user(self, reference: str) -> str | None:
        if reference[:3] == "005":
            return reference
        if self.engine is None:
            return None
        with self.engine.connect() as conn:
            found = conn.execute(
                select(User.external_id).where(User.email == reference.strip().lower())
            ).scalar_one_or_none()
        return found if found and found.startswith("005") else None


def write(
    http: CrmHttp, translator: Translator, object_name: str, crm_id: str, fields: dict, read_at,
    context: dict | None = None,
) -> WriteResult:  # fmt: skip
    body, left_out = translator.body(fields, context)
    note = "; ".join(left_out)
    if not body:
        return WriteResult("skipped", note or "nothing to write")
    headers = {"If-Unmodified-Since": http_date(read_at)} if read_at else {}
    path = f"{DATA}/sobjects/{object_name}/{record_id(crm_id)}"
    try:
        call(http, "PATCH", path, json=body, headers=headers)
    except CrmError as exc:
        if exc.status == 412:
            return WriteResult("conflict", f"{object_name} {crm_id} changed in Salesforce after truce read it "
                                           f"({http_date(read_at)}); not overwritten")  # fmt: skip
        raise
    sent = ", ".join(sorted(body))
    return WriteResult("sent", f"wrote {sent}" + (f"; left out {note}" if note else ""))
