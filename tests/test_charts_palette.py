"""Charts people read: one colour per team in every chart builder (web pages and brief), axes that
say what they measure, a text alternative for each chart, and empty months shown as "no data"."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal

import pytest

from truce import palette
from truce.brief import charts as brief_charts
from truce.web import charts as web_charts

MARKETING_BLUE, SALES_ORANGE = "#2b6cb0", "#c05621"


def figure_of(markup) -> dict:
    return json.loads(html.unescape(re.search(r'data-figure="([^"]*)"', str(markup))[1]))


def alt_of(markup) -> str:
    return html.unescape(re.search(r'aria-label="([^"]*)"', str(markup))[1])


def colours_by_name(fig: dict) -> dict:
    """{trace name or category: colour} for every bar and line of a figure."""
    found = {}
    for trace in fig["data"]:
        colour = (trace.get("marker") or {}).get("color") or (trace.get("line") or {}).get("color")
        categories = trace.get("y") if trace.get("orientation") == "h" else trace.get("x")
        if isinstance(colour, list):
            found.update({str(c).strip(): col for c, col in zip(categories, colour, strict=False)})
        elif colour:
            found[trace.get("name", "")] = colour
    return found


def every_chart() -> dict[str, str]:
    """One chart from each builder, drawn from small made-up data."""
    team_rows = [{"team": "marketing", "went_cold": 3, "previous": 2}, {"team": "sales", "went_cold": 5, "previous": 1}]
    target = {"metric": "revenue", "period": "2026-Q4", "team": "marketing", "attainment": 0.5,
              "forecast_attainment": 0.9}  # fmt: skip
    return {
        "web funnel": web_charts.funnel_volume(
            [{"label": "Inquiry", "entered": 10, "team": "marketing"}, {"label": "MQL", "entered": 4, "team": "sales"}]
        ),  # fmt: skip
        "web lines": web_charts.monthly_lines(["2026-01", "2026-02"], {"marketing": [1, 2], "sales": [3, None]}),
        "web bars": web_charts.bars(
            ["marketing", "sales"],
            [5, 7],
            colours=palette.for_keys("team", ["marketing", "sales"]),
            label_title="team",
            value_title="revenue credited (USD)",
        ),  # fmt: skip
        "web grouped": web_charts.grouped(
            ["webinar"], {"spend": [1], "revenue": [4]}, label_title="channel", value_title="USD"
        ),  # fmt: skip
        "web stacked": web_charts.stacked_by_team(
            [{"month": "2026-01", "team": "marketing", "n": 2}, {"month": "2026-01", "team": "sales", "n": 1}],
            x="month",
            team="team",
            value="n",
        ),  # fmt: skip
        "web gaps": web_charts.perception_gaps([{"statement": "s1", "theme": "targets", "gap": 0.5}]),
        "web attainment": web_charts.attainment([target]),
        "web steps": web_charts.step_rates(
            [
                {
                    "from_stage": "inquiry",
                    "to_stage": "mql",
                    "from_label": "Inquiry",
                    "to_label": "MQL",
                    "team": "marketing",
                    "rate": 0.4,
                    "entered": 10,
                }
            ]
        ),
        "brief targets": brief_charts.targets({"rows": [target]}),
        "brief funnel": brief_charts.funnel({"rows": [{"stage": "mql", "entered": 3, "previous": 2}]}, "W2", "W1"),
        "brief sla": brief_charts.sla(
            {
                "sales": {"first_touch": {"compliance": 0.8}, "decision": {"compliance": 0.9}},
                "marketing": {"acceptance_rate": 0.7, "min_acceptance_rate": 0.7},
            }
        ),
        "brief cold": brief_charts.cold_leads({"by_team": team_rows}, "W2", "W1"),
        "brief campaigns": brief_charts.campaigns(
            {
                "currency": "USD",
                "top_by_revenue": [{"label": "Webinar", "key": "w", "spend": Decimal("10"), "revenue": Decimal("40")}],
            }
        ),
        "brief feedback": brief_charts.feedback({"counts": [{"kind": "lead_quality", "count": 3}]}),
        "brief diagnostic": brief_charts.diagnostic(
            {"gaps": [{"text": "We share targets", "sales": 2.0, "marketing": 4.0}]}
        ),  # fmt: skip
    }


def test_it_gives_each_team_one_colour_in_every_chart_builder():
    charts = every_chart()
    seen = {"marketing": set(), "sales": set()}
    for name in ("web bars", "web lines", "web stacked", "brief cold"):
        found = colours_by_name(figure_of(charts[name]))
        for team in seen:
            seen[team] |= {colour for key, colour in found.items() if key == team}
    assert seen == {"marketing": {MARKETING_BLUE}, "sales": {SALES_ORANGE}}
    # A marketing target's "so far" bar is marketing's blue on the targets page and in the brief alike.
    for name in ("web attainment", "brief targets"):
        bars = figure_of(charts[name])["data"][0]["marker"]["color"]
        assert bars == [MARKETING_BLUE], name


def test_it_draws_no_series_that_is_no_team_in_a_team_colour():
    # The brief's "this period" used to be marketing's blue beside marketing's own bars.
    fig = figure_of(every_chart()["brief funnel"])
    assert {t["name"]: t["marker"]["color"] for t in fig["data"]} == {"W1": palette.BEFORE, "W2": palette.NOW}
    assert palette.NOW not in palette.TEAMS.values() and palette.BEFORE not in palette.TEAMS.values()


def test_it_draws_a_sales_channel_in_sales_colour():
    assert palette.for_keys("channel", ["webinar", "sales_call", "outbound", "organic_search"]) == [
        MARKETING_BLUE, SALES_ORANGE, SALES_ORANGE, MARKETING_BLUE]  # fmt: skip
    assert palette.for_keys("campaign", ["a"]) is None


@pytest.mark.parametrize("name", list(every_chart()))
def test_it_titles_both_axes_and_gives_a_text_alternative(name):
    chart = every_chart()[name]
    fig = figure_of(chart)
    layout = fig["layout"]
    for axis in ("xaxis", "yaxis"):
        assert (layout.get(axis, {}).get("title") or {}).get("text"), (name, axis)
    alt = alt_of(chart)
    assert len(alt) > 20 and "axis" in alt, (name, alt)
    assert "<figcaption" in str(chart)


def test_it_reads_the_values_in_the_text_alternative():
    chart = web_charts.bars(["marketing", "sales"], [5, 7], label_title="team", value_title="deals")
    assert alt_of(chart) == "Chart. x axis: deals. y axis: team. marketing: 5; sales: 7."


def test_it_marks_months_without_data_instead_of_skipping_them():
    chart = web_charts.monthly_lines(["2026-01", "2026-04"], {"marketing": [3, 5]})
    fig = figure_of(chart)
    assert fig["data"][0]["x"] == ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026"]
    assert fig["data"][0]["y"] == [3, None, None, 5]
    [band] = fig["layout"]["shapes"]
    assert (band["x0"], band["x1"]) == (0.5, 2.5)  # February and March
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["no data"]


def test_it_shades_stages_of_one_team_apart_but_in_its_hue():
    colours = palette.stage_colours([("MQL", "sales"), ("SAL", "sales"), ("Inquiry", "marketing")])
    assert colours["MQL"] == SALES_ORANGE and colours["Inquiry"] == MARKETING_BLUE
    assert colours["SAL"] != colours["MQL"] and colours["SAL"] in palette.TINTS[SALES_ORANGE]
