"""A CMO reads the overview in Debian's chromium, on a laptop and on a phone, and follows the
worst leak to the funnel page. Screenshots land in test-artifacts/overview/."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from live_server import serving
from sqlalchemy import select

from truce import config as truce_config
from truce.domain.forecast import parse_period
from truce.services import demo as demo_service
from truce.services.logins import add_user
from truce.services.overview import overview
from truce.services.targets import set_target
from truce.store import db
from truce.store.models import User
from truce.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "overview"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "overview in ten seconds"
SIZES = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    """(base URL, engine, the CMO's email, this quarter)."""
    path = tmp_path_factory.mktemp("overview") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=400, seed=5, config=CONFIG)
    with engine.connect() as conn:
        cmo = (
            conn.execute(select(User.email).where(User.team == "marketing", User.is_leader.is_(True))).scalars().first()
        )
        revops = conn.execute(select(User.email).where(User.team == "revops")).scalars().first()
    add_user(engine, email=cmo, team="marketing", password=PASSWORD)
    today = dt.datetime.now(dt.UTC).date()
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    set_target(engine, metric="revenue", amount=Decimal("2000000"), period=quarter, actor=revops)
    with serving(create_app(engine, CONFIG)) as port:
        yield f"http://127.0.0.1:{port}", engine, cmo, quarter
    engine.dispose()


def _log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_cmo_reads_the_overview_and_follows_the_worst_leak_to_the_funnel(local_page, site, size):
    base, engine, cmo, quarter = site
    page = local_page
    page.set_viewport_size(SIZES[size])
    _log_in(page, base, cmo)

    # The two teams side by side, each with its four figures, in its own colour.
    for team, colour in (("marketing", "rgb(43, 108, 176)"), ("sales", "rgb(192, 86, 33)")):
        card = page.get_by_test_id(f"scorecard-{team}")
        assert card.is_visible()
        for figure in ("Promises kept", "Conversion", "Revenue credited", "Leads gone cold"):
            assert figure in card.inner_text()
        assert card.evaluate("e => getComputedStyle(e).borderTopColor") == colour
    if size == "laptop":  # side by side: one row
        boxes = [page.get_by_test_id(f"scorecard-{t}").bounding_box() for t in ("marketing", "sales")]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]

    # The shared target with its pace: the marker stands at the share of the quarter gone.
    period = parse_period(quarter)
    today = dt.datetime.now(dt.UTC).date()
    elapsed = ((today - period.start).days + 1) / period.days
    marker = page.get_by_test_id("pace-marker")
    assert float(marker.get_attribute("x1")) == pytest.approx(100 * elapsed, abs=0.06)
    label = page.get_by_test_id("pace-label").inner_text()
    assert f"{round(100 * elapsed)}% of {quarter} gone" in label and "expected by now" in label

    # The worst leak is called out with the same numbers the service computes.
    worst = overview(engine, CONFIG)["funnel"]["worst"]
    callout = page.get_by_test_id("worst-leak")
    assert f"{worst['from_label']} → {worst['to_label']}" in callout.inner_text()
    # Nothing is wider than the screen, not even on a phone; nor after a 2,000-character word lands in a
    # paragraph, a list or a table (as one typed into feedback would).
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    page.evaluate("""() => { const word = 'x'.repeat(2000);
        for (const [where, tag] of [['.lede', 'p'], ['ul.decisions, #decisions-due', 'li'], ['#funnel-conversion tbody', 'tr']]) {
          const el = document.createElement(tag);
          if (tag === 'tr') { el.innerHTML = '<td colspan="5"></td>'; el.firstChild.textContent = word; } else { el.textContent = word; }
          document.querySelector(where).appendChild(el); } }""")
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    page.reload()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"overview-{size}.png"), full_page=True)

    page.get_by_test_id("worst-leak-link").click()
    page.wait_for_url(f"**/funnel?**#stage-{worst['from_stage']}")
    row = page.locator(f"#stage-{worst['from_stage']}")
    assert row.is_visible() and worst["from_label"] in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"funnel-from-leak-{size}.png"))
    assert page.outside == []
