"""The MQL score in the domain: fit plus decaying engagement, every point explained, worked by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truce.config import Scoring
from truce.domain.scoring import LeadFacts, Scorer, Touch, round_half_up, score

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

# The default truce.toml's rules, spelled out here so these sums do not move when it is edited.
RULES = Scoring.model_validate(
    {
        "threshold": 60,
        "half_life_days": 30,
        "fit": [
            {"field": "segment", "equals": "enterprise", "points": 20},
            {"field": "segment", "equals": "mid_market", "points": 12},
            {"field": "employees", "at_least": 200, "points": 5},
            {"field": "title", "contains": ["vp", "head of", "director"], "points": 15},
            {"field": "industry", "one_of": ["Software", "Financial Services"], "points": 5},
        ],
        "engagement": {"demo_request": 40, "form": 15, "webinar": 12, "email_click": 4},
    }
)
BUYER = LeadFacts(segment="enterprise", title="Head of Procurement")  # 20 + 15 fit points


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_it_adds_fit_and_decayed_engagement_points():
    result = score(BUYER, [Touch("webinar", ago(30)), Touch("form", NOW)], NOW, RULES)
    # enterprise 20 + "head of" 15 + a webinar one half-life ago 12 × 0.5 + a form today 15
    assert result.exact == 56.0
    assert result.points == 56
    assert not result.crossed(60)


def test_a_demo_request_takes_the_same_lead_over_the_threshold():
    touches = [Touch("webinar", ago(30)), Touch("form", NOW), Touch("demo_request", ago(60))]
    result = score(BUYER, touches, NOW, RULES)
    # 56 as above + a demo request two half-lives old: 40 × 0.25 = 10
    assert (result.exact, result.points) == (66.0, 66)
    assert result.crossed(60)


def test_a_score_equal_to_the_threshold_reaches_it():
    touches = [Touch("form", NOW), Touch("email_click", NOW), Touch("webinar", ago(30))]
    result = score(BUYER, touches, NOW, RULES)
    assert result.points == 60  # 35 fit + 15 + 4 + 6
    assert result.crossed(60)
    assert not result.crossed(61)


def test_every_fit_rule_is_listed_in_order_whether_met_or_not():
    facts = LeadFacts(segment="Enterprise", employees=150, title="Head of Procurement", industry=None)
    items = [i for i in score(facts, [], NOW, RULES).items if i.kind == "fit"]
    assert [(i.rule, i.status, i.raw_points, i.points) for i in items] == [
        ("segment equals 'enterprise'", "met", 20, 20),
        ("segment equals 'mid_market'", "not met", 12, 0),
        ("employees at least 200", "not met", 5, 0),
        ("title contains any of 'vp', 'head of', 'director'", "met", 15, 15),
        ("industry is one of 'Software', 'Financial Services'", "missing", 5, 0),
    ]
    assert [i.sentence for i in items] == [
        "segment equals 'enterprise': segment is 'Enterprise', met: +20",
        "segment equals 'mid_market': segment is 'Enterprise', not met: 0",
        "employees at least 200: employees is 150, not met: 0",
        "title contains any of 'vp', 'head of', 'director': title is 'Head of Procurement', met: +15",
        "industry is one of 'Software', 'Financial Services': no industry on record, not met: 0",
    ]


def test_each_touch_shows_its_arithmetic_newest_first():
    touches = [Touch("webinar", dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)), Touch("form", NOW)]
    items = [i for i in score(BUYER, touches, NOW, RULES).items if i.kind == "engagement"]
    assert [i.sentence for i in items] == [
        "form on 2026-11-23, 0 days ago: 15 × 1.000 = 15.00",
        # 0.5 ** (21 / 30) = 0.6155722; 12 × 0.6155722 = 7.386866
        "webinar on 2026-11-02, 21 days ago: 12 × 0.616 = 7.39",
    ]
    assert items[1].decay == pytest.approx(0.6155722, abs=1e-7)
    assert items[1].points == pytest.approx(7.386866, abs=1e-6)


def test_a_touch_in_the_future_counts_nothing_until_it_happens():
    demo = Touch("demo_request", NOW + dt.timedelta(days=3))
    (item,) = [i for i in score(BUYER, [demo], NOW, RULES).items if i.kind == "engagement"]
    assert (item.status, item.raw_points, item.decay, item.points) == ("future", 40, 0.0, 0.0)
    assert item.sentence == "demo_request on 2026-11-26, 3 days in the future: not counted until it has happened: 0"
    assert score(BUYER, [demo], NOW + dt.timedelta(days=3), RULES).points == 35 + 40


def test_a_touch_type_without_points_is_listed_as_not_scored():
    (item,) = [i for i in score(BUYER, [Touch("page_view", ago(2))], NOW, RULES).items if i.kind == "engagement"]
    assert (item.status, item.raw_points, item.points) == ("not scored", 0.0, 0.0)
    assert (
        item.sentence
        == "page_view on 2026-11-21, 2 days ago: not scored ([scoring.engagement] gives 'page_view' no points): 0"
    )


def test_text_rules_ignore_case_and_contains_matches_inside_the_value():
    facts = LeadFacts(segment="ENTERPRISE", industry="software", title="SVP, Sales")
    met = {i.rule.split(" ")[0] for i in score(facts, [], NOW, RULES).items if i.status == "met"}
    assert met == {"segment", "industry", "title"}  # "vp" is inside "SVP"
    engineer = LeadFacts(title="Software Engineer")
    assert score(engineer, [], NOW, RULES).points == 0


def test_touch_types_are_compared_as_the_importer_stores_them():
    assert score(LeadFacts(), [Touch("Demo Request", NOW)], NOW, RULES).points == 40


def test_employees_at_least_includes_the_number_itself():
    assert score(LeadFacts(employees=200), [], NOW, RULES).points == 5
    assert score(LeadFacts(employees=199), [], NOW, RULES).points == 0


def test_a_blank_value_is_missing_not_a_match():
    items = score(LeadFacts(segment="  ", title=""), [], NOW, RULES).items
    assert {i.status for i in items} == {"missing"}
    assert all(i.points == 0 for i in items)


def test_the_score_rounds_half_up_after_settling_float_noise():
    rules = Scoring(fit=[], engagement={"a": 0.3, "b": 2.3, "c": 0.9})
    result = score(LeadFacts(), [Touch("a", NOW), Touch("b", NOW), Touch("c", NOW)], NOW, rules)
    assert result.exact == pytest.approx(3.5)
    assert result.exact < 3.5  # 3.4999999999999996 in floats
    assert result.points == 4
    assert Scorer(rules).points(LeadFacts(), [Touch("a", NOW), Touch("b", NOW), Touch("c", NOW)], NOW) == 4
    assert [round_half_up(x) for x in (2.5, 3.5, 2.49, 0.0, 59.5)] == [3, 4, 2, 0, 60]


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="aware"):
        score(BUYER, [], NOW.replace(tzinfo=None), RULES)


touch_lists = st.lists(
    st.builds(
        Touch,
        st.sampled_from(["demo_request", "form", "webinar", "email_click", "page_view"]),
        st.floats(min_value=0, max_value=400).map(ago),
    ),
    max_size=12,
)
facts = st.builds(
    LeadFacts,
    segment=st.sampled_from([None, "enterprise", "mid_market", "smb"]),
    employees=st.none() | st.integers(0, 10_000),
    title=st.sampled_from([None, "VP Sales", "Engineer", "Head of IT"]),
    industry=st.sampled_from([None, "Software", "Retail"]),
)


@given(facts, touch_lists)
def test_the_items_add_up_to_the_score(lead, touches):
    result = score(lead, touches, NOW, RULES)
    assert len(result.items) == len(RULES.fit) + len(touches)
    assert sum(i.points for i in result.items) == pytest.approx(result.exact)
    assert result.points == round_half_up(result.exact)
    assert Scorer(RULES).points(lead, touches, NOW) == result.points  # the bulk refresh's shortcut
    for item in result.items:
        assert 0 <= item.decay <= 1
        assert item.points == pytest.approx(item.raw_points * item.decay if item.status in ("met", "counted") else 0)


@given(facts, touch_lists, st.floats(min_value=0, max_value=365))
def test_time_only_takes_engagement_points_away(lead, touches, days_later):
    later = NOW + dt.timedelta(days=days_later)
    assert score(lead, touches, later, RULES).exact <= score(lead, touches, NOW, RULES).exact + 1e-9
