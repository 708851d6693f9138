"""Every link on every page, for each role, in Debian's chromium: all answer 200 and none leaves 127.0.0.1.

The demo is built up to now and served on 127.0.0.1 (tests/every_role.py). For each role the crawl
starts at the overview and follows every link and frame it finds (every link is requested; the links of
pages of one shape are read for the first 25 of them). Then one page of each shape is opened in the
browser, which records every request the page makes (a request to another host is aborted and listed),
every script error, and every link the page's own JavaScript added.
"""

from __future__ import annotations

import pytest
from every_role import ROLES, crawl, log_in, serve_demo, shape

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# The pages each role's navigation leads to, at least: a crawl that finds fewer has lost its way.
EVERY_ROLE_READS = {
    "/",
    "/funnel",
    "/handoffs",
    "/sla",
    "/attribution",
    "/economics",
    "/feedback",
    "/survey",
    "/targets",
    "/brief",
    "/meetings",
    "/decisions",
    "/initiatives",
    "/access",
    "/account-plans",
    "/campaign-costs",
    "/metrics",
    "/directory",
    "/notifications",
}
REVOPS_ALSO = {"/audit", "/connections", "/survey/rounds", "/users"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    yield from serve_demo(tmp_path_factory.mktemp("crawl"), sqlite_template)


@pytest.fixture(scope="module")
def crawls(site, chromium_browser):
    """role → its Crawl, made once with that role's session."""
    found = {}
    for role in ROLES:
        context = chromium_browser.new_context()
        page = context.new_page()
        log_in(page, site, role)
        found[role] = crawl(page.request, site.base)
        context.close()
    return found


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_every_link_a_role_sees_with_200(crawls, role):
    found = crawls[role]
    assert found.bad() == {}
    expected = EVERY_ROLE_READS | (REVOPS_ALSO if role == "revops" else set())
    assert expected <= {shape(url) for url in found.pages}


@pytest.mark.parametrize("role", ROLES)
def test_it_keeps_every_link_on_127_0_0_1(crawls, role):
    assert crawls[role].outside == []


def test_it_shows_pages_only_to_the_roles_that_may_read_them(crawls):
    assert not any(url.startswith(("/audit", "/users", "/connections")) for url in crawls["seller"].status)
    assert not any(url.startswith(("/audit", "/users", "/connections")) for url in crawls["viewer"].status)


@pytest.mark.parametrize("role", ROLES)
def test_it_makes_no_request_beyond_127_0_0_1_and_no_script_error_on_any_page(local_page, site, crawls, role):
    page, errors, added = local_page, [], {}
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    log_in(page, site, role)
    known = set(crawls[role].status)
    for url in crawls[role].one_per_shape():
        page.goto(site.base + url)
        page.wait_for_load_state("load")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            local = href.removeprefix(site.base).split("#")[0]
            if href.startswith(site.base) and local and local not in known and not local.startswith("/logout"):
                added[local] = url
    assert page.outside == []
    assert errors == []
    assert failed == []
    answers = {local: page.request.get(site.base + local) for local in added}  # redirects followed
    landed = {local: (r.status, r.url.removeprefix(site.base)) for local, r in answers.items()}
    assert {local: end for local, end in landed.items() if end[0] != 200 or end[1].startswith("/login")} == {}
