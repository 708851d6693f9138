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
import re
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
    if indent == 2:
        fast = _indented(value)
        if fast is not None:
            return fast
    return json.dumps(plain(value), indent=indent, allow_nan=False)


# The CLI's --json is indented, and the standard library indents in pure Python: on a report of
# 70,000 cold leads that, with plain() before it, was most of the command's time. orjson writes
# the same structure in compiled code; the two places where its text differs from the standard
# library's are put back below, so the bytes stay exactly what `json.dumps(plain(v), indent=2)`
# printed (tests/test_report_json.py holds the two side by side). Dates and times are left to
# Python's isoformat(): orjson 3.13 writes time(0, 0, 0, 10000) as "00:00:00.10000".
def _indented(value: Any) -> str | None:
    """`value` as json.dumps(plain(value), indent=2) writes it, or None where only json.dumps can
    say it (keys that are not text, integers past 64 bits, lone surrogates)."""
    try:
        import orjson
    except ImportError:  # a build of truce without it: the standard library's slower path
        return None
    try:
        text = orjson.dumps(value, default=_plain_one, option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except (orjson.JSONEncodeError, TypeError, ValueError):
        return None
    text = _python_floats(text)
    if not text.isascii() or "\x7f" in text:
        text = _NOT_ASCII.sub(_escaped, text)
    return text


def _plain_one(value: Any) -> Any:
    """plain() of a value orjson does not write itself. A model is only dumped (orjson then walks
    the dump, faster than plain() would), and a float subclass such as numpy's float64 becomes a
    float (orjson writes only float itself; plain() would hand it back unchanged). A value plain()
    leaves as it is, orjson refuses, and dumps() falls back to the standard library's error."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="python", by_alias=True, exclude_unset=True)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return plain(value)


# Python writes a float below 1e-4 as 1e-05 where orjson writes 0.00001, and 1e-07 as 1e-7.
# Indented, every number ends its line (after a space, or its line's indent), and no text value
# does (a string ends with its quote), so a number is found by its place, never inside a string.
_SMALL_FLOAT = re.compile(r"(?:(?<= )|^)-?(?:0\.0000\d*|\d(?:\.\d+)?e[-+]?\d+)(?=,?$)")
# Only lines holding one of these can hold such a number; str.find skips the rest at C speed
# (a regular expression over the whole text took a second on 24 MB).
_SMALL_FLOAT_SIGNS = ("0.0000", "e-", "e+")


def _python_floats(text: str) -> str:
    """`text` with every number written as Python writes it (see _SMALL_FLOAT)."""
    line_starts: set[int] = set()
    for sign in _SMALL_FLOAT_SIGNS:
        at = text.find(sign)
        while at != -1:
            if sign[0] == "0" or text[at - 1].isdigit():  # "truce-demo" has an "e-" too
                line_starts.add(text.rfind("\n", 0, at) + 1)
            at = text.find(sign, at + 1)
    pieces, done = [], 0
    for start in sorted(line_starts):
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        pieces += [text[done:start], _SMALL_FLOAT.sub(_python_float, text[start:end])]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


# Python escapes every character past "~" (DEL included) as \uXXXX, astral ones as a surrogate pair.
_NOT_ASCII = re.compile(r"[^\x00-\x7e]")


def _python_float(match: re.Match) -> str:
    return repr(float(match.group()))


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def typed(model: Any, data: Any) -> Any:
    """The report `data` as its model (truce.reports.models), or a list of them: checked on the way
    out, so the API's documented shape and the CLI's --json are one contract."""
    from pydantic import TypeAdapter

    if isinstance(data, list):
        return TypeAdapter(list[model]).validate_python(data)
    return model.model_validate(data)
