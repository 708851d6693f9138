"""Column types that keep money exact and time in UTC on every database we support."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import overload

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


@overload
def to_money(value: None) -> None: ...
@overload
def to_money(value: Decimal | int | str) -> Decimal: ...
def to_money(value: Decimal | int | str | None) -> Decimal | None:
    """Money is a Decimal rounded to cents, never a float."""
    if value is None:
        return None
    if isinstance(value, float):
        # A float here is a bug upstream; refuse it rather than inherit its rounding.
        raise TypeError("money must be Decimal, int or str, not float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator):
    """NUMERIC(18, 2) holding Decimal.

    PostgreSQL stores it exactly. SQLite has no decimal type and gives the column
    numeric affinity; every cent value below 10**13 survives the round trip, and we
    quantize on the way out so Python never sees a float.
    """

    impl = Numeric(18, 2)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        money = to_money(value)
        if money is None:
            return None
        # sqlite3 cannot bind Decimal; its text form keeps every digit.
        return str(money) if dialect.name == "sqlite" else money

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(str(value)).quantize(CENT)


class Rate(TypeDecorator):
    """A fraction such as a discount rate, NUMERIC(7, 4): 0.1250 is 12.5 %."""

    impl = Numeric(7, 4)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        rate = Decimal(value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
        return str(rate) if dialect.name == "sqlite" else rate

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.0001"))


class UTCDateTime(TypeDecorator):
    """Timezone-aware timestamps, stored in UTC.

    Naive datetimes are refused: a timestamp without a zone is ambiguous, and the
    SLA clock depends on knowing exactly when something happened.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
