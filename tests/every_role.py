"""The demo served on 127.0.0.1 with one login per role, and a crawler that follows every link a role sees.

Used by the crawl and the accessibility tests (both in Debian's chromium). The roles are the
issue's five: a seller, a marketer, RevOps, a leader (the sales leader) and a read-only viewer;
the first three and the viewer are the demo's own logins (truce.services.demo_logins).

The crawler reads pages over HTTP with the browser context's cookies (fast, and the same session
the browser uses); links are taken from the HTML as parsed by the standard library, so text inside
a <script> is never mistaken for a link. A download (Content-Disposition: attachment) is checked
for its status only. Every link is requested; pages of one shape (the same path with other numbers,
or other query values) have their own links read for the first READ_PER_SHAPE of them.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlparse

from live_server import serving
from sqlalchemy import select

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services.demo_logins import add_demo_logins
from truce.services.logins import add_user
from truce.store import db
from truce.store.models import User
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
ROLES = ("seller", "marketer", "revops", "leader", "viewer")
DEMO_ROLE = {"sales": "seller", "marketing": "marketer", "revops": "revops", "viewer": "viewer"}
LEADER_PASSWORD = "a leader reads every page"
READ_PER_SHAPE = 25
# Leaving the page through these is not a request to another server.
REDIRECTS = (301, 302, 303, 307, 308)
NOT_REQUESTS = ("mailto:", "tel:", "javascript:void(0)")
# Links that end the session or change data are POST forms in truce; a GET link to these would be a bug.
NEVER_FOLLOW = ("/logout",)


@dataclass(frozen=True)
class Site:
    base: str
    logins: dict[str, tuple[str, str]]  # role → (email, password)
    engine: object


def serve_demo(folder, sqlite_template):
    """Yield a Site: the demo built up to now, served until the block ends."""
    path = folder / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=300, seed=4, config=CONFIG, now=dt.datetime.now(dt.UTC))
    logins = {DEMO_ROLE[x["role"]]: (x["email"], x["password"]) for x in add_demo_logins(engine)}
    with engine.connect() as conn:
        leader = (
            conn.execute(
                select(User.email).where(User.team == "sales", User.is_leader.is_(True), User.active.is_(True))
            )
            .scalars()
            .first()
        )
    add_user(engine, email=leader, team="sales", password=LEADER_PASSWORD)
    logins["leader"] = (leader, LEADER_PASSWORD)
    assert set(logins) == set(ROLES), logins
    with serving(create_app(engine, CONFIG)) as port:
        yield Site(f"http://127.0.0.1:{port}", logins, engine)
    engine.dispose()


def log_in(page, site: Site, role: str) -> None:
    email, password = site.logins[role]
    page.goto(f"{site.base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{site.base}/")


class _Links(HTMLParser):
    """The targets of a page's links and frames, as written."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag in ("a", "area") and values.get("href"):
            self.found.append(values["href"])
        elif tag == "iframe" and values.get("src"):
            self.found.append(values["src"])


def links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.found


def shape(url: str) -> str:
    """Pages of one shape: /leads/12 and /leads/40 are one; /attribution?model=linear is /attribution."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", urlparse(url).path)


@dataclass
class Crawl:
    status: dict[str, int] = field(default_factory=dict)  # every URL requested → its status
    found_on: dict[str, str] = field(default_factory=dict)  # URL → the first page that linked it
    outside: list[tuple[str, str]] = field(default_factory=list)  # (link, page) leaving 127.0.0.1
    not_requests: Counter = field(default_factory=Counter)  # mailto: and the like, by scheme
    pages: list[str] = field(default_factory=list)  # HTML pages whose links were read, in crawl order
    redirects: dict[str, str] = field(default_factory=dict)  # URL → where it sent the browser

    def bad(self) -> dict[str, str]:
        return {
            url: f"{code} (linked from {self.found_on.get(url, '-')})"
            for url, code in self.status.items()
            if code != 200 and not self._leads_somewhere(url)
        }

    def _leads_somewhere(self, url: str) -> bool:
        """A redirect is a good link when it lands on a page that answers (/leads/find → /leads/7),
        but not when it sends the user to log in again."""
        target = self.redirects.get(url)
        return target is not None and not target.startswith("/login") and self.status.get(target) == 200

    def one_per_shape(self) -> list[str]:
        first: dict[str, str] = {}
        for url in self.pages:
            first.setdefault(shape(url), url)
        return list(first.values())


def crawl(request, base: str, start: str = "/", *, per_shape: int | None = None) -> Crawl:
    """Follow every link from `start` that stays on `base`, with `request` (a Playwright APIRequestContext).

    With `per_shape`, only that many URLs of each shape are requested (enough to find every page once)."""
    result, queue, shapes = Crawl(), [start], Counter()
    queued = {start}
    while queue:
        url = queue.pop(0)
        if per_shape is not None and shapes[shape(url)] >= per_shape:
            continue
        response = request.get(base + url, max_redirects=0)
        result.status[url] = response.status
        if response.status in REDIRECTS:
            _follow(request, result, base, url, response.headers.get("location", ""))
        html = "text/html" in response.headers.get("content-type", "")
        download = "attachment" in response.headers.get("content-disposition", "")
        if response.status != 200 or not html or download:
            continue
        shapes[shape(url)] += 1
        if shapes[shape(url)] > READ_PER_SHAPE:
            continue
        result.pages.append(url)
        for link in _targets(result, base, url, links_in(response.text())):
            if link not in queued:
                queued.add(link)
                result.found_on[link] = url
                queue.append(link)
    return result


def _follow(request, result: Crawl, base: str, url: str, location: str) -> None:
    """Where a redirect lands, requested at once: a page skipped as one more of its shape still
    has to answer for the link that led to it."""
    target = urlparse(urljoin(base + url, location))
    local = target.path + (f"?{target.query}" if target.query else "")
    if f"{target.scheme}://{target.netloc}" != base:
        result.outside.append((location, url))
        return
    result.redirects[url] = local
    if local not in result.status:
        result.status[local] = request.get(base + local, max_redirects=0).status
        result.found_on.setdefault(local, url)


def _targets(result: Crawl, base: str, page: str, hrefs: list[str]) -> list[str]:
    """The local URLs (path and query) the links lead to; the others are recorded on `result`."""
    local = []
    for href in hrefs:
        if href.startswith("#"):
            continue
        if href.startswith(NOT_REQUESTS):
            result.not_requests[href.split(":", 1)[0]] += 1
            continue
        target = urlparse(urldefrag(urljoin(base + page, href)).url)
        if f"{target.scheme}://{target.netloc}" != base:
            result.outside.append((href, page))
            continue
        path = target.path + (f"?{target.query}" if target.query else "")
        if not path.startswith(NEVER_FOLLOW):
            local.append(path)
    return local
