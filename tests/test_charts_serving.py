"""How pages travel: compressed, plotly.js served once and cached by the browser (never inlined
into a page, but in the downloaded brief), a 404 page for browsers and JSON for the API, and
text that cannot widen a page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import plotly
import pytest
from fastapi.testclient import TestClient

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services.demo_logins import add_demo_logins
from truce.store import db
from truce.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
CSS = Path(__file__).parents[1] / "src" / "truce" / "web" / "static" / "truce.css"


@pytest.fixture(scope="module")
def client(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("serving") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=300, seed=3, config=CONFIG)
    viewer = next(login for login in add_demo_logins(engine) if login["role"] == "viewer")
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1", headers={"accept": "text/html"})
    assert client.post("/login", data={"email": viewer["email"], "password": viewer["password"]}).status_code == 200
    yield client
    engine.dispose()


def test_it_compresses_pages_for_browsers_that_accept_gzip(client):
    page = client.get("/", headers={"accept-encoding": "gzip"})
    assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
    assert "Shared target and forecast" in page.text  # the client unpacked it
    assert int(page.headers["content-length"]) < len(page.content) / 2
    plain = client.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_it_serves_plotly_once_at_a_versioned_url_the_browser_keeps(client):
    page = client.get("/").text
    url = re.search(r'<script src="(/static/plotly\.min\.js\?v=[^"]+)"', page)[1]
    assert url.endswith(f"?v={plotly.__version__}")
    script = client.get(url, headers={"accept-encoding": "gzip"})
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-encoding"] == "gzip"
    assert script.content == (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    # An old or missing version is still served, but only kept for a day: an upgrade is seen tomorrow.
    assert client.get("/static/plotly.min.js?v=0.0.1").headers["cache-control"] == "max-age=86400"


def test_it_no_longer_inlines_plotly_into_the_brief_shown_in_the_app(client):
    view = client.get("/brief/view?period=2026-W46", headers={"accept-encoding": "identity"})
    download = client.get("/brief/download?period=2026-W46", headers={"accept-encoding": "identity"})
    assert view.status_code == download.status_code == 200
    # The file to take away still opens offline: plotly.js inside it, 4.6 MB of it.
    assert 'id="plotly-js"' in download.text and len(download.content) > 4_000_000
    assert 'id="plotly-js"' not in view.text and '<script src="/static/plotly.min.js?v=' in view.text
    assert len(view.content) < 400_000
    zipped = client.get("/brief/view?period=2026-W46", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and int(zipped.headers["content-length"]) < 100_000


def test_it_answers_an_unknown_address_with_a_page_for_browsers_and_json_for_the_api(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "There is no page here" in page.text and 'href="/"' in page.text and "/no/such/page" in page.text
    api = client.get("/no/such/page", headers={"accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"error": "Not Found", "errors": []}
    under_api = client.get("/api/v1/no-such-thing")  # even a browser asking under /api/ gets JSON
    assert under_api.status_code == 404 and under_api.headers["content-type"] == "application/json"


def test_it_wraps_a_long_word_instead_of_widening_the_page():
    css = CSS.read_text(encoding="utf-8")
    assert re.search(r"p, li, dd, h1, h2, h3, code, \.flash \{ overflow-wrap: anywhere; \}", css)
    assert "td { overflow-wrap: break-word; }" in css
    assert "body { overflow-wrap: break-word; }" in css
