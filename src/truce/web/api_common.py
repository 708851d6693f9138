"""What the REST API's routes share: the store, JSON as the CLI writes it, query types, errors with paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from truce.domain import calendar_range
from truce.web.app import caller
from truce.web.schemas import (
    BRIEF_PERIOD_EXAMPLES,
    BRIEF_PERIOD_PATTERN,
    DAY_EXAMPLES,
    ERRORS,
    FIRST_DAY,
    LAST_DAY,
    MAX_ID,
    MOMENT_EXAMPLES,
    PERIOD_EXAMPLES,
    PERIOD_PATTERN,
    brief_period,
    printable,
    round_name,
    target_period,
)

# Documents the API token in the OpenAPI document; truce.web.app.caller does the checking.
bearer = HTTPBearer(auto_error=False, description="An API token from `truce token create --as EMAIL`")


def api_router(**options) -> APIRouter:
    """A router whose routes need a caller (token or session) and document every error they may answer."""
    return APIRouter(dependencies=[Security(bearer), Depends(_callers_query)], responses=ERRORS, **options)


def _query_names(dependant):
    yield from (field.alias for field in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def _callers_query(request: Request, who=Depends(caller)) -> None:
    """known_query, once the caller is known: a stranger is told 401, not which parameters a route takes."""
    known_query(request)


def known_query(request: Request) -> None:
    """Refuse query parameters the route does not take: a misspelt filter must not be silently ignored."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    names = getattr(route, "_truce_query_names", None)
    if names is None:  # kept on the route itself: it lives as long as its app
        names = route._truce_query_names = frozenset(_query_names(route.dependant))
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in names]
    if unknown:
        takes = ", ".join(sorted(names)) or "none"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; this route takes: {takes}",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )


def store(request: Request):
    return request.app.state.engine


def settings(request: Request):
    return request.app.state.config


# ---- JSON -----------------------------------------------------------------------------------------


# One encoder for the API and the CLI's --json: truce.reports.
from truce.reports import dumps  # noqa: E402


def as_json(data, status_code: int = 200) -> Response:
    return Response(dumps(data), status_code=status_code, media_type="application/json")


# ---- errors ---------------------------------------------------------------------------------------


def bad_field(*path: str | int, message: str) -> RequestValidationError:
    """A 422 naming one field, like the ones the request models give."""
    return RequestValidationError([{"loc": path, "msg": message, "type": "value_error"}])


@contextmanager
def clock_limits() -> Iterator[None]:
    """The SLA clock counts business hours across at most ten years (truce.domain.business_hours);
    a moment further from the data is the caller's mistake, not a server error."""
    from truce.domain.business_hours import OutOfRange

    try:
        yield
    except OutOfRange as exc:
        raise HTTPException(
            400, f"cannot run the SLA clocks that far: {exc}; choose a moment nearer the data"
        ) from None


# ---- query parameters -----------------------------------------------------------------------------
# Days, moments and periods within truce.domain.calendar_range, said in each description.
_DAYS = f"from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
_YEARS = f"from {FIRST_DAY.year} to {LAST_DAY.year}"


def _day_in_range(day: dt.date | None) -> dt.date | None:
    return None if day is None else calendar_range.check_day(day)


def _moment_in_range(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    _day_in_range(moment.date())
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the moment is out of range") from None


def _iso_day(value):
    """ISO text only: a number is not a day (a lax parser would read 0 as 1970-01-01)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date: {value!r}; write it as YYYY-MM-DD, e.g. 2026-01-31") from None
    return value


def _iso_moment(value):
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date and time: {value!r}; use ISO 8601, e.g. 2026-11-20T09:00:00Z") from None
    return value


def _text(value: str | None) -> str | None:
    return None if value is None else printable(value)


# A parameter is its type and its rules: `Annotated[QueryDay | None, *DayQuery("from", "First day")]`.
# The helpers give the rules (metadata), not a type, so that mypy reads the parameter as a date.
QueryDay = Annotated[dt.date, WithJsonSchema({"type": "string", "format": "date", "examples": DAY_EXAMPLES})]
QueryMoment = Annotated[
    dt.datetime, WithJsonSchema({"type": "string", "format": "date-time", "examples": MOMENT_EXAMPLES})
]


def DayQuery(name: str, description: str) -> tuple[Any, ...]:  # noqa: N802 - read with its type
    return (
        Query(alias=name, description=f"{description}, YYYY-MM-DD, {_DAYS}"),
        BeforeValidator(_iso_day),
        AfterValidator(_day_in_range),
    )


def MomentQuery(name: str, description: str) -> tuple[Any, ...]:  # noqa: N802
    return (
        Query(alias=name, description=f"{description} (ISO 8601; without a zone, UTC; its date as written {_DAYS})"),
        BeforeValidator(_iso_moment),
        AfterValidator(_moment_in_range),
    )


def _period_text(pattern: str, examples: list[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "maxLength": 16, "pattern": pattern, "examples": examples})


def PeriodQuery(description: str, check) -> tuple[Any, ...]:  # noqa: N802
    """A period parameter: `check` (from truce.web.schemas) refuses, naming the period, what is not one."""
    return (
        Query(max_length=16, description=description),
        AfterValidator(lambda text: None if text is None else check(printable(text))),
    )


def TextQuery(description: str, longest: int = 254, name: str | None = None) -> tuple[Any, ...]:  # noqa: N802
    return (Query(alias=name, max_length=longest, description=description), AfterValidator(_text))


From = Annotated[QueryDay | None, *DayQuery("from", "First day counted (UTC)")]
To = Annotated[QueryDay | None, *DayQuery("to", "Last day counted (UTC)")]
At = Annotated[QueryMoment | None, *MomentQuery("at", "Evaluate as of this moment. Default: now")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many records (1–500)")]
Cursor = Annotated[
    str | None,
    Query(max_length=19, pattern=r"^[0-9]+$", description="`next` from the previous page"),
]
Offset = Annotated[int | None, Query(ge=0, le=1_000_000_000, description="Skip this many records (instead of cursor)")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TargetPeriodQuery = Annotated[
    Annotated[str, _period_text(PERIOD_PATTERN, PERIOD_EXAMPLES)] | None,
    *PeriodQuery(f"A year (2026), quarter (2026-Q4) or month (2026-11), {_YEARS}", target_period),
]
BriefPeriodQuery = Annotated[
    Annotated[str, _period_text(BRIEF_PERIOD_PATTERN, BRIEF_PERIOD_EXAMPLES)] | None,
    *PeriodQuery(
        f"An ISO week (2026-W47), month, quarter or year, {_YEARS}. Default: the last complete week", brief_period
    ),
]
RoundQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description=f"The round, e.g. 2026-Q4 (a name that spells a period spells one {_YEARS}). Default: the latest",
    ),
    AfterValidator(lambda text: None if text is None else round_name(printable(text))),
]
