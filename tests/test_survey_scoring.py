"""The diagnostic's rules, checked against hand-scored answers: scores, bands, spread, gaps, target, playbook."""

from __future__ import annotations

import datetime as dt

import pytest

from truce.domain import diagnostic
from truce.domain.diagnostic import STATEMENTS, BadRatings, Context, gaps, group_stats, playbook, recommend_target


def answers(base: int, **changes: int) -> list[int]:
    """Twenty ratings of `base`, with some statements changed, e.g. answers(3, s1=5)."""
    ratings = [base] * 20
    for key, value in changes.items():
        ratings[int(key[1:]) - 1] = value
    return ratings


def test_there_are_twenty_statements_each_with_its_own_theme_and_words():
    assert [s.key for s in STATEMENTS] == [f"s{n}" for n in range(1, 21)]
    assert len({s.theme for s in STATEMENTS}) == 20
    assert len({s.text for s in STATEMENTS}) == 20
    assert all(s.text.endswith(".") for s in STATEMENTS)


@pytest.mark.parametrize(
    ("ratings", "expected_score", "expected_state"),
    [
        ([1] * 20, 20, "undefined"),
        (answers(2, s20=1), 39, "undefined"),  # 19 × 2 + 1
        ([2] * 20, 40, "defined"),
        (answers(3, s1=2), 59, "defined"),  # 19 × 3 + 2
        ([3] * 20, 60, "aligned"),
        (answers(4, s11=3), 79, "aligned"),  # 19 × 4 + 3
        ([4] * 20, 80, "integrated"),
        ([5] * 20, 100, "integrated"),
        ([1, 2, 3, 4, 5] * 4, 60, "aligned"),  # 4 × 15
        (answers(3, s1=5, s2=1, s3=5, s4=5), 64, "aligned"),  # 60 + 2 − 2 + 2 + 2
    ],
)
def test_it_scores_the_sum_of_the_ratings_and_bands_it(ratings, expected_score, expected_state):
    assert diagnostic.score(ratings) == expected_score
    assert diagnostic.state(expected_score) == expected_state


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        (answers(3, s7=6), "s7: 6 is not a rating from 1 to 5"),
        (answers(3, s1=0), "s1: 0 is not a rating from 1 to 5"),
        ([3] * 19, "expected 20 ratings, one per statement, got 19"),
        ([3] * 21, "expected 20 ratings, one per statement, got 21"),
        (answers(3, s12="4"), "s12: '4' is not a rating from 1 to 5"),
        (answers(3, s3=True), "s3: True is not a rating from 1 to 5"),
        (answers(3, s4=2.5), "s4: 2.5 is not a rating from 1 to 5"),
    ],
)
def test_it_refuses_ratings_that_are_not_twenty_whole_numbers_from_1_to_5(ratings, message):
    with pytest.raises(BadRatings, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        diagnostic.score(ratings)


def test_a_score_outside_the_scale_has_no_band():
    with pytest.raises(ValueError, match="from 20 to 100"):
        diagnostic.state(19)


def test_it_summarises_a_group_by_mean_population_spread_and_range():
    # 60, 62, 59: mean 181/3 = 60.33; deviations −1/3, 5/3, −4/3; variance 42/27; sd 1.2472
    assert group_stats([60, 62, 59]) == {
        "respondents": 3,
        "mean": 60.3,
        "spread": 1.25,
        "min": 59,
        "max": 62,
        "type": "aligned",
    }
    # 60, 62, 59, 59, 57, 60: mean 59.5; squared deviations 13.5 / 6 = 2.25; sd 1.5
    assert group_stats([60, 62, 59, 59, 57, 60])["spread"] == 1.5
    assert group_stats([50])["spread"] == 0


def test_a_mean_is_banded_as_shown_to_one_decimal():
    assert group_stats([59, 60])["type"] == "defined"  # 59.5
    # 24 × 60 + 59 = 1499 / 25 = 59.96, shown as 60.0: the band follows the figure people read
    shown = group_stats([60] * 24 + [59])
    assert (shown["mean"], shown["type"]) == (60.0, "aligned")


# The hand-worked perception gap: three sellers, three marketers, all 3s except s1, s2 and s7.
SALES = [answers(3, s1=5, s2=1), answers(3, s1=4, s2=2, s7=5), answers(3, s1=3, s2=1, s7=4)]
MARKETING = [answers(3, s1=2, s2=3), answers(3, s1=1, s2=3, s7=2), answers(3, s1=2, s2=4)]


def test_it_works_out_the_perception_gap_largest_first():
    found = gaps(SALES, MARKETING)
    # s1: sales (5+4+3)/3 = 4, marketing (2+1+2)/3 = 1.67, gap +2.33
    # s2: sales (1+2+1)/3 = 1.33, marketing (3+3+4)/3 = 3.33, gap −2.00
    # s7: sales (3+5+4)/3 = 4, marketing (3+2+3)/3 = 2.67, gap +1.33
    assert [(g["statement"], g["sales"], g["marketing"], g["gap"]) for g in found[:3]] == [
        ("s1", 4.0, 1.67, 2.33),
        ("s2", 1.33, 3.33, -2.0),
        ("s7", 4.0, 2.67, 1.33),
    ]
    # every other statement: 3 against 3, in statement order
    assert [g["statement"] for g in found[3:]] == [f"s{n}" for n in range(3, 21) if n != 7]
    assert all(g["gap"] == 0 for g in found[3:])
    assert found[0]["text"] == STATEMENTS[0].text


def test_equal_gaps_of_opposite_sign_keep_statement_order():
    found = gaps([answers(3, s5=4, s2=2)], [[3] * 20])
    assert [(g["statement"], g["gap"]) for g in found[:2]] == [("s2", -1.0), ("s5", 1.0)]


def test_the_hand_worked_teams_score_as_expected():
    sales = group_stats([diagnostic.score(r) for r in SALES])
    marketing = group_stats([diagnostic.score(r) for r in MARKETING])
    assert (sales["mean"], sales["type"], sales["min"], sales["max"]) == (60.3, "aligned", 59, 62)
    assert (marketing["mean"], marketing["type"], marketing["min"], marketing["max"]) == (58.7, "defined", 57, 60)


def test_a_gap_needs_both_teams():
    with pytest.raises(ValueError, match="both teams"):
        gaps(SALES, [])


SMALL_CALM = Context(employees=20, market_change="slow", offering_complexity="simple", informal_relationship="good")


@pytest.mark.parametrize(
    ("context", "current", "expected"),
    [
        (Context(250, "moderate", "complex", "strained"), "defined", "integrated"),  # the built-in default
        (Context(5000, "fast", "simple", "good"), "undefined", "integrated"),
        (Context(30, "slow", "complex", "good"), "aligned", "integrated"),  # complexity beats size
        (Context(30, "moderate", "moderate", "good"), "undefined", "defined"),
        (Context(30, "slow", "simple", "strained"), "undefined", "aligned"),  # a strained small firm needs more
        (Context(400, "slow", "simple", "good"), "defined", "aligned"),
        (SMALL_CALM, "undefined", "undefined"),  # stays where it is
        (SMALL_CALM, "defined", "defined"),
        (Context(400, "moderate", "moderate", "strained"), "integrated", "integrated"),  # never down
    ],
)
def test_it_recommends_a_target_for_the_context(context, current, expected):
    assert recommend_target(context, current)["state"] == expected


def test_a_small_calm_company_is_told_it_may_stay_where_it_is():
    target = recommend_target(SMALL_CALM, "undefined")
    assert target["stay"] is True
    assert "may rightly stay where it is" in target["reason"]
    assert playbook("undefined", target["state"]) == []


def test_a_company_past_its_target_is_never_told_to_move_down():
    target = recommend_target(Context(400, "slow", "moderate", "strained"), "integrated")
    assert target == {"state": "integrated", "stay": True, "reason": target["reason"]}
    assert "never recommends moving down" in target["reason"]


def test_the_playbook_lists_the_moves_to_the_next_state_only():
    first = playbook("undefined", "integrated")
    assert {(m["from"], m["to"]) for m in first} == {("undefined", "defined")}
    assert [m["feature"] for m in first] == ["truce handoff queue / truce sla", "truce brief"]
    assert [m["move"].split(":")[0] for m in playbook("defined", "aligned")] == [
        "Give marketers and sellers joint assignments on the same accounts and campaigns",
        "Name a marketing liaison for each key account, with a joint account plan",
        "Make sales-force feedback cheap",
    ]
    last = playbook("aligned", "integrated")
    assert len(last) == 5 and all(m["to"] == "integrated" for m in last)
    assert playbook("aligned", "aligned") == [] and playbook("integrated", "aligned") == []


def test_every_move_names_a_feature_and_an_indicator():
    for current in ("undefined", "defined", "aligned"):
        for move in playbook(current, "integrated"):
            assert move["feature"] and move["why"] and move["move"]
            assert move["indicator"].split(".")[0] in {
                "sla_compliance",
                "mql_acceptance_rate",
                "reasons",
                "feedback",
                "shared_target",
                "both_teams_revenue_share",
                "cold_leads",
            }


def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError, match="unknown state 'allied'"):
        playbook("allied", "integrated")


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("2026-Q4", (dt.date(2026, 10, 1), dt.date(2026, 12, 31))),
        ("2026q1", (dt.date(2026, 1, 1), dt.date(2026, 3, 31))),
        ("2026-H1", (dt.date(2026, 1, 1), dt.date(2026, 6, 30))),
        ("2024-02", (dt.date(2024, 2, 1), dt.date(2024, 2, 29))),
        ("2026", (dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
        ("2026-13", None),
        ("spring survey", None),
    ],
)
def test_a_round_name_may_spell_its_period(name, period):
    assert diagnostic.period_of(name) == period
