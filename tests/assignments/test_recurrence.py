"""Occurrence expansion: local dates and times, DST, bounds, pauses, the next occurrence and reminder."""

import time as stopwatch
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from app.assignments.recurrence import (
    expand,
    next_occurrence,
    next_reminder,
    resolve_local,
    schedule_dates,
)
from app.assignments.schedules import Reminders, Schedule


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _daily(*times: str, start: date = date(2026, 1, 1), **fields: object) -> Schedule:
    return Schedule.model_validate(
        {"start_date": start, "rrule": "FREQ=DAILY", "times": list(times), **fields}
    )


def _dates(rrule: str, start: date, window_end: date, **fields: object) -> list[date]:
    schedule = Schedule.model_validate({"start_date": start, "rrule": rrule, **fields})
    return [o.local_date for o in expand(schedule, "UTC", start, window_end)]


@pytest.mark.parametrize(
    ("zone", "days", "expected_utc", "hours_between"),
    [
        (
            "America/New_York",
            (date(2026, 3, 7), date(2026, 3, 9)),
            [_utc(2026, 3, 7, 13), _utc(2026, 3, 8, 12), _utc(2026, 3, 9, 12)],
            [23, 24],
        ),
        (
            "America/New_York",
            (date(2026, 10, 31), date(2026, 11, 2)),
            [_utc(2026, 10, 31, 12), _utc(2026, 11, 1, 13), _utc(2026, 11, 2, 13)],
            [25, 24],
        ),
        (
            "Europe/Berlin",
            (date(2026, 3, 28), date(2026, 3, 30)),
            [_utc(2026, 3, 28, 7), _utc(2026, 3, 29, 6), _utc(2026, 3, 30, 6)],
            [23, 24],
        ),
        (
            "Europe/Berlin",
            (date(2026, 10, 24), date(2026, 10, 26)),
            [_utc(2026, 10, 24, 6), _utc(2026, 10, 25, 7), _utc(2026, 10, 26, 7)],
            [25, 24],
        ),
        (
            "Asia/Kolkata",
            (date(2026, 3, 7), date(2026, 3, 9)),
            [_utc(2026, 3, 7, 2, 30), _utc(2026, 3, 8, 2, 30), _utc(2026, 3, 9, 2, 30)],
            [24, 24],
        ),
        (
            "Asia/Tokyo",
            (date(2026, 10, 31), date(2026, 11, 2)),
            [_utc(2026, 10, 30, 23), _utc(2026, 10, 31, 23), _utc(2026, 11, 1, 23)],
            [24, 24],
        ),
    ],
)
def test_daily_0800_stays_0800_local_and_utc_moves_by_the_dst_hour(
    zone, days, expected_utc, hours_between
):
    occurrences = expand(_daily("08:00"), zone, *days)
    assert [o.due_at for o in occurrences] == expected_utc
    assert [o.local_time for o in occurrences] == [time(8, 0)] * 3
    assert [o.due_at.astimezone(ZoneInfo(zone)).time() for o in occurrences] == [time(8, 0)] * 3
    gaps = [b.due_at - a.due_at for a, b in pairwise(occurrences)]
    assert gaps == [timedelta(hours=h) for h in hours_between]
    assert all(o.starts_at == o.due_at for o in occurrences)


def test_time_in_the_spring_forward_gap_moves_to_the_next_valid_minute():
    [occurrence] = expand(_daily("02:30"), "America/New_York", date(2026, 3, 8), date(2026, 3, 8))
    assert occurrence.local_time == time(2, 30)
    assert occurrence.due_at == _utc(2026, 3, 8, 7)
    assert occurrence.due_at.astimezone(ZoneInfo("America/New_York")).time() == time(3, 0)


def test_ambiguous_fall_back_time_takes_the_first_daylight_instant():
    [occurrence] = expand(_daily("01:30"), "America/New_York", date(2026, 11, 1), date(2026, 11, 1))
    assert occurrence.due_at == _utc(2026, 11, 1, 5, 30)
    assert occurrence.due_at.astimezone(ZoneInfo("America/New_York")).utcoffset() == timedelta(
        hours=-4
    )


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (datetime(2026, 3, 8, 2, 0), "America/New_York", _utc(2026, 3, 8, 7)),
        (datetime(2026, 3, 8, 2, 59), "America/New_York", _utc(2026, 3, 8, 7)),
        (datetime(2026, 3, 8, 3, 0), "America/New_York", _utc(2026, 3, 8, 7)),
        (datetime(2026, 11, 1, 1, 0), "America/New_York", _utc(2026, 11, 1, 5)),
        (datetime(2026, 3, 29, 2, 30), "Europe/Berlin", _utc(2026, 3, 29, 1)),
        (datetime(2026, 10, 25, 2, 30), "Europe/Berlin", _utc(2026, 10, 25, 0, 30)),
        (datetime(2026, 3, 8, 2, 30), "Asia/Kolkata", _utc(2026, 3, 7, 21)),
    ],
)
def test_resolve_local_moves_gaps_forward_and_takes_fold_zero(local, zone, expected):
    assert resolve_local(local.date(), local.time(), zone) == expected


def test_times_on_one_day_sort_by_instant_then_requested_time():
    occurrences = expand(
        _daily("03:00", "02:30", "20:00"), "America/New_York", date(2026, 3, 8), date(2026, 3, 8)
    )
    assert [o.local_time for o in occurrences] == [time(2, 30), time(3, 0), time(20, 0)]
    assert [o.due_at for o in occurrences] == [
        _utc(2026, 3, 8, 7),
        _utc(2026, 3, 8, 7),
        _utc(2026, 3, 9, 0),
    ]


def test_untimed_occurrence_runs_from_local_midnight_to_the_next():
    [short_day] = expand(_daily(), "America/New_York", date(2026, 3, 8), date(2026, 3, 8))
    assert short_day.local_time is None
    assert short_day.starts_at == _utc(2026, 3, 8, 5)
    assert short_day.due_at == _utc(2026, 3, 9, 4)
    [long_day] = expand(_daily(), "Europe/Berlin", date(2026, 10, 25), date(2026, 10, 25))
    assert long_day.due_at - long_day.starts_at == timedelta(hours=25)


def test_weekly_byday_gives_monday_wednesday_friday_over_two_weeks():
    dates = _dates("FREQ=WEEKLY;BYDAY=MO,WE,FR", date(2026, 3, 2), date(2026, 3, 15))
    assert dates == [date(2026, 3, d) for d in (2, 4, 6, 9, 11, 13)]


def test_weekdays_before_start_date_in_its_first_week_are_skipped():
    dates = _dates("FREQ=WEEKLY;BYDAY=MO,WE,FR", date(2026, 3, 4), date(2026, 3, 10))
    assert dates == [date(2026, 3, 4), date(2026, 3, 6), date(2026, 3, 9)]


def test_interval_two_is_every_other_day():
    dates = _dates("FREQ=DAILY;INTERVAL=2", date(2026, 3, 1), date(2026, 3, 10))
    assert dates == [date(2026, 3, d) for d in (1, 3, 5, 7, 9)]


def test_count_counts_dates_not_occurrences():
    schedule = Schedule.model_validate(
        {
            "start_date": "2026-03-02",
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5",
            "times": ["08:00", "20:00"],
        }
    )
    occurrences = expand(schedule, "UTC", date(2026, 3, 1), date(2026, 4, 30))
    assert len(occurrences) == 10
    assert sorted({o.local_date for o in occurrences}) == [
        date(2026, 3, d) for d in (3, 5, 10, 12, 17)
    ]


def test_count_field_bounds_like_rule_count_even_in_a_later_window():
    dates = [
        date(2026, 3, 10),
        date(2026, 3, 12),
        date(2026, 3, 17),
    ]
    schedule = Schedule.model_validate(
        {"start_date": "2026-03-02", "rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "count": 5}
    )
    assert schedule_dates(schedule, date(2026, 3, 9), date(2026, 4, 30)) == dates
    assert schedule_dates(schedule, date(2026, 3, 18), date(2026, 6, 30)) == []


def test_until_is_inclusive():
    dates = _dates("FREQ=DAILY;INTERVAL=3;UNTIL=20260310", date(2026, 3, 1), date(2026, 3, 31))
    assert dates == [date(2026, 3, d) for d in (1, 4, 7, 10)]


def test_until_date_time_bounds_the_date_as_written():
    dates = _dates("FREQ=DAILY;UNTIL=20260303T000000Z", date(2026, 3, 1), date(2026, 3, 31))
    assert dates == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def test_end_date_bounds_inclusively():
    dates = _dates("FREQ=WEEKLY", date(2026, 3, 2), date(2026, 4, 30), end_date="2026-03-23")
    assert dates == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23)]


def test_without_a_rule_there_is_one_occurrence_on_start_date():
    schedule = Schedule.model_validate({"start_date": "2026-03-05", "times": ["09:00"]})
    assert schedule_dates(schedule, date(2026, 3, 1), date(2026, 3, 31)) == [date(2026, 3, 5)]
    assert expand(schedule, "UTC", date(2026, 3, 6), date(2026, 3, 31)) == []


def test_monthly_last_friday_and_month_days():
    assert _dates("FREQ=MONTHLY;BYDAY=-1FR", date(2026, 1, 1), date(2026, 6, 30)) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 27),
        date(2026, 4, 24),
        date(2026, 5, 29),
        date(2026, 6, 26),
    ]
    assert _dates("FREQ=MONTHLY;BYMONTHDAY=31", date(2026, 1, 1), date(2026, 6, 30)) == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
    ]


def test_window_years_after_start_keeps_the_rules_rhythm():
    # 2026-06-01 is 386 weeks after 2019-01-07, an even number, so that week is "on".
    biweekly = Schedule.model_validate(
        {"start_date": "2019-01-07", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH"}
    )
    assert schedule_dates(biweekly, date(2026, 6, 1), date(2026, 6, 30)) == [
        date(2026, 6, d) for d in (2, 4, 16, 18, 30)
    ]
    month_end = Schedule.model_validate({"start_date": "2020-01-31", "rrule": "FREQ=MONTHLY"})
    assert schedule_dates(month_end, date(2026, 1, 1), date(2026, 6, 30)) == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
    ]
    # No BYDAY: the start's weekday (Wednesday); 2026-06-01 is 126 weeks, a multiple of 3,
    # after the Monday of the start's week.
    every_third_wednesday = Schedule.model_validate(
        {"start_date": "2024-01-03", "rrule": "FREQ=WEEKLY;INTERVAL=3"}
    )
    assert schedule_dates(every_third_wednesday, date(2026, 6, 1), date(2026, 6, 30)) == [
        date(2026, 6, 3),
        date(2026, 6, 24),
    ]
    every_other_day = Schedule.model_validate(
        {"start_date": "2000-01-01", "rrule": "FREQ=DAILY;INTERVAL=2"}
    )
    # 9648 days separate 2000-01-01 and 2026-06-01: even, so June 1st is on.
    assert schedule_dates(every_other_day, date(2026, 6, 1), date(2026, 6, 10)) == [
        date(2026, 6, d) for d in (1, 3, 5, 7, 9)
    ]


def test_92_day_window_a_thousand_years_after_start_is_fast():
    # Walking from the year 1000 takes about half a second; starting near the window, a millisecond.
    schedule = Schedule.model_validate(
        {"start_date": "1000-01-01", "rrule": "FREQ=DAILY;BYDAY=MO,WE,FR", "times": ["08:00"]}
    )
    began = stopwatch.perf_counter()
    occurrences = expand(schedule, "Europe/Berlin", date(2026, 6, 1), date(2026, 8, 31))
    elapsed = stopwatch.perf_counter() - began
    assert [o.local_date for o in occurrences][:6] == [
        date(2026, 6, d) for d in (1, 3, 5, 8, 10, 12)
    ]
    assert len(occurrences) == 40
    assert occurrences[-1].local_date == date(2026, 8, 31)
    assert elapsed < 0.1


def test_pause_suspends_exactly_the_occurrences_due_inside_it():
    schedule = _daily("08:00", timezone="Europe/Berlin")
    paused = [(_utc(2026, 3, 10), _utc(2026, 3, 13, 7))]
    occurrences = expand(schedule, "UTC", date(2026, 3, 8), date(2026, 3, 15), paused=paused)
    suspended = [o.local_date.day for o in occurrences if o.suspended]
    active = [o.local_date.day for o in occurrences if not o.suspended]
    assert suspended == [10, 11, 12]
    # Resuming at exactly 08:00 local on the 13th makes that occurrence due again.
    assert active == [8, 9, 13, 14, 15]


def test_open_ended_pause_suspends_everything_after_it():
    paused = [(_utc(2026, 3, 12, 12), None)]
    occurrences = expand(
        _daily("08:00"), "UTC", date(2026, 3, 11), date(2026, 3, 14), paused=paused
    )
    assert [(o.local_date.day, o.suspended) for o in occurrences] == [
        (11, False),
        (12, False),
        (13, True),
        (14, True),
    ]


def test_untimed_day_paused_before_it_ends_is_suspended():
    paused = [(_utc(2026, 3, 10, 15), _utc(2026, 3, 12, 10))]
    occurrences = expand(_daily(), "UTC", date(2026, 3, 9), date(2026, 3, 12), paused=paused)
    assert [(o.local_date.day, o.suspended) for o in occurrences] == [
        (9, False),
        (10, True),
        (11, True),
        (12, False),
    ]


def test_naive_pause_bounds_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        expand(
            _daily(),
            "UTC",
            date(2026, 3, 9),
            date(2026, 3, 12),
            paused=[(datetime(2026, 3, 10), None)],
        )


def test_next_occurrence_is_strictly_after_and_crosses_spring_forward():
    found = next_occurrence(_daily("08:00"), "America/New_York", _utc(2026, 3, 7, 13))
    assert found is not None
    assert (found.local_date, found.due_at) == (date(2026, 3, 8), _utc(2026, 3, 8, 12))


def test_next_untimed_occurrence_is_today_until_local_midnight():
    schedule = _daily(timezone="Europe/Berlin")
    late_evening = next_occurrence(schedule, "UTC", _utc(2026, 3, 10, 22, 30))
    midnight = next_occurrence(schedule, "UTC", _utc(2026, 3, 10, 23))
    assert late_evening is not None and late_evening.local_date == date(2026, 3, 10)
    assert midnight is not None and midnight.local_date == date(2026, 3, 11)


def test_next_occurrence_skips_paused_ones():
    paused = [(_utc(2026, 3, 5), _utc(2026, 3, 8))]
    found = next_occurrence(_daily("09:00"), "UTC", _utc(2026, 3, 4, 10), paused=paused)
    assert found is not None and found.due_at == _utc(2026, 3, 8, 9)
    assert (
        next_occurrence(
            _daily("09:00"), "UTC", _utc(2026, 3, 4, 10), paused=[(_utc(2026, 3, 5), None)]
        )
        is None
    )


def test_next_occurrence_finds_a_start_far_ahead_and_none_after_the_end():
    later = Schedule.model_validate({"start_date": "2028-05-01", "times": ["10:00"]})
    found = next_occurrence(later, "UTC", _utc(2026, 1, 1))
    assert found is not None and found.due_at == _utc(2028, 5, 1, 10)
    assert next_occurrence(later, "UTC", _utc(2028, 5, 1, 10)) is None
    counted = Schedule.model_validate({"start_date": "2026-03-01", "rrule": "FREQ=DAILY;COUNT=3"})
    assert next_occurrence(counted, "UTC", _utc(2026, 3, 4)) is None


def test_next_reminder_before_timed_occurrences_across_dst():
    reminders = Reminders(minutes_before=[30])
    schedule = _daily("08:00")
    assert next_reminder(schedule, reminders, "America/New_York", _utc(2026, 3, 7, 13)) == _utc(
        2026, 3, 8, 11, 30
    )
    assert next_reminder(schedule, reminders, "America/New_York", _utc(2026, 10, 31, 12)) == _utc(
        2026, 11, 1, 12, 30
    )


def test_untimed_reminder_in_the_gap_moves_to_the_next_valid_minute():
    reminders = Reminders(untimed_at="02:30")
    assert next_reminder(_daily(), reminders, "America/New_York", _utc(2026, 3, 8)) == _utc(
        2026, 3, 8, 7
    )


def test_a_later_occurrences_early_reminder_can_come_first():
    weekly = Schedule.model_validate(
        {"start_date": "2026-03-01", "rrule": "FREQ=WEEKLY", "times": ["09:00"]}
    )
    reminders = Reminders(minutes_before=[5, 10080])
    # The 8 March reminders (1 March 09:00, 8 March 08:55) are past; the week-ahead one for
    # 15 March (8 March 09:00) comes before 15 March's 08:55.
    assert next_reminder(weekly, reminders, "UTC", _utc(2026, 3, 8, 8, 56)) == _utc(2026, 3, 8, 9)


def test_no_reminder_without_a_matching_setting_or_while_paused():
    assert (
        next_reminder(_daily("08:00"), Reminders(untimed_at="09:00"), "UTC", _utc(2026, 3, 1))
        is None
    )
    assert next_reminder(_daily(), Reminders(minutes_before=[10]), "UTC", _utc(2026, 3, 1)) is None
    paused = [(_utc(2026, 3, 1), None)]
    assert (
        next_reminder(
            _daily("08:00"), Reminders(minutes_before=[10]), "UTC", _utc(2026, 3, 1), paused=paused
        )
        is None
    )


def test_naive_after_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_occurrence(_daily("08:00"), "UTC", datetime(2026, 3, 1))
