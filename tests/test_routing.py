"""Routing rules, worked by hand: territory, then segment, then anyone; only active sellers."""

from __future__ import annotations

import datetime as dt

from truce.domain.routing import Seller, route

T = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SELLERS = [
    Seller(1, "ana@x", "EMEA", "enterprise", True, open_handoffs=5, last_assigned_at=T),
    Seller(2, "ben@x", "EMEA", "enterprise", True, open_handoffs=1, last_assigned_at=T + dt.timedelta(hours=1)),
    Seller(3, "cy@x", "NA", "enterprise", True, open_handoffs=0, last_assigned_at=None),
    Seller(4, "dee@x", "EMEA", "enterprise", False, open_handoffs=0, last_assigned_at=None),  # left the company
    Seller(5, "eli@x", "APAC", "smb", True, open_handoffs=2, last_assigned_at=T),
]
RULES = ["territory", "segment", "any"]


def test_round_robin_gives_the_lead_to_who_waited_longest_in_the_territory():
    decision = route(SELLERS, "EMEA", "enterprise", RULES, "round_robin")
    assert (decision.seller_id, decision.rule) == (1, "territory EMEA/enterprise, round robin")


def test_least_loaded_gives_the_lead_to_who_has_fewest_open_handoffs():
    assert route(SELLERS, "EMEA", "enterprise", RULES, "least_loaded").seller_id == 2


def test_an_inactive_seller_is_never_chosen_even_when_idle():
    only_dee_matches = route(SELLERS, "EMEA", "enterprise", ["territory"], "least_loaded")
    assert only_dee_matches.seller_id in (1, 2)
    assert route([SELLERS[3]], "EMEA", "enterprise", RULES, "round_robin").seller_id is None


def test_it_falls_back_to_the_segment_then_to_anyone():
    by_segment = route(SELLERS, "LATAM", "enterprise", RULES, "round_robin")
    assert (by_segment.seller_id, by_segment.rule) == (3, "segment enterprise, round robin")  # never assigned: waited longest
    anyone = route(SELLERS, "LATAM", "mid_market", RULES, "least_loaded")
    assert (anyone.seller_id, anyone.rule) == (3, "any seller, least loaded")


def test_no_active_seller_means_no_owner_and_says_so():
    decision = route([SELLERS[3]], "EMEA", "enterprise", ["territory", "segment"], "round_robin")
    assert (decision.seller_id, decision.rule) == (None, "no active seller matched any rule")
