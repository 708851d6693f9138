"""A marketer in Debian's chromium narrows attribution to a quarter and sorts campaigns by revenue.

The app runs in uvicorn on 127.0.0.1 over the hand-worked company of tests/marketing_company.py.
The expected order comes from SQL (one touch per contact: a won deal's revenue is its campaign's),
not from the attribution code. Screenshots land in test-artifacts/marketing/ at laptop and phone sizes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import marketing_company as company
import pytest
from live_server import serving
from sqlalchemy import text

from truce.store import db
from truce.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "marketing"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("marketing-browser") / "store.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    company.build(engine)
    with serving(create_app(engine, company.config())) as port:
        yield f"http://127.0.0.1:{port}", engine
    engine.dispose()


def campaign_revenue(engine, start: str, end: str) -> list[tuple[str, int]]:
    query = text(
        "SELECT c.name, SUM(o.amount) FROM opportunities o"
        " JOIN touchpoints t ON t.contact_id = o.primary_contact_id JOIN campaigns c ON c.id = t.campaign_id"
        " WHERE o.status = 'won' AND o.close_date BETWEEN :start AND :end GROUP BY c.name"
    )
    with engine.connect() as conn:
        return [(name, int(amount)) for name, amount in conn.execute(query, {"start": start, "end": end})]


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def visible_names(page) -> list[str]:
    return [n.strip() for n in page.locator("#credits tbody tr:not([hidden]) td:first-child").all_inner_texts()]


def test_a_marketer_narrows_attribution_to_a_quarter_and_sorts_campaigns_by_revenue(site, local_page):
    base, engine = site
    page = local_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", company.MARKETER)
    page.fill("input[name=password]", company.PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/attribution?model=first_touch&by=campaign")
    assert "Spring webinar" in visible_names(page)  # all time: its 40,000 deal closed in May
    page.fill("#model-switcher input[name=from]", "2026-01-01")
    page.fill("#model-switcher input[name=to]", "2026-03-31")
    page.click("#model-switcher button[type=submit]")
    page.wait_for_url(re.compile(r"from=2026-01-01.*to=2026-03-31"))
    assert page.get_by_test_id("range-shown").inner_text() == "Conversions from Thu 1 Jan 2026 to Tue 31 Mar 2026."

    revenue = page.locator("#credits thead th", has_text="revenue credited").locator("button")
    revenue.click()
    expected = [name for name, _ in sorted(campaign_revenue(engine, "2026-01-01", "2026-03-31"), key=lambda r: -r[1])]
    assert expected == ["LinkedIn lead gen", "SEO and blog", "Brand terms"]  # 15,000, 12,000, 3,000
    assert visible_names(page) == expected
    assert page.locator("#credits thead th", has_text="revenue credited").get_attribute("aria-sort") == "descending"
    shows = page.locator("#credits tbody tr:not([hidden]) td:nth-child(4)").all_inner_texts()
    assert shows == ["USD 15,000", "USD 12,000", "USD 3,000"]

    page.get_by_test_id("search-credits").fill("seo")
    assert visible_names(page) == ["SEO and blog"]
    shoot(page, "attribution-quarter-by-revenue")
    assert page.outside == []


def test_the_economics_and_funnel_by_channel_tables_read_on_a_laptop_and_a_phone(site, local_page):
    base, _ = site
    page = local_page
    page.goto(f"{base}/login")
    page.fill("input[name=email]", company.MARKETER)
    page.fill("input[name=password]", company.PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/economics?from=2026-01-01&to=2026-03-31")
    assert page.locator("#roi tbody tr:not([hidden])").count() == 4  # four channels, under the top 25: all shown
    assert page.get_by_test_id("show-all-roi").is_hidden()
    spend = page.locator("#roi thead th", has_text="spend").first.locator("button")
    spend.click()
    channels = page.locator("#roi tbody tr:not([hidden]) td:first-child").all_inner_texts()
    assert channels == ["Organic search", "Paid social", "Paid search", "Webinar"]  # 9,000, 1,550, 1,200, 0
    shoot(page, "economics-quarter")
    page.goto(f"{base}/funnel?by=channel&start=2026-01-01&end=2026-03-31")
    assert page.locator("#by-slice tbody tr:not([hidden]) td:first-child").all_inner_texts() == [
        "Organic search", "Paid search", "Paid social"
    ]  # fmt: skip
    assert page.locator("#funnel-by-slice .plotly-graph-div svg").count() > 0  # the heat map is drawn
    shoot(page, "funnel-by-channel")
    assert page.outside == []
