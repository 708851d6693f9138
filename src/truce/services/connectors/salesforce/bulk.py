"""Bulk API 2.0 query jobs: how a full sync reads the large objects without spending a call per 2,000 rows.

POST jobs/query creates the job (operation queryAll, so deleted and merged rows come too), GET
jobs/query/{id} is polled until JobComplete, and GET jobs/query/{id}/results?maxRecords=N returns
CSV with the next set's locator in the `Sforce-Locator` header ("null" after the last). A locator
stays valid while the job exists, so the sync keeps job id + locator as its position and an
interrupted full sync resumes at the set it had not written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from truce.services.connectors.errors import CrmError
from truce.services.connectors.http import CrmHttp
from truce.services.connectors.salesforce.api import DATA, call

DONE = "JobComplete"
FAILED = ("Failed", "Aborted")
MAX_POLL_WAIT = 10.0


@dataclass
class Place:
    """Where a full read stands: the job, the next set's locator (None: the first), the highest cursor so far."""

    job: str
    locator: str | None = None
    highest: str | None = None

    def text(self) -> str:
        return json.dumps({"bulk_job": self.job, "locator": self.locator, "highest": self.highest})

    @classmethod
    def parse(cls, text: str | None) -> Place | None:
        if not text or not text.startswith("{"):
            return None
        data = json.loads(text)
        return cls(data["bulk_job"], data.get("locator"), data.get("highest")) if "bulk_job" in data else None


def start(http: CrmHttp, soql: str) -> str:
    body = {
        "operation": "queryAll",
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    return call(http, "POST", f"{DATA}/jobs/query", json=body).json()["id"]


def wait(http: CrmHttp, job: str, sleep: Callable[[float], None], first_wait: float = 1.0) -> None:
    pause = first_wait
    while True:
        info = call(http, "GET", f"{DATA}/jobs/query/{job}").json()
        state = info.get("state")
        if state == DONE:
            return
        if state in FAILED:
            raise CrmError(
                f"Salesforce's bulk query job {job} ended {state}: {info.get('errorMessage') or 'no message'}"
            )
        sleep(pause)
        pause = min(pause * 2, MAX_POLL_WAIT)


def sets(http: CrmHttp, place: Place, max_records: int) -> Iterator[tuple[list[dict], str | None]]:
    """Each set of result rows with the locator of the set after it (None after the last)."""
    locator = place.locator
    while True:
        params = {"maxRecords": max_records} | ({"locator": locator} if locator else {})
        answer = call(
            http, "GET", f"{DATA}/jobs/query/{place.job}/results", params=params, headers={"Accept": "text/csv"}
        )
        following = answer.headers.get("Sforce-Locator")
        following = None if following in (None, "", "null") else following
        yield rows(answer.text), following
        if following is None:
            return
        locator = following


def rows(text: str) -> list[dict]:
    """CSV as records: an empty cell is a null, as in the JSON API."""
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
