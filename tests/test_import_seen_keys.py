"""The import's memory of keys met earlier in a file answers as a plain dict of every key would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from truce.imports.seen import NONE, SeenKeys


def first_records_by_dict(batches: list[list]) -> list[list[int]]:
    """The obvious way: every key kept, the first record that held it."""
    seen: dict = {}
    answers, record = [], 0
    for values in batches:
        answer = []
        for value in values:
            answer.append(NONE if value is None else seen.setdefault(value, record))
            record += 1
        answers.append(answer)
    return answers


def first_records_by_seen_keys(batches: list[list]) -> list[list[int]]:
    seen, answers, record = SeenKeys(), [], 0
    for values in batches:
        answers.append(seen.first_records(values, range(record, record + len(values))))
        record += len(values)
    return answers


keys = st.one_of(st.none(), st.sampled_from(["ann@a.example", "bob@b.example", "Ann@a.example", ""]), st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(keys, max_size=12), max_size=30))
def test_it_names_the_same_first_rows_as_a_dict_of_every_key(batches):
    assert first_records_by_seen_keys(batches) == first_records_by_dict(batches)


def test_it_finds_a_repeat_a_thousand_batches_later():
    batches = [[f"person{n}@example.com" for n in range(b * 50, b * 50 + 50)] for b in range(1000)]
    batches.append(["person123@example.com", "new@example.com", "person49999@example.com", "new@example.com"])

    answers = first_records_by_seen_keys(batches)

    assert answers[-1] == [123, 50_001, 49_999, 50_001]
