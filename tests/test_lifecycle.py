"""The funnel's rules of movement, as written in the default truce.toml."""

from __future__ import annotations

import pytest

from truce import config
from truce.domain.lifecycle import IllegalMove, check_history, check_move

FUNNEL = config.parse(config.default_text()).funnel


def test_a_lead_moves_forward_one_stage_and_changes_hands_at_the_handoff():
    move = check_move(FUNNEL, "inquiry", "mql")
    assert (move.team_before, move.team_after, move.skipped, move.is_handoff) == ("marketing", "sales", (), True)


def test_a_move_over_stages_is_allowed_and_names_what_it_skipped():
    assert check_move(FUNNEL, "inquiry", "sql").skipped == ("mql", "sal")
    assert check_move(FUNNEL, "mql", "opportunity").skipped == ("sal", "sql")


def test_a_rejected_lead_goes_back_to_marketing():
    move = check_move(FUNNEL, "mql", "recycled")
    assert (move.team_before, move.team_after, move.skipped) == ("sales", "marketing", ())


def test_a_recycled_lead_can_return_and_keeps_going():
    moves = check_history(
        FUNNEL, [(None, "inquiry"), ("inquiry", "mql"), ("mql", "recycled"), ("recycled", "mql"), ("mql", "sal")]
    )
    assert [m.to_stage for m in moves] == ["inquiry", "mql", "recycled", "mql", "sal"]


@pytest.mark.parametrize(
    ("from_stage", "to_stage", "message"),
    [
        (
            "sal",
            "mql",
            "cannot move from 'sal' to 'mql'; allowed from 'sal': sql, opportunity, customer, recycled, disqualified",
        ),
        (
            "customer",
            "lost",
            "cannot move from 'customer' to 'lost'; allowed from 'customer': none: it is a final stage",
        ),
        ("inquiry", "lost", "cannot move from 'inquiry' to 'lost'"),
        (None, "recycled", "cannot move from a lead with no earlier move to 'recycled'"),
        ("mql", "wizard", "unknown stage 'wizard'; known stages: inquiry, mql"),
    ],
)
def test_an_illegal_move_names_both_stages_and_the_allowed_ones(from_stage, to_stage, message):
    with pytest.raises(IllegalMove) as refused:
        check_move(FUNNEL, from_stage, to_stage)
    assert message in str(refused.value)


def test_a_history_must_be_continuous():
    with pytest.raises(IllegalMove, match="move 2 starts at 'sal', but the lead was at 'inquiry'"):
        check_history(FUNNEL, [(None, "inquiry"), ("sal", "sql")])


def test_without_transitions_every_later_stage_and_every_exit_is_allowed_and_leads_enter_at_inquiry_or_mql():
    text = config.default_text()
    start = text.index("[funnel.transitions]")
    end = text.index("# Sales must pick one of these codes")
    funnel = config.parse(text[:start] + text[end:]).funnel
    moves = funnel.moves()
    assert moves[None] == ("inquiry", "mql")  # the first stage, or straight into the handoff queue
    assert moves["opportunity"] == ("customer", "recycled", "disqualified", "lost")
    assert moves["customer"] == ()
    assert moves["lost"] == ("inquiry", "mql")


def test_transitions_must_name_known_stages():
    text = config.default_text().replace('opportunity = ["customer", "lost"]', 'opportunity = ["customer", "won"]')
    with pytest.raises(config.ConfigError, match="transitions.opportunity: unknown stage 'won'"):
        config.parse(text, "truce.toml")


def test_the_demo_company_history_obeys_the_signed_funnel():
    from collections import defaultdict

    from truce.demo.generator import generate

    ledger = generate(contacts=2000, seed=11).tables["stage_changes"].to_pylist()
    histories = defaultdict(list)
    for row in sorted(ledger, key=lambda r: (r["entity_id"], r["changed_at"], r["id"])):
        if row["entity_type"] == "contact":
            histories[row["entity_id"]].append((row["from_stage"], row["to_stage"]))
    assert len(histories) == 2000
    for moves in histories.values():
        check_history(FUNNEL, moves)  # raises on the first illegal move


def test_a_new_lead_enters_at_an_entry_stage_and_imported_history_anywhere_in_the_waterfall():
    funnel = config.parse(config.default_text()).funnel
    for stage in ("inquiry", "mql"):
        assert check_move(funnel, None, stage).to_stage == stage
    for stage in ("sal", "sql", "opportunity", "customer"):
        with pytest.raises(IllegalMove, match="allowed from a lead with no earlier move: inquiry, mql"):
            check_move(funnel, None, stage)
        assert check_move(funnel, None, stage, history=True).to_stage == stage
    with pytest.raises(IllegalMove, match="allowed from a lead with no earlier move: inquiry, mql, sal"):
        check_move(funnel, None, "lost", history=True)  # history begins in the waterfall, not at an exit
