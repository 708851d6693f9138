"""The web app in Debian's chromium: the four flows of the issue, and a screenshot of every main page.

The app runs in uvicorn on 127.0.0.1 and a free port, over a small demo company with a login
per role. Every test asserts that no request left 127.0.0.1 (`local_page.outside`, which also
aborts any that tries). Screenshots land in test-artifacts/web/ at laptop (1280×800) and phone
(390×844) sizes, for a person to look at the layout.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from live_server import serving
from sqlalchemy import select

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services import handoff, survey
from truce.services.ingest import ingest
from truce.services.logins import add_user
from truce.store import db
from truce.store.models import Contact, User
from truce.web.app import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "web"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "demo password 4 tests"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Each main page, seen by the role with the most on it.
SCREENSHOTS = {
    "overview": ("revops", "/"),
    "funnel": ("revops", "/funnel"),
    "handoffs": ("another seller", "/handoffs"),
    "sla": ("revops", "/sla"),
    "attribution": ("revops", "/attribution"),
    "economics": ("marketing", "/economics?what_if=1&change_paid_search=-20&change_webinar=15#what-if"),
    "feedback": ("marketing", "/feedback"),
    "survey": ("another seller", "/survey"),
    "targets": ("revops", "/targets"),
    "brief": ("revops", "/brief"),
    "audit": ("revops", "/audit"),
}


def _emails(engine, team: str) -> list[str]:
    with engine.connect() as conn:
        query = select(User.email).where(User.team == team, User.active.is_(True)).order_by(User.email)
        return list(conn.execute(query).scalars())


def _lead_for_another_seller(engine) -> None:
    """A small demo's queue is the cast's two leads, both Eva's: push one more MQL the way a CRM
    would, and RevOps hands it to another seller, who then has a queue of their own."""
    waiting = {h["owner"] for h in handoff.queue(engine, CONFIG) if h["owner"]}
    if len(waiting) >= 2:
        return
    with engine.connect() as conn:
        email = conn.execute(select(Contact.email).where(Contact.stage == "inquiry").order_by(Contact.id)).scalar()
        others = [e for e in _emails(engine, "sales") if e not in waiting]
    revops = _emails(engine, "revops")[0]
    moved = [{"external_id": "browser-test-mql", "contact_email": email, "to_stage": "mql",
              "changed_at": dt.datetime.now(dt.UTC).isoformat()}]  # fmt: skip
    ingest(engine, CONFIG, "stage_changes", moved, revops)
    handoff.assign(engine, CONFIG, email, others[0], revops)


def _logins(engine) -> dict[str, str]:
    """A password for a user of each role; the seller has at least two leads waiting, and a second
    seller with leads of their own poses for the screenshot of the queue (the flows empty the first one's)."""
    _lead_for_another_seller(engine)
    waiting = [h["owner"] for h in handoff.queue(engine, CONFIG) if h["owner"]]
    seller, other = sorted(set(waiting), key=lambda owner: (-waiting.count(owner), owner))[:2]
    assert waiting.count(seller) >= 2
    chosen = {
        "sales": seller,
        "another seller": other,
        "marketing": _emails(engine, "marketing")[0],
        "revops": _emails(engine, "revops")[0],
        "viewer": "viewer@truce-demo.example",
    }
    for role, email in chosen.items():
        team, access = {"viewer": ("marketing", "viewer"), "another seller": ("sales", "member")}.get(
            role, (role, "member")
        )
        add_user(engine, email=email, team=team, role=access, password=PASSWORD)
    return chosen


def _survey_round(engine, logins: dict[str, str]) -> None:
    """Three sellers and three marketers (not the ones who log in) have answered this quarter's round."""
    today = dt.datetime.now(dt.UTC).date()
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    for team in ("sales", "marketing"):
        others = [e for e in _emails(engine, team) if e not in logins.values()][:3]
        for number, email in enumerate(others):
            ratings = [(2 if team == "marketing" else 4) + (number + i) % 2 for i in range(20)]
            survey.record_response(
                engine, round_name=quarter, respondent_email=email, team=team,
                role=survey.respondent(engine, email)["role"], ratings=ratings,
            )


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    """(base URL, {role: email}, engine) of the app serving a small demo company."""
    path = tmp_path_factory.mktemp("web-browser") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=400, seed=2, config=CONFIG)
    logins = _logins(engine)
    _survey_round(engine, logins)
    with serving(create_app(engine, CONFIG)) as port:
        yield f"http://127.0.0.1:{port}", logins, engine
    engine.dispose()


def log_in(page, site, role: str) -> None:
    base, logins, _ = site
    page.goto(f"{base}/login")
    page.fill("input[name=email]", logins[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def number(page, selector: str) -> int:
    return int(re.sub(r"\D", "", page.locator(selector).first.inner_text()))


def test_a_seller_accepts_one_handoff_rejects_another_with_a_reason_and_sees_the_sla_page_change(local_page, site):
    base, logins, engine = site
    seller = logins["sales"]
    page = local_page
    log_in(page, site, "sales")
    page.goto(f"{base}/sla")
    queue_before = number(page, "[data-testid=queue]")
    mine_before = number(page, f"td[data-owner='{seller}']")
    assert mine_before >= 2 and queue_before >= mine_before

    page.goto(f"{base}/handoffs")
    first, second = page.locator("li.lead").nth(0), page.locator("li.lead").nth(1)
    accepted, rejected = first.get_attribute("data-lead"), second.get_attribute("data-lead")
    first.get_by_role("button", name="Accept").click()
    page.wait_for_load_state("load")
    assert f"{accepted}: accepted" in page.locator(".flash.ok").inner_text()

    lead = page.locator(f"li.lead[data-lead='{rejected}']")
    lead.locator("summary").click()
    lead.locator("select[name=reason]").select_option("no_budget")
    lead.locator("input[name=note]").fill("Budget opens in Q3")
    lead.get_by_role("button", name="Reject").click()
    page.wait_for_load_state("load")
    assert f"{rejected}: rejected, now at stage recycled" in page.locator(".flash.ok").inner_text()
    assert page.locator(f"li.lead[data-lead='{accepted}']").count() == 0
    assert page.locator(f"li.lead[data-lead='{rejected}']").count() == 0

    page.goto(f"{base}/sla")
    assert number(page, "[data-testid=queue]") == queue_before - 2
    assert number(page, f"td[data-owner='{seller}']") == mine_before - 2
    decided = {h["email"] for h in handoff.queue(engine, CONFIG)}
    assert accepted not in decided and rejected not in decided
    assert page.outside == []


def test_a_marketer_answers_a_feedback_item(local_page, site):
    base, _, _ = site
    page = local_page
    log_in(page, site, "marketing")
    page.goto(f"{base}/feedback?status=new")
    item = page.locator("li.item").first
    item_id = item.get_attribute("data-item")
    item.locator("select[name=status]").select_option("acted_on")
    item.locator("input[name=reply]").fill("New battlecard is in the sales folder")
    item.get_by_role("button", name="Answer").click()
    page.wait_for_load_state("load")
    assert f"Feedback #{item_id} is now acted on" in page.locator(".flash.ok").inner_text()
    answered = page.locator(f"#item-{item_id}")
    assert answered.locator("[data-testid=status]").inner_text() == "acted on"
    assert "New battlecard is in the sales folder" in answered.locator("blockquote").inner_text()
    assert answered.locator("form").count() == 0  # acted on is final: nothing left to answer
    assert page.outside == []


def test_a_user_takes_the_survey_and_sees_the_result(local_page, site):
    base, _, _ = site
    page = local_page
    log_in(page, site, "marketing")
    page.goto(f"{base}/survey")
    ratings = [5, 4, 4, 3, 4, 5, 3, 4, 4, 2, 3, 4, 5, 4, 3, 4, 4, 3, 4, 4]  # 77: aligned (60–79)
    for number_, rating in enumerate(ratings, 1):
        page.locator(f"input[name=s{number_}][value='{rating}']").check()
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_load_state("load")
    result = page.locator("#your-result")
    assert result.locator("[data-testid=score]").inner_text() == str(sum(ratings))
    assert result.locator("[data-testid=band]").text_content() == "aligned"
    # The round has enough people on both sides now: the perception gap is shown, as a chart and a table.
    gap = page.locator("#gap")
    assert gap.locator(".js-plotly-plot").count() == 1 and gap.locator(".js-plotly-plot .main-svg").count() >= 1
    assert gap.locator("tbody tr").count() >= 5
    assert page.locator("#survey-form").count() == 0
    assert page.outside == []


def test_someone_switches_attribution_models(local_page, site):
    base, _, _ = site
    page = local_page
    log_in(page, site, "viewer")
    page.goto(f"{base}/attribution")
    default = CONFIG.attribution.model
    assert page.locator("[data-testid=model]").inner_text() == default.replace("_", " ")
    before = page.locator("#credits tbody").inner_text()
    with page.expect_navigation():
        page.locator("#model-switcher select[name=model]").select_option("linear")  # sent on change
    assert "model=linear" in page.url
    assert page.locator("[data-testid=model]").inner_text() == "linear"
    assert page.locator("#model-switcher select[name=model]").input_value() == "linear"
    assert page.locator("#credits tbody").inner_text() != before
    page.locator(".switcher a", has_text="first touch").click()
    page.wait_for_load_state("load")
    assert page.locator("[data-testid=model]").inner_text() == "first touch"
    assert page.locator(".js-plotly-plot .main-svg").count() >= 1
    assert page.outside == []


def _show(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    if page.locator("iframe[data-fit]").count():
        page.wait_for_selector("iframe[data-fit][data-loaded=true]", state="attached", timeout=60_000)
    if page.locator(".js-plotly-plot").count():
        page.wait_for_selector(".js-plotly-plot .main-svg")
    page.wait_for_timeout(300)  # charts redraw at their card's width after load


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_main_page_is_kept_as_a_screenshot(local_page, site, size):
    base, _, _ = site
    page = local_page
    page.set_viewport_size(LAPTOP if size == "laptop" else PHONE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    current = None
    for name, (role, path) in SCREENSHOTS.items():
        if role != current:
            page.context.clear_cookies()
            log_in(page, site, role)
            current = role
        _show(page, base + path)
        assert page.locator("h1").first.is_visible(), name
        # Wide tables scroll inside their card; the page itself never scrolls sideways.
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= (LAPTOP if size == "laptop" else PHONE)["width"], (name, width)
        shot = ARTIFACTS / f"{name}-{size}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000, name
    assert page.outside == []


# ---- the Content-Security-Policy -----------------------------------------------------------------

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} ${e.sample || ""}`));
"""


def _watch_console(page) -> list[str]:
    """Every console error and CSP violation the page and its frames report, from now on."""
    seen: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: seen.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: seen.append(f"uncaught: {error}"))
    return seen


def test_every_page_draws_its_charts_under_its_policy_and_nothing_is_blocked(local_page, site):
    base, _, _ = site
    page = local_page
    seen = _watch_console(page)
    current, charts = None, 0
    for name, (role, path) in SCREENSHOTS.items():
        if role != current:
            page.context.clear_cookies()
            log_in(page, site, role)
            current = role
        response = page.goto(base + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        _show(page, base + path)
        drawn = page.locator(".js-plotly-plot .main-svg").count()
        assert drawn >= page.locator("[data-figure]").count(), name  # every figure became a chart
        charts += page.locator("[data-figure]").count()
        if name == "brief":
            frame = page.frame_locator("iframe[data-fit]")
            assert frame.locator(".js-plotly-plot .main-svg").count() >= 3  # the brief's own inline scripts ran
    assert charts >= 10
    assert not [text for text in seen if "Content Security Policy" in text or "CSP violation" in text], seen
    assert not [text for text in seen if text.startswith("uncaught")], seen
    assert page.outside == []


def test_the_api_docs_page_runs_swagger_ui_from_our_server_under_its_policy(local_page, site):
    base, _, _ = site
    page = local_page
    seen = _watch_console(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(base + "/api/v1/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 20  # one per route
    assert page.locator(".swagger-ui .title").first.inner_text().startswith("truce")
    assert all(url.startswith(base) for url in requested), requested
    assert not [text for text in seen if "Content Security Policy" in text or "CSP violation" in text], seen
    assert page.outside == []
