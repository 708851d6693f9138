"""Seconds read from environment variables: unset gives the default, a bad value names the variable."""

from __future__ import annotations

import pytest

from truce.envvars import seconds_from


def test_an_unset_or_empty_variable_gives_the_default(monkeypatch):
    monkeypatch.delenv("TRUCE_X_SECONDS", raising=False)
    assert seconds_from("TRUCE_X_SECONDS", 8.0, 0, 600) == 8.0
    monkeypatch.setenv("TRUCE_X_SECONDS", "")
    assert seconds_from("TRUCE_X_SECONDS", 8.0, 0, 600) == 8.0


@pytest.mark.parametrize("raw, seconds", [("0", 0.0), ("2.5", 2.5), ("600", 600.0)])
def test_a_value_within_the_range_is_read(monkeypatch, raw, seconds):
    monkeypatch.setenv("TRUCE_X_SECONDS", raw)
    assert seconds_from("TRUCE_X_SECONDS", 8.0, 0, 600) == seconds


@pytest.mark.parametrize(
    "raw, said",
    [
        ("soon", "TRUCE_X_SECONDS='soon' is not a number of seconds"),
        ("601", "TRUCE_X_SECONDS='601' must be from 0 to 600 seconds"),
        ("-1", "TRUCE_X_SECONDS='-1' must be from 0 to 600 seconds"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, raw, said):
    monkeypatch.setenv("TRUCE_X_SECONDS", raw)
    with pytest.raises(ValueError) as refused:
        seconds_from("TRUCE_X_SECONDS", 8.0, 0, 600)
    assert str(refused.value) == said
