"""Schedule dates (date arithmetic for plain DAILY and WEEKLY rules, dateutil built directly for
the rest) equal dateutil's own reading of the RRULE text, from DTSTART, on random rules."""

import random
from datetime import date, datetime, timedelta

from dateutil.rrule import rrulestr

from app.assignments.recurrence import resolve_local, schedule_dates, zone_named
from app.assignments.schedules import WEEKDAYS, Schedule, parse_rrule


def _rule(rng: random.Random) -> str:
    freq = rng.choice(("DAILY", "DAILY", "WEEKLY", "WEEKLY", "MONTHLY"))
    parts = [f"FREQ={freq}"]
    if rng.random() < 0.4:
        parts.append(f"INTERVAL={rng.choice((2, 3, 4, 7, 13))}")
    if freq in ("DAILY", "WEEKLY") and rng.random() < 0.6:
        parts.append("BYDAY=" + ",".join(rng.sample(WEEKDAYS, rng.randint(1, 7))))
    if freq == "MONTHLY":
        kind = rng.random()
        if kind < 0.4:
            days = rng.sample([*range(1, 32), -1, -2], rng.randint(1, 3))
            parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
        elif kind < 0.8:
            tokens = [f"{rng.choice((1, 2, -1))}{rng.choice(WEEKDAYS)}" for _ in range(2)]
            parts.append("BYDAY=" + ",".join(dict.fromkeys(tokens)))
    bound = rng.random()
    if bound < 0.15:
        parts.append(f"COUNT={rng.randint(1, 40)}")
    elif bound < 0.3:
        parts.append(f"UNTIL={(date(2026, 1, 1) + timedelta(days=rng.randint(0, 500))):%Y%m%d}")
    return ";".join(parts)


def _dateutil_dates(schedule: Schedule, low: date, high: date) -> list[date]:
    """The RFC 5545 reading: dateutil on the rule text with DTSTART = start_date, from the start."""
    text = schedule.rrule or "FREQ=DAILY;COUNT=1"
    if schedule.count:
        text += f";COUNT={schedule.count}"
    rule = rrulestr(text, dtstart=datetime.combine(schedule.start_date, datetime.min.time()))
    last = min(high, schedule.end_date or date.max)
    if "COUNT" not in text:  # bounded, so that a rule that matches no more stops walking
        until = datetime.combine(last, datetime.min.time())
        rule = rule.replace(until=min(until, rule._until) if rule._until else until)
    found = []
    for match in rule:
        day = match.date()
        if day > last:
            break
        if day >= low:
            found.append(day)
    return found


def test_schedule_dates_equal_dateutil_on_random_rules():
    rng = random.Random(20261126)
    checked = plain = 0
    while checked < 4000:
        start = date(2025, 6, 1) + timedelta(days=rng.randint(0, 500))
        data: dict = {"start_date": start, "rrule": _rule(rng)}
        if rng.random() < 0.1 and "COUNT" not in data["rrule"] and "UNTIL" not in data["rrule"]:
            data["end_date"] = start + timedelta(days=rng.randint(0, 200))
        try:
            schedule = Schedule.model_validate(data)
        except ValueError:
            continue
        low = start + timedelta(days=rng.randint(-40, 400))
        high = low + timedelta(days=rng.choice((0, 1, 6, 29, 30, 90, 366)))
        assert schedule_dates(schedule, low, high) == _dateutil_dates(schedule, low, high), (
            schedule,
            low,
            high,
        )
        parts = parse_rrule(schedule.rrule or "FREQ=DAILY")
        plain += parts.plain_weekdays(start) is not None and not parts.count
        checked += 1
    assert plain > 1500  # the arithmetic path was taken, not only dateutil


def test_parsed_rules_and_zones_are_shared_and_resolution_is_unchanged():
    assert parse_rrule("FREQ=WEEKLY;BYDAY=MO") is parse_rrule("FREQ=WEEKLY;BYDAY=MO")
    assert zone_named("Europe/Berlin") is zone_named("Europe/Berlin")
    # A gap moves forward (02:30 does not exist on 2026-03-08 in New York), twice alike.
    for _ in range(2):
        instant = resolve_local(
            date(2026, 3, 8), datetime(1, 1, 1, 2, 30).time(), "America/New_York"
        )
        assert instant.isoformat() == "2026-03-08T07:00:00+00:00"
