"""Constrained types shared by request schemas: bounded strings, IANA time zones, dates, and
free-form JSON objects bounded in depth and size."""

import math
import re
import zoneinfo
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError


def _check_zone(name: str) -> str:
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError("not an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        ) from None
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_zone),
    Field(examples=["Europe/Berlin"]),
]
# At least one character that strip_whitespace keeps (Unicode White_Space is stripped), so that
# the contract says what minLength after stripping means: "   " is not a name.
NOT_BLANK = r"[^\x09-\x0d \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]
ShortText = Annotated[str, StringConstraints(max_length=2000)]


# Pydantic alone also reads a number, or a string of digits, as Unix time: `from=0` was
# 1970-01-01. The contract says `format: date` / `format: date-time`, so only those pass.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}")


# Kept a year away from the ends of Python's calendar (years 1 to 9999), so that the windows,
# week and month boundaries and recurrences computed around a date stay inside it: at the very
# ends they overflowed (500s). An instant must likewise exist in UTC.
FIRST_DATE = date(2, 1, 1)
LAST_DATE = date(9998, 12, 31)


def _calendar_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_type", "Input should be a date like 2026-11-25")


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_TIME_START.match(value):
        return value  # the rest (fraction, offset) is pydantic's to check
    raise PydanticCustomError(
        "datetime_type", "Input should be an RFC 3339 date-time like 2026-11-25T08:30:00+01:00"
    )


def _within_calendar(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise PydanticCustomError("date_range", "Dates lie between 0002-01-01 and 9998-12-31")
    return value


def _within_utc(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "The instant lies outside years 1 to 9999 in UTC"
        ) from None
    return value


CalendarDate = Annotated[date, BeforeValidator(_calendar_date), AfterValidator(_within_calendar)]
Instant = Annotated[AwareDatetime, BeforeValidator(_instant), AfterValidator(_within_utc)]


# Free-form JSON (answers keyed by field) is walked by code that recurses: pydantic's serializer
# gave up past ~250 levels (a 500), the JSON encoder past ~1000. Real answers nest a few levels
# and hold a few hundred values; the bounds leave room for that and refuse a crafted payload at
# the edge, as a 422 naming the field.
MAX_JSON_DEPTH = 32
MAX_JSON_VALUES = 10_000


def _bounded_json(value: Any) -> Any:
    """Walk without recursion, so that the check itself cannot overflow the stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while pending:
        node, depth = pending.pop()
        seen += 1
        if seen > MAX_JSON_VALUES:
            raise PydanticCustomError(
                "json_too_large",
                "JSON holds more than {max_values} values",
                {"max_values": MAX_JSON_VALUES},
            )
        if isinstance(node, float) and not math.isfinite(node):
            # Python's JSON parser reads NaN and Infinity; JSON itself has neither, and
            # PostgreSQL would refuse them in a jsonb column.
            raise PydanticCustomError("json_not_finite", "JSON numbers must be finite")
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise PydanticCustomError(
                    "json_too_deep",
                    "JSON nests more than {max_depth} levels deep",
                    {"max_depth": MAX_JSON_DEPTH},
                )
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return value


# A JSON object whose content the schema leaves free, bounded before anything recurses into it.
JsonObject = Annotated[dict[str, Any], BeforeValidator(_bounded_json)]
