"""A member's schedule of the group's homework: the group's, from the member's first day."""

import dataclasses
from datetime import date, timedelta

from pydantic import ValidationError

from app.assignments.recurrence import schedule_dates
from app.assignments.schedules import Schedule, ScheduleRead

# As far as a schedule's first date may lie from its start (the schedule's own limit).
_HORIZON = timedelta(days=5 * 366)


def member_schedule(group: Schedule, joined_on: date, timezone: str) -> ScheduleRead | None:
    """The group's schedule for a member who joined on `joined_on`, in `timezone` unless the
    schedule names a zone; None when the group has no date left for them.

    A member joining after the start begins on the group's first date from their join date
    (not the join date itself, so a rule such as every other week keeps the group's weeks), and
    a count-bounded schedule gives them only the occurrences the group has left."""
    if joined_on <= group.start_date:
        return group.resolved(timezone)
    first = schedule_dates(group, joined_on, joined_on + min(_HORIZON, date.max - joined_on))[:1]
    if not first:
        return None
    data = group.model_dump()
    data["start_date"] = first[0]
    parts = group.rule_parts()
    total = group.count or (parts.count if parts else None)
    if total is not None:
        before = len(schedule_dates(group, group.start_date, first[0] - timedelta(days=1)))
        data["count"] = total - before
        if parts is not None and parts.count is not None:
            data["rrule"] = dataclasses.replace(parts, count=None).canonical()
    try:
        return Schedule.model_validate(data).resolved(timezone)
    except ValidationError:  # pragma: no cover (the group's own dates, so valid)
        return None
