"""Reports as JSON: one encoder for the API's answers and the CLI's --json, so both say the same.

Decimal money is exact text; dates and times are ISO text; a number that is not a number (NaN,
an infinity) is null — in both faces (the CLI printed NaN before, which no JSON reader accepts).
A Pydantic model (truce.reports.models) is dumped first, so a typed report and a plain dict
encode alike.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """The value with only JSON's types left in it: what both faces print."""
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="python", by_alias=True))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return [plain(v) for v in sorted(value, key=str)]
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return plain(value.item())
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text of a report; allow_nan=False makes a NaN that slipped past plain() an error, not output."""
    return json.dumps(plain(value), indent=indent, allow_nan=False)
