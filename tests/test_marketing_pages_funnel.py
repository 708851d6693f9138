"""The funnel by channel on GET /funnel?by=channel: one row per channel, one column per step, cohort
conversion in each cell — against the moves of tests/marketing_company.py counted by hand and in SQL."""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

import marketing_company as company
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from truce.web.app import create_app
from truce.web.funnel_slices import slice_view

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
NOWHERE = Path(tempfile.gettempdir()) / "truce-marketing-funnel-writes-nothing" / "truce.toml"


def rows_of(page: str, table_id: str, part: str = "tbody") -> list[list[str]]:
    found = re.search(rf'<table id="{table_id}".*?<{part}>(.*?)</{part}>', page, re.S)
    assert found, f"no {part} in {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found[1], re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in rows]
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in row] for row in cells]


def reached(engine, first: str, then: str) -> dict[str, tuple[int, int]]:
    """Per source channel: contacts that entered `first`, and of them those that later entered `then` (SQL)."""
    query = text(
        "SELECT c.source_channel, COUNT(DISTINCT a.entity_id), COUNT(DISTINCT b.entity_id)"
        " FROM stage_changes a JOIN contacts c ON c.id = a.entity_id"
        " LEFT JOIN stage_changes b ON b.entity_id = a.entity_id AND b.to_stage = :then AND b.changed_at >= a.changed_at"
        " WHERE a.to_stage = :first GROUP BY c.source_channel"
    )
    with engine.connect() as conn:
        return {ch: (came, went) for ch, came, went in conn.execute(query, {"first": first, "then": then})}


def test_it_shows_conversion_between_stages_per_channel_as_one_table(engine):
    company.build(engine)
    client = TestClient(create_app(engine, company.config(), config_path=NOWHERE), base_url="http://127.0.0.1",
                        headers={"accept": "text/html"})  # fmt: skip
    client.post("/login", data={"email": company.MARKETER, "password": company.PASSWORD})
    page = client.get("/funnel?by=channel&start=2026-01-01&end=2026-03-31").text
    assert reached(engine, "inquiry", "mql") == {
        "organic_search": (4, 2), "paid_search": (3, 3), "paid_social": (1, 0)
    }  # fmt: skip
    assert reached(engine, "mql", "sal") == {"organic_search": (2, 1), "paid_search": (3, 0)}
    head = rows_of(page, "by-slice", "thead")[0]
    # stages by their labels in truce.toml
    assert head[:4] == ["channel", "entered Inquiry", "Inquiry → Marketing qualified lead",
                        "Marketing qualified lead → Sales accepted lead"]  # fmt: skip
    rows = {r[0]: r[1:4] for r in rows_of(page, "by-slice")}
    assert rows == {
        "Organic search": ["4", "50% * 2 of 4", "50% * 1 of 2"],
        "Paid search": ["3", "100% * 3 of 3", "0% * 0 of 3"],
        "Paid social": ["1", "0% * 0 of 1", "no data"],
    }
    total = rows_of(page, "by-slice", "tfoot")[0]
    assert total[:2] == ["All channels", "8"] and total[2].endswith("5 of 8") and total[3].endswith("1 of 5")
    assert 'class="plotly-graph-div"' in page  # the heat map
    assert "Volume and conversion by channel" not in page  # the long table of a row per stage and channel


def test_it_marks_the_channel_that_converts_worst_at_a_step_when_enough_leads_entered():
    cohort = [
        {"from_stage": "inquiry", "to_stage": "mql", "slice": s, "entered": came, "converted": went,
         "rate": went / came, "window_open": False}
        for s, came, went in (("email", 20, 10), ("event", 10, 2), ("partner", 4, 0))
    ]  # fmt: skip
    report = {
        "by": "channel",
        "stages": ["inquiry", "mql"],
        "conversion": {"cohort": {"total": cohort}},
        "volume": {"total": [{"stage": "inquiry", "slice": r["slice"], "entered": r["entered"]} for r in cohort]},
        "velocity": [],
    }
    view = slice_view(report, {"inquiry": "Inquiry", "mql": "MQL"})
    weak = {r["name"]: r["cells"][0]["weak"] for r in view["rows"]}
    # partner converts worst (0 of 4) but 4 leads say little; of those with 10 or more, event (20 %)
    assert weak == {"Email": False, "Event": True, "Partner": False}
    assert view["total"]["cells"][0]["entered"] == 34 and view["total"]["cells"][0]["converted"] == 12
