"""What every response carries and what is refused at the door: security headers, cross-site
log-ins and writes, Swagger UI from our own server, and recomputation on demand per person.

Slow and oversized requests are checked against a real server in tests/test_server_limits.py;
the policy is checked in chromium in tests/test_web_browser.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from truce import config as truce_config
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import FeedbackItem, WebSession
from truce.web.app import COOKIE, create_app
from truce.web.report_cache import FRESH_LIMITED, FreshLimit

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1"
EVIL = "https://evil.example"
HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


@pytest.fixture
def engine(sqlite_template, tmp_path):
    path = tmp_path / "web.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD)
    add_user(engine, email="mia@yourco.example", team="marketing", password=PASSWORD)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine):
    return create_app(engine, CONFIG)


def client_of(app, **headers) -> TestClient:
    return TestClient(app, base_url=BASE, headers=headers, raise_server_exceptions=False)


def logged_in(app, email="eva@yourco.example", **headers) -> TestClient:
    client = client_of(app, **headers)
    response = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/feedback", headers={"accept": "text/html"}).text)[1]


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        found[name] = sources
    return found


def feedback_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(FeedbackItem)).scalar_one()


# ---- headers on every response -------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(app, engine):
    @app.get("/boom", include_in_schema=False)
    def boom():
        raise RuntimeError("a bug")

    token = create_token(engine, email="eva@yourco.example")
    api = client_of(app, authorization=f"Bearer {token}")
    page = logged_in(app, accept="text/html")
    answers = {
        "login page": client_of(app).get("/login"),
        "page": page.get("/feedback"),
        "redirect to log in": client_of(app, accept="text/html").get("/funnel", follow_redirects=False),
        "API record": api.get("/api/v1/me"),
        "API report": api.get("/api/v1/reports/feedback-themes"),
        "401": client_of(app).get("/api/v1/me"),
        "404": api.get("/api/v1/nothing-here"),
        "422": api.post("/api/v1/feedback", json={"text": ""}),
        "static file": client_of(app).get("/static/truce.js"),
        "plotly.js": client_of(app).get("/static/plotly.min.js"),
        "OpenAPI": client_of(app).get("/api/v1/openapi.json"),
        "500": client_of(app).get("/boom"),
    }
    for name, response in answers.items():
        assert response.status_code in (200, 303, 401, 404, 422, 500), name
        for header, value in HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        policy = directives(response.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"], name
    assert answers["500"].status_code == 500


def test_the_policy_runs_only_our_own_scripts_and_loads_nothing_from_elsewhere(app):
    policy = directives(client_of(app).get("/login").headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other host
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    # Styles: our stylesheet, and what plotly.js adds — the empty <style> it fills and the sheet it ships.
    assert policy["style-src"][0] == "'self'" and all(s.startswith("'sha256-") for s in policy["style-src"][1:])
    assert "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='" in policy["style-src"]  # sha256 of ""
    for sources in policy.values():
        assert not [s for s in sources if "unsafe" in s or "://" in s or s in ("*", "http:", "https:")], sources


def test_a_page_sets_no_header_of_its_own_over_ours_unless_it_is_framed_by_us(app):
    page = logged_in(app, accept="text/html")
    assert page.get("/brief").headers["x-frame-options"] == "DENY"
    assert page.get("/api/v1/docs").headers["x-frame-options"] == "DENY"


# ---- cross-site log-ins and writes ---------------------------------------------------------------


def test_it_refuses_a_cross_site_login_and_starts_no_session(app, engine):
    response = client_of(app, origin=EVIL).post(
        "/login", data={"email": "eva@yourco.example", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert response.json()["error"].startswith(f"this form was sent from another site ({EVIL})")
    assert response.json()["errors"] == []
    assert COOKIE not in response.headers.get("set-cookie", "")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_a_browser_is_shown_the_refusal_as_a_page(app):
    response = client_of(app, origin=EVIL, accept="text/html").post(
        "/login", data={"email": "eva@yourco.example", "password": PASSWORD}
    )
    assert response.status_code == 403 and "<html" in response.text
    assert "sent from another site" in response.text and "That cannot be done" in response.text


def test_it_refuses_a_login_whose_referer_names_another_site(app):
    response = client_of(app, referer=f"{EVIL}/phish?to=truce").post(
        "/login", data={"email": "eva@yourco.example", "password": PASSWORD}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "origin",
    ["null", "http://127.0.0.1:8000", "http://127.0.0.1.evil.example", "http://evil.example/?127.0.0.1", "not a url"],
)
def test_it_refuses_origins_that_are_not_ours(app, origin):
    response = client_of(app, origin=origin).post("/login", data={"email": "eva@yourco.example", "password": PASSWORD})
    assert response.status_code == 403, origin


def test_a_login_from_our_own_page_or_without_either_header_goes_ahead(app):
    for headers in ({"origin": BASE}, {"referer": f"{BASE}/login?next=/funnel"}, {}):
        response = client_of(app, **headers).post(
            "/login", data={"email": "eva@yourco.example", "password": PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 303, headers


def test_behind_a_proxy_that_ends_tls_the_browsers_https_origin_is_ours(app):
    client = TestClient(app, base_url="http://truce.yourco.example", headers={"origin": "https://truce.yourco.example"})
    response = client.post("/login", data={"email": "eva@yourco.example", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303


def test_on_a_port_of_its_own_only_that_port_is_ours(app):
    def login_from(origin: str) -> int:
        client = TestClient(app, base_url="http://127.0.0.1:8000", headers={"origin": origin})
        return client.post("/login", data={"email": "eva@yourco.example", "password": PASSWORD}).status_code

    assert login_from("http://127.0.0.1:8001") == 403
    assert login_from("http://127.0.0.1") == 403
    assert login_from("http://127.0.0.1:8000") == 200  # the page after the log-in


def test_it_refuses_a_cookie_write_from_another_site_even_with_the_csrf_token(app, engine):
    seller = logged_in(app)
    csrf = csrf_of(seller)
    before = feedback_count(engine)
    response = seller.post(
        "/feedback", data={"text": "buyers want a monthly plan", "kind": "pricing", "csrf": csrf},
        headers={"origin": EVIL}, follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 403 and "another site" in response.json()["error"]
    api = seller.post(
        "/api/v1/feedback", json={"text": "buyers want a monthly plan", "kind": "pricing"},
        headers={"origin": EVIL, "x-csrf-token": csrf},
    )  # fmt: skip
    assert api.status_code == 403
    logout = seller.post("/logout", data={"csrf": csrf}, headers={"referer": f"{EVIL}/"}, follow_redirects=False)
    assert logout.status_code == 403
    assert feedback_count(engine) == before
    assert seller.get("/api/v1/me").status_code == 200  # still logged in


def test_a_cookie_write_from_our_page_or_without_either_header_still_needs_its_csrf_token(app, engine):
    seller = logged_in(app)
    csrf = csrf_of(seller)
    before = feedback_count(engine)
    data = {"text": "buyers want a monthly plan", "kind": "pricing"}
    assert seller.post("/feedback", data=data, headers={"origin": BASE}, follow_redirects=False).status_code == 403
    assert seller.post("/feedback", data=data, follow_redirects=False).status_code == 403  # no token: the CSRF check
    sent = seller.post("/feedback", data={**data, "csrf": csrf}, headers={"origin": BASE}, follow_redirects=False)
    assert sent.status_code == 303
    assert seller.post("/feedback", data={**data, "csrf": csrf}, follow_redirects=False).status_code == 303
    assert feedback_count(engine) == before + 2


def test_an_api_token_write_is_not_judged_by_its_origin(app, engine):
    token = create_token(engine, email="eva@yourco.example")
    response = client_of(app, authorization=f"Bearer {token}", origin=EVIL).post(
        "/api/v1/feedback", json={"text": "buyers want a monthly plan", "kind": "pricing"}
    )
    assert response.status_code == 201, response.text


def test_reads_are_not_judged_by_their_origin(app):
    seller = logged_in(app)
    assert seller.get("/api/v1/me", headers={"origin": EVIL}).status_code == 200


# ---- Swagger UI ----------------------------------------------------------------------------------


def test_the_api_docs_page_loads_swagger_ui_from_our_own_server(app):
    import fastapi_offline

    client = client_of(app)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and 'id="swagger-ui"' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=", page.text)  # nothing inline
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(urls) == ["/api/v1/docs/swagger-ui-bundle.js", "/api/v1/docs/swagger-ui.css", "/static/swagger.js"]
    shipped = Path(fastapi_offline.__file__).parent / "static"
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        if url.startswith("/api/v1/docs/"):
            assert response.content == (shipped / url.rsplit("/", 1)[1]).read_bytes()
    assert "validatorUrl: null" in client.get("/static/swagger.js").text  # no badge from another site
    assert client.get("/api/v1/docs/../../etc/passwd").status_code == 404
    assert client.get("/api/v1/docs/redoc.standalone.js").status_code == 404


# ---- recomputation on demand, per person ---------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fresh_recomputation_is_limited_per_person_and_report(app, engine):
    clock = Clock()
    app.state.fresh_limit = FreshLimit(60, clock=clock)
    eva, mia = (create_token(engine, email=e) for e in ("eva@yourco.example", "mia@yourco.example"))
    eva_api = client_of(app, authorization=f"Bearer {eva}", **{"cache-control": "no-cache"})
    mia_api = client_of(app, authorization=f"Bearer {mia}", **{"cache-control": "no-cache"})
    themes, sla = "/api/v1/reports/feedback-themes", "/api/v1/reports/sla"

    first = eva_api.get(themes)
    assert first.headers["x-truce-cache"] == "miss" and FRESH_LIMITED not in first.headers
    clock.now += 10
    again = eva_api.get(themes)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["x-truce-cache"] == "hit"  # the kept report, not a recomputation
    assert again.headers[FRESH_LIMITED] == "50"
    # Another person, and another report, have their own turn.
    assert mia_api.get(themes).headers["x-truce-cache"] == "miss"
    assert eva_api.get(sla).headers["x-truce-cache"] == "miss"
    clock.now += 50
    later = eva_api.get(themes)
    assert later.headers["x-truce-cache"] == "miss" and FRESH_LIMITED not in later.headers
    # Without no-cache nobody is limited or told anything.
    plain = client_of(app, authorization=f"Bearer {eva}").get(themes)
    assert plain.headers["x-truce-cache"] == "hit" and FRESH_LIMITED not in plain.headers


def test_a_page_asked_afresh_too_often_is_shown_from_the_kept_reports(app):
    clock = Clock()
    app.state.fresh_limit = FreshLimit(60, clock=clock)
    page = logged_in(app, accept="text/html")
    assert page.get("/feedback", headers={"cache-control": "no-cache"}).status_code == 200
    computed = app.state.report_cache.counts["miss"]
    clock.now += 1
    response = page.get("/feedback", headers={"cache-control": "no-cache"})
    assert response.status_code == 200 and "Items and answers" in response.text
    assert response.headers[FRESH_LIMITED] == "59"
    assert app.state.report_cache.counts["miss"] == computed  # nothing was recomputed


def test_the_limit_forgets_people_whose_wait_is_over():
    clock = Clock()
    limit = FreshLimit(60, clock=clock, most=3)
    assert [limit.wait(who, "report") for who in "abc"] == [0, 0, 0]
    clock.now += 61
    assert limit.wait("d", "report") == 0  # full: the three whose wait is over are forgotten
    assert len(limit._last) == 1
    assert limit.wait("d", "report") == 60
    assert FreshLimit(0).wait("a", "report") == 0 and FreshLimit(0).wait("a", "report") == 0


def test_the_limit_is_a_setting_of_the_serve_section():
    assert CONFIG.serve.fresh_seconds == 60
    text = truce_config.default_text().replace("fresh_seconds = 60", "fresh_seconds = 5")
    assert truce_config.parse(text).serve.fresh_seconds == 5
    with pytest.raises(truce_config.ConfigError, match="serve.fresh_seconds"):
        truce_config.parse(truce_config.default_text().replace("fresh_seconds = 60", "fresh_seconds = -1"))
