"""The web pages through TestClient: every page for every role allowed, refused for the others,
and every form with and without its CSRF token — a refusal is a page that says why, never a 500.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.brief.render import policy
from truce.domain.access import PERMISSIONS, ROLES
from truce.services import demo as demo_service
from truce.services import handoff
from truce.services.demo_logins import add_demo_logins
from truce.store import db
from truce.store.models import (
    AuditEntry,
    Contact,
    FeedbackItem,
    Handoff,
    StageChange,
    SurveyResponse,
    SurveyRound,
    Target,
    User,
)
from truce.web.app import create_app
from truce.web.server import GuardedHttpTools

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PAGES = {
    "/": "Shared target and forecast",
    "/funnel": "Volume and conversion",
    "/handoffs": "The handoff queue",
    "/sla": "Custody: who held each lead that went cold",
    "/attribution": "Revenue credit",
    "/economics": "Return on spend, per channel",
    "/feedback": "Items and answers",
    "/survey": "The diagnostic",
    "/targets": "Credit by team",
    "/brief": "The joint revenue-meeting brief",
    "/access": "Change your password",
    "/audit": "Audit trail",
}
ACTION_OF = {"/audit": "read_audit", "/access": "manage_own_credentials"}  # every other page reads reports
# No test here saves the funnel (tests/test_funnel_config.py does); if one did, it would fail
# on a folder that does not exist rather than write the repository's truce.toml.
NOWHERE = Path(tempfile.gettempdir()) / "truce-web-pages-writes-nothing" / "truce.toml"


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory, sqlite_template):
    """A small demo company with a login per role; tests that write work on a copy."""
    path = tmp_path_factory.mktemp("web-pages") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=400, seed=2, config=CONFIG)
    logins = {login["role"]: login for login in add_demo_logins(engine)}
    engine.dispose()
    return path, logins


@pytest.fixture(scope="module")
def shared_engine(demo_file):
    engine = db.connect(f"sqlite:///{demo_file[0]}")
    yield engine
    engine.dispose()


@pytest.fixture
def engine(demo_file, tmp_path):
    path = tmp_path / "copy.db"
    shutil.copy(demo_file[0], path)
    engine = db.connect(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def logins(demo_file):
    return demo_file[1]


def browser(engine, login: dict | None = None) -> TestClient:
    """A client that asks for pages as a browser does, logged in as `login`."""
    app = create_app(engine, CONFIG, config_path=NOWHERE)
    client = TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"})
    if login is not None:
        response = client.post("/login", data={"email": login["email"], "password": login["password"]})
        assert response.status_code == 200, response.text
    return client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def flash_of(page: str) -> str | None:
    found = re.search(r'<p class="flash (ok|error)"[^>]*>(.*?)</p>', page, re.S)
    return found and html.unescape(found[2])


def waiting_for(engine, email: str) -> list[str]:
    return [h["email"] for h in handoff.queue(engine, CONFIG) if h["owner"] == email]


# ---- who sees what -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_the_roles_allowed_with_only_their_links_and_forms(shared_engine, logins, role):
    client = browser(shared_engine, logins[role])
    pages = {}
    for path, heading in PAGES.items():
        response = client.get(path)
        if role in PERMISSIONS[ACTION_OF.get(path, "read_reports")]:
            assert response.status_code == 200, (path, response.text[:500])
            assert heading in response.text, path
            assert '<script src="/static/truce.js"></script>' in response.text
        else:
            assert response.status_code == 403, path
            assert "may not read the audit trail" in response.text and "<html" in response.text
        pages[path] = response.text
        # Nothing but our own server: no CDN, no web font; charts draw with the plotly.js we serve.
        assert not re.search(r'(src|href)="(https?:)?//', response.text), path
        # Nothing inline that the Content-Security-Policy would block: no script without a src, no
        # style element or attribute, no event handler attribute (truce.web.security).
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text, re.I), path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", response.text, re.I), path
        if "data-figure=" in response.text:
            # plotly.js at the URL that names its version, so browsers cache it (tests/test_charts_serving.py).
            assert re.search(r'<script src="/static/plotly\.min\.js\?v=[0-9.]+"></script>', response.text), path
    assert ('href="/audit"' in pages["/"]) == (role == "revops")
    assert all(f'href="{path}"' in pages["/"] for path in PAGES if path != "/audit")
    assert ('action="/handoffs/accept"' in pages["/handoffs"]) == (role == "sales")
    assert ('id="quick-feedback"' in pages["/feedback"]) == (role in PERMISSIONS["add_feedback"])
    assert ('/answer"' in pages["/feedback"]) == (role == "marketing")
    assert ('id="survey-form"' in pages["/survey"]) == (role in PERMISSIONS["take_survey"])
    assert ('method="post" action="/targets"' in pages["/targets"]) == (role in PERMISSIONS["edit_targets"])
    assert ('action="/funnel/config' in pages["/funnel"]) == (role == "revops")


def test_pages_send_strangers_to_the_login_form(shared_engine):
    client = browser(shared_engine)
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"


def test_static_files_are_ours_and_plotly_comes_from_its_installed_package(shared_engine):
    import plotly

    client = browser(shared_engine)
    script = client.get("/static/plotly.min.js")
    bundled = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert script.status_code == 200 and script.content == bundled
    assert client.get("/static/truce.css").status_code == 200 and client.get("/static/truce.js").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/app.py").status_code == 404


def test_an_api_client_still_gets_its_refusal_as_json(shared_engine, logins):
    client = TestClient(create_app(shared_engine, CONFIG), base_url="http://127.0.0.1")
    client.post("/login", data={"email": logins["sales"]["email"], "password": logins["sales"]["password"]})
    refused = client.get("/audit")
    assert refused.status_code == 403 and "may not read the audit trail" in refused.json()["error"]


# ---- the handoff forms ---------------------------------------------------------------------------


def test_a_seller_accepts_a_handoff_and_it_leaves_the_queue(engine, logins):
    seller = logins["sales"]["email"]
    lead = waiting_for(engine, seller)[0]
    client = browser(engine, logins["sales"])
    page = client.get("/handoffs").text
    assert f'data-lead="{lead}"' in page
    response = client.post("/handoffs/accept", data={"email": lead, "csrf": csrf_of(page)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/handoffs"
    shown = client.get("/handoffs").text
    assert f"{lead}: accepted, now at stage sal" in flash_of(shown)
    assert f'data-lead="{lead}"' not in shown
    assert client.get("/handoffs").text.count('class="flash') == 0  # a flash is shown once
    with engine.connect() as conn:
        assert conn.execute(select(Contact.stage).where(Contact.email == lead)).scalar_one() == "sal"
        actors = conn.execute(select(AuditEntry.actor).where(AuditEntry.action == "stage_move")).scalars().all()
    assert seller in actors


def test_a_seller_rejects_with_a_reason_and_is_told_when_the_reason_is_missing(engine, logins):
    seller = logins["sales"]["email"]
    lead = waiting_for(engine, seller)[0]
    client = browser(engine, logins["sales"])
    token = csrf_of(client.get("/handoffs").text)
    missing = client.post("/handoffs/reject", data={"email": lead, "csrf": token})
    assert missing.status_code == 200 and "a rejection needs a reason" in flash_of(missing.text)
    assert lead in waiting_for(engine, seller)
    done = client.post("/handoffs/reject", data={"email": lead, "reason": "no_budget", "note": "Q3", "csrf": token})
    assert f"{lead}: rejected, now at stage recycled" in flash_of(done.text)
    with engine.connect() as conn:
        decided = conn.execute(
            select(Handoff.status, Handoff.rejection_reason, Handoff.note)
            .join(Contact, Contact.id == Handoff.contact_id)
            .where(Contact.email == lead)
            .order_by(Handoff.id.desc())
        ).first()
    assert tuple(decided) == ("rejected", "no_budget", "Q3")


def test_decisions_on_the_page_are_kept_with_origin_web_and_the_sellers_email(engine, logins):
    seller = logins["sales"]["email"]
    first, second = waiting_for(engine, seller)[:2]
    client = browser(engine, logins["sales"])
    token = csrf_of(client.get("/handoffs").text)
    client.post("/handoffs/accept", data={"email": first, "csrf": token})
    client.post("/handoffs/reject", data={"email": second, "reason": "no_need", "csrf": token})
    with engine.connect() as conn:
        for email, stage in ((first, "sal"), (second, "recycled")):
            contact = conn.execute(select(Contact.id).where(Contact.email == email)).scalar_one()
            move = conn.execute(
                select(StageChange.origin, StageChange.reason)
                .where(StageChange.entity_id == contact, StageChange.to_stage == stage)
                .order_by(StageChange.id.desc())
            ).first()
            entry = conn.execute(
                select(AuditEntry.actor, AuditEntry.after)
                .where(AuditEntry.action == "stage_move", AuditEntry.entity_id == contact)
                .order_by(AuditEntry.id.desc())
            ).first()
            assert tuple(move) == ("web", None if stage == "sal" else "no_need")
            assert (entry.actor, entry.after["stage"]) == (seller, stage)


def test_a_decision_without_the_csrf_token_is_refused_and_changes_nothing(engine, logins):
    seller = logins["sales"]["email"]
    lead = waiting_for(engine, seller)[0]
    client = browser(engine, logins["sales"])
    for token in (None, "forged"):
        data = {"email": lead} | ({"csrf": token} if token else {})
        refused = client.post("/handoffs/accept", data=data)
        assert refused.status_code == 403 and "another site" in refused.text and "<html" in refused.text
    assert lead in waiting_for(engine, seller)


def test_a_marketer_may_not_decide_a_handoff_and_is_told_so(engine, logins):
    lead = waiting_for(engine, logins["sales"]["email"])[0]
    client = browser(engine, logins["marketing"])
    token = csrf_of(client.get("/handoffs").text)
    refused = client.post("/handoffs/accept", data={"email": lead, "csrf": token})
    assert refused.status_code == 403
    assert "a marketing user may not accept or reject a handoff; allowed: sales" in refused.text


def test_deciding_a_lead_that_is_not_waiting_says_so(engine, logins):
    client = browser(engine, logins["sales"])
    token = csrf_of(client.get("/handoffs").text)
    with engine.connect() as conn:
        customer = conn.execute(select(Contact.email).where(Contact.stage == "customer")).scalars().first()
    response = client.post("/handoffs/accept", data={"email": customer, "csrf": token})
    assert response.status_code == 200 and "not waiting in the handoff queue" in flash_of(response.text)
    unknown = client.post("/handoffs/accept", data={"email": "nobody@nowhere.example", "csrf": token})
    assert unknown.status_code == 200 and "nobody@nowhere.example" in flash_of(unknown.text)


def test_the_sla_page_counts_the_queue_before_and_after_a_decision(engine, logins):
    seller = logins["sales"]["email"]
    client = browser(engine, logins["sales"])

    def queue_shown() -> int:
        return int(re.search(r'data-testid="queue">(\d+)<', client.get("/sla").text)[1])

    before = queue_shown()
    assert before == len(handoff.queue(engine, CONFIG))
    lead = waiting_for(engine, seller)[0]
    client.post("/handoffs/accept", data={"email": lead, "csrf": csrf_of(client.get("/handoffs").text)})
    assert queue_shown() == before - 1


# ---- feedback ------------------------------------------------------------------------------------


def test_a_seller_sends_one_line_and_a_marketer_answers_it(engine, logins):
    seller = browser(engine, logins["sales"])
    sent = seller.post(
        "/feedback",
        data={"text": "Prospects keep asking for SSO on the mid-market plan", "kind": "product_gap",
              "csrf": csrf_of(seller.get("/feedback").text)},
    )  # fmt: skip
    assert "is with marketing" in flash_of(sent.text)
    with engine.connect() as conn:
        item = conn.execute(select(FeedbackItem).order_by(FeedbackItem.id.desc())).mappings().first()
    assert item["text"].startswith("Prospects keep asking") and item["status"] == "new"
    marketer = browser(engine, logins["marketing"])
    token = csrf_of(marketer.get("/feedback").text)
    no_reply = marketer.post(f"/feedback/{item['id']}/answer", data={"status": "acted_on", "reply": "", "csrf": token})
    assert "acting on feedback needs a reply" in flash_of(no_reply.text)
    answered = marketer.post(
        f"/feedback/{item['id']}/answer",
        data={"status": "acted_on", "reply": "SSO ships in the March release", "csrf": token},
    )
    assert f"Feedback #{item['id']} is now acted on" in flash_of(answered.text)
    mine = seller.get("/feedback?mine=1").text
    assert "SSO ships in the March release" in mine
    again = marketer.post(f"/feedback/{item['id']}/answer", data={"status": "acted_on", "reply": "x", "csrf": token})
    assert "already acted_on" in flash_of(again.text)


def test_feedback_forms_refuse_empty_text_stale_tokens_and_the_wrong_role(engine, logins):
    seller = browser(engine, logins["sales"])
    token = csrf_of(seller.get("/feedback").text)
    empty = seller.post("/feedback", data={"text": "   ", "kind": "other", "csrf": token})
    assert empty.status_code == 200 and flash_of(empty.text)
    assert seller.post("/feedback", data={"text": "hello", "kind": "other"}).status_code == 403
    assert seller.post("/feedback/1/answer", data={"status": "acknowledged", "csrf": token}).status_code == 403
    viewer = browser(engine, logins["viewer"])
    refused = viewer.post("/feedback", data={"text": "hi", "csrf": csrf_of(viewer.get("/feedback").text)})
    assert refused.status_code == 403 and "may not send one line of feedback" in refused.text


# ---- the survey ----------------------------------------------------------------------------------


def ratings_form(ratings: list[int], token: str) -> dict:
    return {f"s{number}": str(value) for number, value in enumerate(ratings, 1)} | {"csrf": token}


def _answers_of(*logins: dict):
    """These logins' answers in the latest round (the demo's people answered earlier ones)."""
    who = select(User.id).where(User.email.in_([login["email"] for login in logins]))
    latest = select(func.max(SurveyRound.id)).scalar_subquery()
    return select(SurveyResponse).where(SurveyResponse.respondent_id.in_(who), SurveyResponse.round_id == latest)


def test_taking_the_survey_shows_the_score_and_band_and_refuses_a_second_answer(engine, logins):
    client = browser(engine, logins["marketing"])
    page = client.get("/survey").text
    assert page.count('type="radio"') == 100  # 20 statements × 5 choices
    ratings = [4, 3, 5, 2, 4, 4, 3, 3, 5, 4, 2, 3, 4, 4, 3, 5, 2, 3, 4, 4]  # 71: aligned (60–79)
    done = client.post("/survey", data=ratings_form(ratings, csrf_of(page)))
    assert done.status_code == 200
    assert re.search(r'data-testid="score">71<', done.text) and 'data-testid="band">aligned<' in done.text
    with engine.connect() as conn:
        kept = conn.execute(_answers_of(logins["marketing"])).mappings().one()
    assert [kept[f"s{n}"] for n in range(1, 21)] == ratings and kept["source"] == "web"
    assert 'id="survey-form"' not in client.get("/survey").text
    twice = client.post("/survey", data=ratings_form(ratings, csrf_of(done.text)))
    assert "has already answered round" in flash_of(twice.text)


def test_a_survey_with_a_missing_or_bad_rating_is_refused(engine, logins):
    client = browser(engine, logins["sales"])
    token = csrf_of(client.get("/survey").text)
    partial = ratings_form([3] * 20, token)
    del partial["s7"]
    assert "statement 7 has no answer" in flash_of(client.post("/survey", data=partial).text)
    bad = ratings_form([3] * 20, token) | {"s2": "9"}
    assert flash_of(client.post("/survey", data=bad).text)
    with engine.connect() as conn:
        assert conn.execute(_answers_of(logins["sales"], logins["viewer"])).first() is None
    viewer = browser(engine, logins["viewer"])
    refused = viewer.post("/survey", data=ratings_form([3] * 20, csrf_of(viewer.get("/survey").text)))
    assert refused.status_code == 403 and "may not answer the diagnostic survey" in refused.text


# ---- reports that take options -------------------------------------------------------------------


def test_the_attribution_switcher_shows_the_model_asked_for(shared_engine, logins):
    client = browser(shared_engine, logins["viewer"])
    default = client.get("/attribution").text
    assert f'data-testid="model">{CONFIG.attribution.model.replace("_", " ")}<' in default
    linear = client.get("/attribution?model=linear&by=team").text
    assert 'data-testid="model">linear<' in linear and "<td>Marketing</td>" in linear  # teams in words (truce.web.labels)
    bad = client.get("/attribution?model=astrology")
    assert bad.status_code == 400 and "unknown model 'astrology'" in html.unescape(bad.text)


def test_the_budget_what_if_projects_a_change_and_explains_a_bad_one(shared_engine, logins):
    client = browser(shared_engine, logins["marketing"])
    projected = client.get("/economics?what_if=1&change_paid_search=-20")
    assert projected.status_code == 200 and 'id="scenario"' in projected.text and "Paid search" in projected.text
    nothing = client.get("/economics?what_if=1")
    assert nothing.status_code == 400 and "change at least one channel" in nothing.text
    bad = client.get("/economics?what_if=1&change_paid_search=lots")
    assert bad.status_code == 400 and 'id="scenario"' not in bad.text


def test_bad_report_options_are_explained_not_crashed(shared_engine, logins):
    client = browser(shared_engine, logins["revops"])
    assert "not a date" in client.get("/funnel?start=yesterday").text
    assert client.get("/funnel?by=colour").status_code == 400
    assert client.get("/targets?period=someday").status_code == 400
    assert client.get("/audit?limit=0").status_code == 400
    assert client.get("/brief/view?period=2099-W01").status_code == 400


def test_revops_sets_a_target_and_others_may_not(engine, logins):
    revops = browser(engine, logins["revops"])
    token = csrf_of(revops.get("/handoffs").text)
    saved = revops.post(
        "/targets",
        data={"metric": "pipeline", "team": "shared", "period": "2027-Q1", "amount": "500000", "csrf": token},
    )
    assert "Target pipeline for shared in 2027-Q1: 500000.00 (set)" in flash_of(saved.text)
    assert "2027-Q1" in saved.text
    bad = revops.post("/targets", data={"metric": "pipeline", "period": "2027-Q1", "amount": "-1", "csrf": token})
    assert "amount must be more than 0" in flash_of(bad.text)
    marketer = browser(engine, logins["marketing"])
    refused = marketer.post("/targets", data={"metric": "pipeline", "period": "2027-Q1", "amount": "1",
                                              "csrf": csrf_of(marketer.get("/handoffs").text)})  # fmt: skip
    assert refused.status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(Target.amount).where(Target.metric == "pipeline")).scalars().all() == [500000]


def test_the_brief_is_framed_and_downloadable(shared_engine, logins):
    client = browser(shared_engine, logins["viewer"])
    assert 'src="/brief/view"' in client.get("/brief").text
    download = client.get("/brief/download?period=2026-W46")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert "Joint revenue meeting — 2026-W46" in download.text
    # Our /brief page may frame it, no other; its policy is the brief's own (tests/test_brief.py).
    view = client.get("/brief/view?period=2026-W46")
    assert view.headers["x-frame-options"] == "SAMEORIGIN"
    assert view.headers["content-security-policy"].endswith("; frame-ancestors 'self'")
    # Framed here, it loads plotly.js from /static (cached); the download carries it inline.
    assert view.headers["content-security-policy"].startswith(policy(served=True))
    assert download.headers["content-security-policy"].startswith(policy())
    assert client.get("/brief").headers["x-frame-options"] == "DENY"


def test_the_audit_trail_filters_by_who_and_what(engine, logins):
    seller = browser(engine, logins["sales"])
    lead = waiting_for(engine, logins["sales"]["email"])[0]
    seller.post("/handoffs/accept", data={"email": lead, "csrf": csrf_of(seller.get("/handoffs").text)})
    revops = browser(engine, logins["revops"])
    page = revops.get(f"/audit?actor={logins['sales']['email']}&action=stage_move").text
    rows = re.findall(r"<tr><td>", page)
    assert len(rows) == 1 and "stage move" in page and "sal" in page


# ---- demo logins and truce demo --serve ----------------------------------------------------------


def test_demo_logins_pick_the_busiest_seller_and_make_new_passwords_each_run(engine):
    first = {login["role"]: login for login in add_demo_logins(engine)}
    again = {login["role"]: login for login in add_demo_logins(engine)}
    assert set(first) == {"sales", "marketing", "revops", "viewer"}
    assert all(first[r]["password"] != again[r]["password"] and len(first[r]["password"]) >= 16 for r in first)
    waiting = [h["owner"] for h in handoff.queue(engine, CONFIG)]
    assert waiting.count(first["sales"]["email"]) == max(waiting.count(o) for o in set(waiting))
    with engine.connect() as conn:
        users = {u.email: u for u in conn.execute(select(User))}
    assert users[first["viewer"]["email"]].access == "viewer"
    for login in first.values():
        assert users[login["email"]].password_hash.startswith("$argon2id$")
        assert login["password"] not in users[login["email"]].password_hash


def test_truce_demo_serve_prints_a_login_per_role_that_works(tmp_path, monkeypatch):
    from truce.cli import app
    from truce.cli import serve as serve_command

    served = {}

    def instead_of_serving(settings, background) -> None:
        served.update(app=settings.app, host=settings.host, port=settings.port, http=settings.http)
        served["jobs"] = background is not None
        if background is not None:
            background.stop(wait=10)

    monkeypatch.setattr(serve_command, "_run", instead_of_serving)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(app, ["demo", "--contacts", "100", "--serve", "--port", "8123", "--db", url])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8123 and served["jobs"]
    # Served with the limits on request headers of [serve] (tests/test_server_limits.py).
    assert issubclass(served["http"], GuardedHttpTools) and served["http"].header_bytes == 16 * 1024
    assert "http://127.0.0.1:8123/" in result.output
    found = re.findall(r"(sales|marketing|revops|viewer)\s+│\s+(\S+@\S+)\s+│\s+(\S+)\s", result.output)
    assert {role for role, _, _ in found} == {"sales", "marketing", "revops", "viewer"}, result.output
    for role, email, password in found:
        client = TestClient(served["app"], base_url="http://127.0.0.1")
        client.post("/login", data={"email": email, "password": password})
        assert client.get("/api/v1/me").json()["role"] == role


def test_the_sla_page_says_which_marketing_promise_broke_in_a_month_not_kept(shared_engine, logins):
    from truce.services.sla_report import report

    months = {m["month"]: m for m in report(shared_engine, CONFIG)["marketing"]["by_month"]}
    page = browser(shared_engine, logins["revops"]).get("/sla").text
    rows = dict(re.findall(r'<tr data-month="([\d-]+)">(.*?)</tr>', page, re.S))
    broken = [m for m in months.values() if m["complete"] and not (m["volume_met"] and m["acceptance_met"])]
    broken = [m for m in broken if m["month"] in rows]  # the page shows the recent months
    assert broken, "the demo should have a month whose marketing promise broke"
    for m in broken:
        said = html.unescape(re.search(r'data-testid="broken-promise">(.*?)</span>', rows[m["month"]], re.S)[1])
        assert ("volume short" in said) == (m["mqls"] < m["target"]), (m, said)
        if m["mqls"] < m["target"]:
            assert f"{m['mqls']} of {m['target']} MQLs" in said
        assert ("acceptance" in said) == (not m["acceptance_met"]), (m, said)


def test_the_navigation_is_grouped_and_each_team_finds_its_own_work_first(shared_engine, logins):
    def groups(role: str) -> list[tuple[str, list[str]]]:
        page = browser(shared_engine, logins[role]).get("/").text
        nav = page.split('<nav id="site-nav"', 1)[1].split("</nav>", 1)[0]
        return [
            (label, re.findall(r'<a href="([^"]+)"', body))
            for label, body in re.findall(r'<span class="nav-label"[^>]*>([^<]+)</span>(.*?)</div>', nav, re.S)
        ]

    seller, marketer, revops = groups("sales"), groups("marketing"), groups("revops")
    assert seller[0] == ("Handoff", ["/handoffs", "/sla"])
    assert marketer[0] == ("Marketing", ["/attribution", "/economics", "/campaign-costs"])
    assert [label for label, _ in revops] == ["Revenue", "Handoff", "Marketing", "Alignment", "People"]
    # Nothing lost in the grouping: RevOps sees every page, a seller not the ones RevOps runs.
    everything = [href for _, hrefs in revops for href in hrefs]
    assert len(everything) == len(set(everything)) == 22
    sellers_pages = {href for _, hrefs in seller for href in hrefs}
    assert {"/users", "/audit", "/survey/rounds"}.isdisjoint(sellers_pages) and "/handoffs" in sellers_pages
