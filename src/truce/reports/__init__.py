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
        # Only the keys the service gave: a model's defaults must not add keys to the contract.
        return plain(value.model_dump(mode="python", by_alias=True, exclude_unset=True))
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


def typed(model: Any, data: Any) -> Any:
    """The report `data` as its model (truce.reports.models), or a list of them: checked on the way
    out, so the API's documented shape and the CLI's --json are one contract."""
    from pydantic import TypeAdapter

    if isinstance(data, list):
        return TypeAdapter(list[model]).validate_python(data)
    return model.model_validate(data)
