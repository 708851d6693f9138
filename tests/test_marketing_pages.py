"""Marketing's attribution and economics pages over a date range: the numbers on the page against the
hand-worked company of tests/marketing_company.py and an independent SQL count, counts as whole
numbers, channels as people write them, revenue share and conversion share apart.
"""

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

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
NOWHERE = Path(tempfile.gettempdir()) / "truce-marketing-pages-writes-nothing" / "truce.toml"
Q1 = "from=2026-01-01&to=2026-03-31"


@pytest.fixture
def client(engine):
    company.build(engine)
    client = TestClient(create_app(engine, company.config(), config_path=NOWHERE), base_url="http://127.0.0.1",
                        headers={"accept": "text/html"})  # fmt: skip
    response = client.post("/login", data={"email": company.MARKETER, "password": company.PASSWORD})
    assert response.status_code == 200
    return client


def table(page: str, table_id: str) -> list[list[str]]:
    """The body rows of a table as the text of their cells."""
    found = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, f"no table {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found[1], re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in row] for row in cells]


def won_revenue_by_channel(engine, start: str, end: str) -> dict[str, int]:
    """Independent of the attribution code: each contact has one touch, so a won deal's revenue
    belongs to that touch's channel."""
    query = text(
        "SELECT t.channel, SUM(o.amount), COUNT(*) FROM opportunities o"
        " JOIN touchpoints t ON t.contact_id = o.primary_contact_id"
        " WHERE o.status = 'won' AND o.close_date BETWEEN :start AND :end GROUP BY t.channel"
    )
    with engine.connect() as conn:
        return {ch: (int(amount), n) for ch, amount, n in conn.execute(query, {"start": start, "end": end})}


def test_it_narrows_attribution_to_the_dates_asked_and_matches_sql(client, engine):
    page = client.get(f"/attribution?model=first_touch&by=channel&conversion=won&{Q1}").text
    rows = {r[0]: r[1:] for r in table(page, "credits")}
    assert won_revenue_by_channel(engine, "2026-01-01", "2026-03-31") == {
        "organic_search": (12_000, 2), "paid_social": (15_000, 1), "paid_search": (3_000, 3)
    }  # fmt: skip
    # conversions, share of conversions, revenue, share of revenue — worked out in marketing_company.py
    assert rows == {
        "Organic search": ["2", "33.3%", "USD 12,000", "40.0%"],
        "Paid social": ["1", "16.7%", "USD 15,000", "50.0%"],
        "Paid search": ["3", "50.0%", "USD 3,000", "10.0%"],
    }
    assert 'data-testid="conversions">6<' in page
    assert "Webinar" not in rows  # its only deal closed in Q2


def test_it_keeps_all_time_when_no_dates_are_given(client, engine):
    page = client.get("/attribution?model=first_touch&by=campaign&conversion=won").text
    rows = {r[0]: r[1:] for r in table(page, "credits")}
    assert rows["Spring webinar"][:3] == ["1", "12.5%", "USD 40,000"]  # 1 of 8 won deals (c9 was lost)
    assert rows["SEO and blog"][:3] == ["3", "37.5%", "USD 17,000"]  # 10,000 + 2,000 + 5,000
    assert 'data-testid="conversions">8<' in page
    assert "over all time" in page


def test_it_labels_revenue_share_and_conversion_share_apart(client):
    page = client.get(f"/attribution?model=first_touch&{Q1}").text
    head = re.search(r'<table id="credits".*?<thead>(.*?)</thead>', page, re.S)[1]
    assert [html.unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(r"<th[^>]*>(.*?)</th>", head)] == [
        "channel", "conversions credited", "share of conversions", "revenue credited", "share of revenue"
    ]  # fmt: skip


def test_it_shows_counts_as_whole_numbers(client):
    page = client.get(f"/attribution?model=first_touch&{Q1}").text
    for row in table(page, "credits"):
        assert re.fullmatch(r"\d+", row[1]), row
    economics = client.get(f"/economics?{Q1}").text
    assert all(re.fullmatch(r"\d+", row[4]) for row in table(economics, "roi")), table(economics, "roi")


def test_it_spreads_spend_over_the_dates_asked_on_the_economics_page(client, engine):
    page = client.get(f"/economics?{Q1}").text
    rows = {r[0]: r for r in table(page, "roi")}
    # channel: spend (hand-worked), pipeline, revenue (SQL above), customers, ROI = (revenue − spend) / spend
    assert rows["Organic search"][1] == "USD 9,000" and rows["Organic search"][3] == "USD 12,000"
    assert rows["Organic search"][4] == "2" and rows["Organic search"][5] == "33%"  # 3,000 / 9,000
    assert rows["Paid social"][1] == "USD 1,550" and rows["Paid social"][3] == "USD 15,000"
    assert rows["Paid social"][5] == "868%"  # (15,000 − 1,550) / 1,550 = 8.677
    assert rows["Paid search"][1] == "USD 1,200" and rows["Paid search"][5] == "150%"  # 1,800 / 1,200
    assert rows["Webinar"][1] == "USD 0"  # its campaign ran in April
    total = re.search(r'<table id="roi".*?<tfoot>(.*?)</tfoot>', page, re.S)[1]
    assert "USD 11,750" in total  # 9,000 + 1,550 + 1,200
    everything = {r[0]: r for r in table(client.get("/economics").text, "roi")}
    assert everything["Webinar"][1] == "USD 2,000" and everything["Paid social"][1] == "USD 3,050"


def test_it_offers_quick_picks_that_keep_the_other_choices(client):
    page = client.get("/attribution?model=linear&by=campaign").text
    picks = dict(re.findall(r'<a href="([^"]+)" data-testid="range-([a-z0-9-]+)"', page))
    assert set(picks.values()) == {"this-quarter", "last-quarter", "last-12-months", "all-time"}
    last_quarter = html.unescape(next(h for h, name in picks.items() if name == "last-quarter"))
    assert "model=linear" in last_quarter and "by=campaign" in last_quarter and "from=" in last_quarter


@pytest.mark.parametrize(
    ("query", "field"), [("from=2026-02-30", "from:"), ("to=soon", "to:"), ("from=2026-04-01&to=2026-03-01", "from:")]
)
def test_it_refuses_a_bad_date_and_names_the_field(client, query, field):
    for path in ("/attribution", "/economics"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        message = html.unescape(re.search(r'<p class="flash error" role="alert">(.*?)</p>', response.text, re.S)[1])
        assert message.startswith(field), message


def test_it_makes_tables_sortable_and_searchable_without_needing_script(client):
    page = client.get(f"/attribution?model=first_touch&{Q1}").text
    assert '<script src="/static/tables.js" defer></script>' in page
    assert re.search(r'<table id="credits"[^>]*data-table[^>]*data-top="25"', page)
    assert len(table(page, "credits")) == 3  # every row is in the page; the script only hides some
    script = client.get("/static/tables.js")
    assert script.status_code == 200 and "data-table" in script.text
