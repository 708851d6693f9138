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
