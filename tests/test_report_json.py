"""One JSON encoder for the API and the CLI's --json: the same text for the same report, NaN as null."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np

from truce.cli.common import print_json
from truce.reports import dumps
from truce.web.api_common import as_json

REPORT = {
    "share": float("nan"),
    "roi": float("inf"),
    "margin": Decimal("NaN"),
    "revenue": Decimal("1234.50"),
    "deals": np.int64(3),
    "rows": [{"rate": np.float64("nan"), "won": 2.5}],
}
# Worked by hand: every not-a-number is null; money stays exact text; numpy numbers are plain numbers.
EXPECTED = {"share": None, "roi": None, "margin": None, "revenue": "1234.50", "deals": 3,
            "rows": [{"rate": None, "won": 2.5}]}  # fmt: skip


def test_it_prints_nan_as_null_in_the_cli_json(capsys):
    print_json(REPORT)
    printed = capsys.readouterr().out
    assert "NaN" not in printed and "Infinity" not in printed
    assert json.loads(printed) == EXPECTED


def test_it_answers_nan_as_null_in_the_api():
    body = as_json(REPORT).body.decode()
    assert json.loads(body, parse_constant=lambda c: math.nan) == EXPECTED


def test_it_gives_the_api_and_the_cli_the_same_json(capsys):
    print_json(REPORT)
    assert json.loads(capsys.readouterr().out) == json.loads(as_json(REPORT).body)
    assert json.loads(dumps(REPORT)) == EXPECTED


# ---- the CLI's indented --json: compiled, byte for byte the standard library's text ----------------

import datetime as dt  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from truce.reports import plain  # noqa: E402


def reference(value) -> str:
    """What --json printed before it was compiled: the standard library, after plain()."""
    return json.dumps(plain(value), indent=2, allow_nan=False)


class Lead(BaseModel):
    email: str
    held_days: float | None = None
    went_cold_at: dt.datetime | None = None


ZONES = st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-3, max_value=1e-3),  # where Python turns to 1e-05
    st.floats(min_value=1e15, max_value=1e17),  # and to 1e+16
    st.text(),  # every code point: accents, emoji, DEL, controls, line separators
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(timezones=ZONES),
    st.times(),
    st.builds(np.float64, st.floats(allow_nan=True)),
    st.builds(np.int64, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    st.builds(Lead, email=st.text(), held_days=st.floats(), went_cold_at=st.datetimes(timezones=ZONES)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.frozensets(st.integers(), max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_it_prints_indented_json_exactly_as_the_standard_library(value):
    assert dumps(value, indent=2) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"tiny": 1.5e-05, "tinier": 1e-07, "edge": 1e-4, "huge": 1e16, "below": 9999999999999998.0},
        ["café", "\x7f", "😀", "\u2028", "\x00\x1f\b\f\n\r\t\"\\/"],
        {"0.00001": "0.00001", "1e-7": "x 1e-7", "k": ["1e-7", 1e-7]},  # numbers inside text stay as they are
        {1: "a", 2: "b"},  # keys that are not text: plain() makes them text, the slow path writes them
        {"big": 2**70, "lone": "\ud800"},  # past what orjson writes: the standard library's path
        {"set": {3, 1, 2}, "empty": {}, "none": [], "nested": [[], [{}]]},
        [Lead(email="ann@acme.example", held_days=1e-05, went_cold_at=dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC))],
    ],
)
def test_it_matches_the_standard_library_where_orjson_writes_otherwise(value):
    assert dumps(value, indent=2) == reference(value)


def test_it_leaves_a_models_defaults_out_as_before():
    # exclude_unset: a model's defaults must not add keys to the contract, compiled or not.
    printed = json.loads(dumps(Lead(email="eva@truce-demo.example"), indent=2))
    assert printed == {"email": "eva@truce-demo.example"}
