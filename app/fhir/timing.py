"""An assignment's schedule as a FHIR Timing, keeping the RRULE itself in `code.text`.

Timing cannot say everything an RRULE can (month days, "first Monday"), so the parts it can
express are mapped and the rule travels along verbatim: a consumer that understands RRULEs
reads `code.text`, any other still gets a usable period, weekdays and times.
"""

from datetime import date
from typing import Any

from app.assignments.schedules import RRuleError, RuleParts, parse_rrule
from app.fhir.common import compact, day, hms, text_or_none
from app.fhir.inputs import ScheduleInput

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
PERIOD_UNIT = {"DAILY": "d", "WEEKLY": "wk", "MONTHLY": "mo"}
DAY_OF_WEEK = {
    "MO": "mon",
    "TU": "tue",
    "WE": "wed",
    "TH": "thu",
    "FR": "fri",
    "SA": "sat",
    "SU": "sun",
}
_WEEKDAYS = tuple(DAY_OF_WEEK)


def _days_of_week(parts: RuleParts, start: date) -> list[str]:
    if parts.freq == "WEEKLY" and not parts.byday:
        # RFC 5545 takes the weekday from DTSTART, which is our start_date.
        return [DAY_OF_WEEK[_WEEKDAYS[start.weekday()]]]
    if parts.bymonthday or any(token not in DAY_OF_WEEK for token in parts.byday):
        # "1MO" (first Monday) or month days have no Timing equivalent: code.text has them.
        return []
    return [DAY_OF_WEEK[token] for token in parts.byday]


def _dates_per_period(parts: RuleParts, start: date) -> int | None:
    """How many dates the rule yields in each period, when that number is fixed."""
    if parts.freq == "DAILY":
        return 1
    if parts.freq == "WEEKLY":
        return len(parts.byday) or 1
    # MONTHLY: exactly one date a month only when that date exists in every month.
    if not parts.byday and not parts.bymonthday:
        return 1 if start.day <= 28 else None
    if not parts.byday and len(parts.bymonthday) == 1:
        return 1 if abs(parts.bymonthday[0]) <= 28 else None
    if not parts.bymonthday and len(parts.byday) == 1:
        token = parts.byday[0]
        ordinal = token[:-2]
        return 1 if ordinal and abs(int(ordinal)) <= 4 else None
    return None


def timing(schedule: ScheduleInput) -> dict[str, Any]:
    start_date = date.fromisoformat(day(schedule["start_date"]))
    times = [hms(t) for t in schedule.get("times") or []]
    # FHIR counts repetitions, we count dates: a date with two times is two repetitions.
    per_date = max(1, len(times))
    zone = text_or_none(schedule.get("timezone"))
    # timeOfDay is wall-clock time; without the zone an EHR cannot place it on a timeline.
    extension = [{"url": TIMEZONE_EXTENSION, "valueCode": zone}] if zone else None
    rrule = text_or_none(schedule.get("rrule"))
    end = day(end_date) if (end_date := schedule.get("end_date")) else None
    count = schedule.get("count")

    if rrule is None:
        # One occurrence on start_date (several when it has several times).
        return compact(
            {
                "extension": extension,
                "event": [start_date.isoformat()],
                "repeat": compact(
                    {
                        "boundsPeriod": {
                            "start": start_date.isoformat(),
                            "end": start_date.isoformat(),
                        },
                        "count": per_date,
                        "timeOfDay": times,
                    }
                ),
            }
        )

    try:
        parts: RuleParts | None = parse_rrule(rrule)
    except RRuleError:
        # Stored rules were checked on the way in; should an old one not parse any more, the
        # verbatim rule and the bounds are still true, and nothing is invented.
        parts = None
    repeat: dict[str, Any] = {"timeOfDay": times}
    if parts is not None:
        if end is None and parts.until is not None:
            end = parts.until.isoformat()
        count = count if count is not None else parts.count
        per_period = _dates_per_period(parts, start_date)
        repeat |= {
            "frequency": per_period * per_date if per_period else None,
            "period": parts.interval,
            "periodUnit": PERIOD_UNIT[parts.freq],
            "dayOfWeek": _days_of_week(parts, start_date),
        }
    repeat |= {
        "boundsPeriod": compact({"start": start_date.isoformat(), "end": end}),
        "count": count * per_date if count else None,
    }
    return compact({"extension": extension, "code": {"text": rrule}, "repeat": compact(repeat)})
