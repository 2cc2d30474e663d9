"""Schedule and reminder models for assignments, and the RRULE subset a schedule may use.

Decisions a caller can rely on:
- A schedule has at most one bound: `count`, `end_date`, or a COUNT or UNTIL inside `rrule`.
  RFC 5545 already forbids COUNT with UNTIL; allowing two bounds in two places would leave
  the reader guessing which one wins.
- COUNT (and `count`) counts *dates* produced by the rule, as RFC 5545 does; a date with
  three `times` is one of the counted dates but three occurrences.
- UNTIL bounds local calendar dates, inclusively. A date-time UNTIL keeps only the date as
  written (`20261231T235959Z` means 2026-12-31): calendar apps write all-day bounds that way,
  and converting the instant to the client's zone would move the last day for zones east of
  UTC. The stored rule is normalised and keeps UNTIL as a plain date.
- Dates are the rule's matches on or after `start_date` (dateutil semantics); `start_date`
  itself is an occurrence only when it matches the rule.
- Every error names its field in `loc` and has a specific `type` (`rrule_unsupported`,
  `rrule_invalid`, `schedule_conflict`, `date_order`, `time_format`, `timezone_invalid`,
  `duplicate`), so FastAPI answers 422 with e.g. `loc: ["body", "schedule", "rrule"]`.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import islice
from typing import Annotated, Literal

from dateutil.rrule import DAILY, MONTHLY, WEEKLY
from dateutil.rrule import rrule as DateutilRule
from dateutil.rrule import weekday as DateutilWeekday
from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from app.core.schemas import Schema
from app.core.types import CalendarDate

MAX_COUNT = 1000
MAX_INTERVAL = 365
MAX_TIMES = 24
MAX_REMINDERS = 10
MAX_MINUTES_BEFORE = 7 * 24 * 60
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY"})
# A rule that has matched nothing in five years is a mistake (e.g. BYMONTHDAY=31 every
# twelve months from February), and refusing it keeps every later expansion bounded.
_FIRST_DATE_HORIZON = timedelta(days=5 * 366)
# ASCII digits only (`\d` would also take other scripts' digits); the contract states the same.
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_HHMM = re.compile(HHMM_PATTERN)
_BYDAY = re.compile(r"(?:([+-]?)(\d{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL = re.compile(r"(\d{8})(T\d{6}Z?)?")
_DIGITS = re.compile(r"\d{1,5}")
_SIGNED = re.compile(r"[+-]?\d{1,2}")
# Present in some tz databases, but they name a machine's setting or a placeholder, not a place.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "posix", "right"})


class RRuleError(ValueError):
    """An RRULE outside the supported subset; `kind` becomes the validation error type."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _error(kind: str, message: str) -> PydanticCustomError:
    # The message travels in the context so braces in echoed input cannot break formatting.
    return PydanticCustomError(kind, "{message}", {"message": message})


@dataclass(frozen=True)
class RuleParts:
    """A parsed RRULE within the supported subset; `byday` tokens look like `MO` or `-1FR`."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: date | None = None
    byday: tuple[str, ...] = ()
    bymonthday: tuple[int, ...] = ()

    def canonical(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            parts.append("BYDAY=" + ",".join(self.byday))
        if self.bymonthday:
            parts.append("BYMONTHDAY=" + ",".join(str(d) for d in self.bymonthday))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={_ical_date(self.until)}")
        return ";".join(parts)

    def to_dateutil(self, first: date, until: date, anchor: date) -> DateutilRule:
        """The rule as dateutil sees it, walking naive local dates from `first` through `until`.

        COUNT is left out: callers count from `anchor` (the schedule's start) themselves. The
        weekday or month day that RFC 5545 takes from DTSTART is spelled out from `anchor`, so
        `first` may be moved forward to a later period without changing which dates match.
        """
        # Built directly rather than through an RRULE string and rrulestr: the same rule,
        # without formatting and parsing it again on every expansion.
        byday, bymonthday = self.byday, self.bymonthday
        if self.freq == "WEEKLY" and not byday:
            byday = (WEEKDAYS[anchor.weekday()],)
        if self.freq == "MONTHLY" and not byday and not bymonthday:
            bymonthday = (anchor.day,)
        return DateutilRule(
            _DATEUTIL_FREQ[self.freq],
            dtstart=datetime.combine(first, time()),
            interval=self.interval,
            until=datetime.combine(until, time()),
            byweekday=[_dateutil_weekday(token) for token in byday] or None,
            bymonthday=list(bymonthday) or None,
            cache=False,
        )

    def plain_weekdays(self, anchor: date) -> frozenset[int] | None:
        """The weekdays (0 = Monday) of a DAILY or WEEKLY rule without month days or ordinals,
        its default weekday taken from `anchor`; None for any other rule."""
        if self.freq == "MONTHLY" or self.bymonthday:
            return None
        if not self.byday:
            return frozenset(range(7)) if self.freq == "DAILY" else frozenset({anchor.weekday()})
        if any(len(token) != 2 for token in self.byday):
            return None
        return frozenset(WEEKDAYS.index(token) for token in self.byday)


# dateutil's frequency constants are the literals 3, 2 and 1.
_DATEUTIL_FREQ: dict[str, Literal[1, 2, 3]] = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY}


@cache
def _dateutil_weekday(token: str) -> DateutilWeekday:
    """`MO` -> MO, `-1FR` -> FR(-1), as rrulestr reads BYDAY."""
    day = DateutilWeekday(WEEKDAYS.index(token[-2:]))
    return day(int(token[:-2])) if len(token) > 2 else day


def _ical_date(day: date) -> str:
    """20261231; `%Y` leaves years before 1000 unpadded ("3250225"), which no parser reads."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _rule_body(value: str) -> str:
    """The RRULE value itself, refusing the other iCalendar lines people paste along with it."""
    bodies = []
    for line in (ln.strip() for ln in value.strip().splitlines()):
        if not line:
            continue
        if ":" in line:
            prop, _, rest = line.partition(":")
            name = prop.split(";", 1)[0].strip().upper()
            if name != "RRULE":
                raise RRuleError("rrule_unsupported", f"{name or 'the line'} is not supported")
            line = rest.strip()
        bodies.append(line)
    if not any(bodies):
        raise RRuleError("rrule_invalid", "rrule is empty")
    if len(bodies) > 1:
        raise RRuleError("rrule_unsupported", "more than one RRULE is not supported")
    return bodies[0]


def _whole(name: str, raw: str, low: int, high: int) -> int:
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise RRuleError("rrule_invalid", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _until(raw: str) -> date:
    if match := _UNTIL.fullmatch(raw):
        try:
            return datetime.strptime(match.group(1), "%Y%m%d").date()
        except ValueError:
            pass
    raise RRuleError(
        "rrule_invalid", "UNTIL must be a date like 20261231 or a date-time like 20261231T235959Z"
    )


def _byday(raw: str, freq: str) -> tuple[str, ...]:
    tokens = []
    for token in raw.split(","):
        match = _BYDAY.fullmatch(token.strip())
        if match is None:
            raise RRuleError("rrule_invalid", f"BYDAY value '{token}' is not a weekday MO..SU")
        sign, number, day = match.groups()
        if number is None:
            tokens.append(day)
            continue
        if freq != "MONTHLY":
            raise RRuleError(
                "rrule_unsupported",
                f"BYDAY ordinals such as {token} are supported only with FREQ=MONTHLY",
            )
        if not 1 <= int(number) <= 5:
            raise RRuleError("rrule_invalid", "BYDAY ordinals must be 1..5 or -5..-1")
        tokens.append(f"{'-' if sign == '-' else ''}{int(number)}{day}")
    return tuple(dict.fromkeys(tokens))


def _bymonthday(raw: str, freq: str) -> tuple[int, ...]:
    if freq == "WEEKLY":
        raise RRuleError("rrule_unsupported", "BYMONTHDAY is not supported with FREQ=WEEKLY")
    days = []
    for token in raw.split(","):
        token = token.strip()
        if not _SIGNED.fullmatch(token) or not 1 <= abs(int(token)) <= 31:
            raise RRuleError("rrule_invalid", "BYMONTHDAY values must be 1..31 or -31..-1")
        days.append(int(token))
    return tuple(dict.fromkeys(days))


@lru_cache(maxsize=4096)
def parse_rrule(value: str) -> RuleParts:
    """Parse and check an RRULE value against the supported subset; raises RRuleError.

    Memoized (RuleParts is frozen): every expansion asks again for the same few rules."""
    fields: dict[str, str] = {}
    for chunk in _rule_body(value).split(";"):
        if not chunk.strip():
            continue
        name, sep, raw = (s.strip().upper() for s in chunk.partition("="))
        if not sep or not name:
            raise RRuleError("rrule_invalid", f"'{chunk.strip()}' is not a NAME=VALUE rule part")
        if name not in _PARTS:
            raise RRuleError("rrule_unsupported", f"{name} is not supported")
        if name in fields:
            raise RRuleError("rrule_invalid", f"{name} appears more than once")
        if not raw:
            raise RRuleError("rrule_invalid", f"{name} has no value")
        fields[name] = raw
    freq = fields.get("FREQ")
    if freq is None:
        raise RRuleError("rrule_invalid", "FREQ is required")
    if freq not in FREQUENCIES:
        raise RRuleError(
            "rrule_unsupported", f"FREQ={freq} is not supported; use DAILY, WEEKLY or MONTHLY"
        )
    if "COUNT" in fields and "UNTIL" in fields:
        raise RRuleError("schedule_conflict", "COUNT and UNTIL cannot both be set")
    return RuleParts(
        freq=freq,
        interval=_whole("INTERVAL", fields["INTERVAL"], 1, MAX_INTERVAL)
        if "INTERVAL" in fields
        else 1,
        count=_whole("COUNT", fields["COUNT"], 1, MAX_COUNT) if "COUNT" in fields else None,
        until=_until(fields["UNTIL"]) if "UNTIL" in fields else None,
        byday=_byday(fields["BYDAY"], freq) if "BYDAY" in fields else (),
        bymonthday=_bymonthday(fields["BYMONTHDAY"], freq) if "BYMONTHDAY" in fields else (),
    )


def parse_hhmm(value: str) -> time:
    """`"08:30"` as a `time`; the value has already been checked by the models."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _check_hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise _error("time_format", "time must be HH:MM on a 24-hour clock, like 08:00 or 21:30")
    return value


@cache
def _iana_zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones()) - _NOT_ZONES


def timezone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA zone, or None when it is."""
    if not name:
        return "timezone must not be empty"
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "timezone must be an IANA name such as Europe/Berlin, not a file path"
    if name not in _iana_zones():
        return f"'{name}' is not an IANA time zone"
    return None


# The pattern is documented (and checked by _check_hhmm, which names the error `time_format`).
LocalTime = Annotated[
    str,
    AfterValidator(_check_hhmm),
    Field(json_schema_extra={"pattern": HHMM_PATTERN}, examples=["08:30"]),
]
MinutesBefore = Annotated[int, Field(strict=True, ge=0, le=MAX_MINUTES_BEFORE)]


class Schedule(Schema):
    """When an assignment's occurrences fall, in the client's local dates and wall-clock times."""

    start_date: CalendarDate
    end_date: CalendarDate | None = None
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)] | None = None
    # Validated even when absent, so that a `count` without a rule is caught.
    rrule: str | None = Field(
        default=None,
        max_length=500,
        validate_default=True,
        examples=["FREQ=WEEKLY;BYDAY=MO,WE,FR"],
        description="RFC 5545 RRULE value; absent means one occurrence on start_date.",
    )
    # uniqueItems: the contract says what _unique_sorted checks.
    times: Annotated[
        list[LocalTime], Field(max_length=MAX_TIMES, json_schema_extra={"uniqueItems": True})
    ] = Field(default=[], description="Local HH:MM times; empty means any time that day.")
    timezone: str | None = Field(
        default=None,
        examples=["Europe/Berlin"],
        description="IANA time zone; absent means the client's own zone.",
    )

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value < start:
            raise _error("date_order", "end_date must be on or after start_date")
        return value

    @field_validator("count")
    @classmethod
    def _one_bound(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("end_date") is not None:
            raise _error("schedule_conflict", "count and end_date cannot both be set; choose one")
        return value

    @field_validator("rrule")
    @classmethod
    def _supported_rule(cls, value: str | None, info: ValidationInfo) -> str | None:
        start, end, count = (info.data.get(k) for k in ("start_date", "end_date", "count"))
        if value is None:
            if count is not None and count > 1:
                raise _error("schedule_conflict", "count above 1 needs an rrule to repeat")
            return None
        try:
            parts = parse_rrule(value)
        except RRuleError as exc:
            raise _error(exc.kind, exc.message) from None
        bound = "count" if count is not None else "end_date" if end is not None else None
        rule_bound = "COUNT" if parts.count is not None else "UNTIL" if parts.until else None
        if bound and rule_bound:
            raise _error("schedule_conflict", f"{rule_bound} conflicts with {bound}; set one bound")
        if start is None:
            return parts.canonical()
        if parts.until is not None and parts.until < start:
            raise _error("date_order", "UNTIL is before start_date")
        horizon = start + min(_FIRST_DATE_HORIZON, date.max - start)
        limit = min(d for d in (end, parts.until, horizon) if d is not None)
        if not list(islice(parts.to_dateutil(start, limit, anchor=start), 1)):
            within = (
                "by end_date"
                if limit == end
                else "by UNTIL"
                if limit == parts.until
                else "within five years of start_date"
            )
            raise _error("rrule_invalid", f"rrule yields no date {within}")
        return parts.canonical()

    @field_validator("times")
    @classmethod
    def _unique_sorted(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _error("duplicate", "times must not repeat")
        return sorted(value)

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, value: str | None) -> str | None:
        if value is not None and (problem := timezone_problem(value)):
            raise _error("timezone_invalid", problem)
        return value

    def local_times(self) -> list[time]:
        return [parse_hhmm(t) for t in self.times]

    def rule_parts(self) -> RuleParts | None:
        return parse_rrule(self.rrule) if self.rrule else None

    def effective_timezone(self, client_timezone: str) -> str:
        """The schedule's own zone, else the client's; the client's must be a real zone."""
        if self.timezone is not None:
            return self.timezone
        if problem := timezone_problem(client_timezone):
            raise ValueError(problem)
        return client_timezone

    def resolved(self, client_timezone: str) -> "ScheduleRead":
        data = self.model_dump()
        data["timezone"] = self.effective_timezone(client_timezone)
        return ScheduleRead.model_validate(data)


class ScheduleRead(Schedule):
    """A schedule as answered: the time zone is always filled in."""

    timezone: str = Field(examples=["Europe/Berlin"])


class Reminders(Schema):
    """When to remind the client: before timed occurrences, or at a set time on untimed days."""

    minutes_before: Annotated[
        list[MinutesBefore],
        Field(max_length=MAX_REMINDERS, json_schema_extra={"uniqueItems": True}),
    ] = Field(default=[], description="Minutes before each timed occurrence, 0..10080 (one week).")
    untimed_at: LocalTime | None = Field(
        default=None, description="Local HH:MM for reminders on days with untimed occurrences."
    )

    @field_validator("minutes_before")
    @classmethod
    def _unique_sorted(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise _error("duplicate", "minutes_before must not repeat")
        return sorted(value)

    def reminder_time(self) -> time | None:
        return parse_hhmm(self.untimed_at) if self.untimed_at else None
