"""Parsing one cell of a CRM export into a typed value, or a reason it cannot be one."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from truce.domain.calendar_range import FIRST_DAY, LAST_DAY, outside
from truce.store.types import to_money


class BadValue(ValueError):
    """A cell that cannot be read as what its column means; the message says why."""


# Deliberately permissive in the local part (CRMs hold real-world addresses), strict on shape.
EMAIL_PATTERN = r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[^@\s,;<>()\[\]]{2,}$"  # also run by Arrow's RE2
EMAIL = re.compile(EMAIL_PATTERN)

# Formats seen in Salesforce report exports and HubSpot exports besides ISO 8601.
_MONTH_FIRST = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
_DAY_FIRST = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y")


def text(cell: str) -> str | None:
    cell = cell.strip()
    return cell or None


def email(cell: str) -> str:
    """Trimmed and lower-cased: two spellings of one address are one person."""
    address = cell.strip().lower()
    if not EMAIL.fullmatch(address):
        raise BadValue(f"not an email address: {cell!r}")
    return address


def timestamp(cell: str, zone: ZoneInfo, day_first: bool = False) -> dt.datetime:
    """An aware UTC datetime. A value without a zone is read in the company's time zone."""
    raw = cell.strip()
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        parsed = _other_formats(raw, day_first)
    _in_calendar(parsed.date())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def _other_formats(raw: str, day_first: bool) -> dt.datetime:
    if raw.isdigit() and len(raw) == 13:  # HubSpot's API exports epoch milliseconds
        return dt.datetime.fromtimestamp(int(raw) / 1000, dt.UTC)
    for fmt in _DAY_FIRST if day_first else _MONTH_FIRST:
        try:
            return dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
    order = "DD/MM/YYYY" if day_first else "MM/DD/YYYY"
    raise BadValue(f"not a date: {raw!r} (use ISO 8601 such as 2026-03-31 or 2026-03-31T14:05:00Z, or {order})")


def date(cell: str, zone: ZoneInfo, day_first: bool = False) -> dt.date:
    raw = cell.strip()
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return timestamp(raw, zone, day_first).astimezone(zone).date()
    return _in_calendar(day)


def _in_calendar(day: dt.date) -> dt.date:
    """Dates in a file obey the range every face does (truce.domain.calendar_range): a CRM's
    0001-01-01 placeholder is a mistake to report, and would overflow the reports' arithmetic."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadValue(outside(day.isoformat()))
    return day


# "1,234,567.50": commas group thousands. "1.234,50" or "1234,5": a decimal comma, as Excel
# writes in much of Europe. Any other comma is refused: dropping it would read "1,2345" as 12345.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d{1,2}")


def money(cell: str) -> Decimal:
    """Amounts as CRMs export them: "1,234.50", "$1234.5", "1234", "1.234,50". Never a float."""
    raw = re.sub(r"[\s$€£]", "", cell)
    if raw.upper()[:3].isalpha():  # "USD 1234"
        raw = raw[3:]
    if _THOUSANDS.fullmatch(raw):
        raw = raw.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(raw):
        raw = raw.replace(".", "").replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadValue(f"not an amount: {cell!r}") from None
    if not value.is_finite():
        raise BadValue(f"not an amount: {cell!r}")
    return to_money(value)


def whole_number(cell: str) -> int:
    raw = cell.strip().replace(",", "")
    try:
        return int(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise BadValue(f"not a whole number: {cell!r}") from None


def rate(cell: str) -> Decimal:
    """A share such as a discount: "12.5%" or "0.125" are the same; "12.5" alone means percent."""
    raw = cell.strip()
    percent = raw.endswith("%")
    try:
        value = Decimal(raw.rstrip("%").strip())
    except InvalidOperation:
        raise BadValue(f"not a rate: {cell!r}") from None
    if percent or value > 1:
        value = value / 100
    if not 0 <= value <= 1:
        raise BadValue(f"rate out of range 0-100 %: {cell!r}")
    return value.quantize(Decimal("0.0001"))


_TRUE = {"true", "yes", "y", "1", "t", "x"}
_FALSE = {"false", "no", "n", "0", "f", ""}


def boolean(cell: str) -> bool:
    raw = cell.strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadValue(f"not true or false: {cell!r}")


_CHANNELS: dict[str, str] = {}  # a file repeats a dozen channel names a million times


def channel(cell: str) -> str:
    """Channel names as one vocabulary: "Organic Search", "ORGANIC_SEARCH" → organic_search."""
    key = _CHANNELS.get(cell)
    if key is None:
        key = re.sub(r"[^0-9a-z]+", "_", cell.strip().lower()).strip("_")
        if not key:
            raise BadValue("empty channel")
        if len(_CHANNELS) < 10_000:
            _CHANNELS[cell] = key
    return key


def domain(cell: str) -> str:
    """ "https://www.Acme.com/about" → acme.com."""
    raw = cell.strip().lower()
    raw = re.sub(r"^[a-z]+://", "", raw).split("/")[0].removeprefix("www.")
    if "." not in raw or not re.fullmatch(r"[a-z0-9.-]+", raw):
        raise BadValue(f"not a web domain: {cell!r}")
    return raw
