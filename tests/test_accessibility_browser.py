"""Every page each role reaches, checked for accessibility in Debian's chromium, with checks of our own.

Per page (one of each shape the role's crawl finds, tests/every_role.py), at laptop size:
a <title>, a lang and a <main>; a label for every form field; a name for every link and button;
a text alternative for every image and chart; a skip link as the first stop, leading to the main
content and visible when focused; no positive tabindex; text contrast of at least 4.5:1 from the
computed colours (tests/a11y_checks.js). Then Tab is pressed through the page: every visible
control is reached, in document order, and each shows where the focus is.
Screenshots of RevOps' pages (laptop and phone) land in test-artifacts/a11y/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from every_role import ROLES, crawl, log_in, serve_demo, shape

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CHECKS = (Path(__file__).parent / "a11y_checks.js").read_text()
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "a11y"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# What the focused element looks like, recorded as Tab moves on (the page's own order number, set by the checks).
WATCH_FOCUS = """() => { window.a11yFocus = []; document.addEventListener("focusin", (event) => {
  const e = event.target, style = getComputedStyle(e);
  window.a11yFocus.push({order: e.dataset.a11yOrder === undefined ? null : Number(e.dataset.a11yOrder),
    what: e.outerHTML.slice(0, 120), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0,
    shadow: style.boxShadow});
}, true); }"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    yield from serve_demo(tmp_path_factory.mktemp("a11y"), sqlite_template)


def _pages(page, site, role: str) -> list[str]:
    log_in(page, site, role)
    return crawl(page.request, site.base, per_shape=1).one_per_shape()


# Tab starts from the top of the page, as it does after a page loads, whatever has the focus now
# (a field with autofocus, the last control tested): from a throwaway mark before everything else.
FROM_THE_TOP = """() => { const mark = document.createElement("span"); mark.tabIndex = -1;
  document.body.prepend(mark); mark.focus(); mark.blur(); mark.remove(); window.scrollTo(0, 0); }"""
# Where Tab stands: a control of the page, a frame (its own document has the focus), or nowhere (the page's end).
WHERE = "() => document.activeElement === document.body ? null : document.activeElement.outerHTML.slice(0, 200)"


def _tab_through(page, stops: int) -> list[dict]:
    """Press Tab until the focus leaves the page's end or comes back round; a scrolling box
    (Chromium lets the keyboard scroll it) and a frame's own links are stops too, so allow for them."""
    page.evaluate(FROM_THE_TOP)
    page.evaluate(WATCH_FOCUS)
    pressed = 0
    while pressed < 3 * stops + 60:
        # Tab past the last control starts again at the top; what was reached is recorded once, in order.
        batch = stops + 5 if pressed == 0 else 10
        for _ in range(batch):
            page.keyboard.press("Tab")
        pressed += batch
        if page.evaluate(WHERE) is None or page.evaluate(
            f"() => new Set(window.a11yFocus.map(f => f.order)).has({stops - 1})"
        ):
            break
    return page.evaluate("() => window.a11yFocus")


def _focus_problems(tabbable: list[str], focused: list[dict]) -> list[str]:
    problems = []
    orders = [f["order"] for f in focused if f["order"] is not None]
    missed = sorted(set(range(len(tabbable))) - set(orders))
    problems += [f"Tab never reaches {tabbable[i]}" for i in missed]
    seen = list(dict.fromkeys(orders))
    if seen != sorted(seen):
        problems.append(f"Tab moves out of document order: {seen[:40]}")
    for stop in focused:
        if stop["shadow"] == "none" and (stop["outline"] == "none" or stop["width"] < 1):
            problems.append(f"focus not visible on {stop['what']}")
    return problems


def _skip_link_problems(page) -> list[str]:
    page.evaluate(FROM_THE_TOP)
    page.keyboard.press("Tab")
    box = page.evaluate(
        "() => { const r = document.activeElement.getBoundingClientRect(); "
        "return {w: r.width, h: r.height, top: r.top, left: r.left}; }"
    )
    if box["w"] < 10 or box["h"] < 10 or box["top"] < 0 or box["left"] < 0:
        return [f"the skip link is not visible when focused: {box}"]
    page.keyboard.press("Enter")
    landed = page.evaluate("() => location.hash && document.querySelector(location.hash)?.tagName")
    return [] if landed == "MAIN" else [f"the skip link does not lead to <main> ({landed})"]


def _check(page, url: str) -> list[str]:
    found = page.evaluate(CHECKS)
    problems = list(found["problems"])
    if not any(p.startswith("page: the first focusable") for p in problems):
        problems += _skip_link_problems(page)
        page.reload()
        page.evaluate(CHECKS)
    problems += _focus_problems(found["tabbable"], _tab_through(page, len(found["tabbable"])))
    return [f"{url}: {p}" for p in dict.fromkeys(problems)]


def _shoot(page, url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = shape(url).strip("/").replace("/", "-").replace("{id}", "n") or "overview"
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_reaches_is_accessible(local_page, site, role):
    page = local_page
    page.set_viewport_size(LAPTOP)
    problems = []
    for url in _pages(page, site, role):
        page.goto(site.base + url)
        problems += _check(page, url)
        if role == "revops":
            _shoot(page, url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"problems-{role}.txt").write_text("".join(f"{p}\n" for p in problems))
    assert problems == []
    assert page.outside == []


def test_the_login_page_is_accessible(local_page, site):
    page = local_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{site.base}/login")
    problems = _check(page, "/login")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "problems-login.txt").write_text("".join(f"{p}\n" for p in problems))
    assert problems == []


BAD_PAGE = """<!doctype html><html><head></head><body>
<a href="/">home</a>
<main><h1>A page that breaks every rule</h1>
<p style="color:#999;background:#fff">grey on white, 2.85:1</p>
<form><input name="who" placeholder="a placeholder is no label"><button style="outline:none">Go</button></form>
<span tabindex="2">jumps the queue</span>
<div class="plotly-graph-div" style="width:200px;height:100px"></div>
<iframe src="about:blank"></iframe>
</main></body></html>"""


def test_the_checks_find_what_a_broken_page_gets_wrong(local_page):
    page = local_page
    page.set_content(BAD_PAGE)
    problems = page.evaluate(CHECKS)["problems"]
    expected = [
        "page: no <title>",
        "page: <html> has no lang",
        "a field without a label: input",
        "a frame without a title: iframe",
        "a chart without a text alternative: div",
        "page: the first focusable element is not a skip link",
        "a positive tabindex breaks the focus order: span",
        "text contrast below 4.5:1: p",
    ]
    for rule in expected:
        assert any(p.startswith(rule) for p in problems), (rule, problems)
    # #999 on white: (1 + 0.05) / (0.3185 + 0.05) = 2.85 by hand, from the sRGB luminance of 0x99.
    assert "2.85:1" in next(p for p in problems if p.startswith("text contrast"))
    tabbable = page.evaluate(CHECKS)["tabbable"]
    focused = _tab_through(page, len(tabbable))
    assert any(p.startswith("focus not visible on <button") for p in _focus_problems(tabbable, focused))
