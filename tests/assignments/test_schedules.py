"""Schedule and reminder validation: what a therapist may send, and the 422 errors for the rest."""

import asyncio
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from app.assignments.schedules import Reminders, Schedule, ScheduleRead


def _only_error(**fields: object) -> dict:
    with pytest.raises(ValidationError) as caught:
        Schedule.model_validate({"start_date": "2026-03-02", **fields})
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


def test_start_date_alone_is_one_untimed_day_in_the_clients_zone():
    schedule = Schedule.model_validate({"start_date": "2026-03-02"})
    assert schedule.start_date == date(2026, 3, 2)
    assert (schedule.rrule, schedule.count, schedule.end_date) == (None, None, None)
    assert schedule.times == []
    assert schedule.timezone is None


def test_times_are_sorted_on_output():
    schedule = Schedule.model_validate({"start_date": "2026-03-02", "times": ["20:00", "08:00"]})
    assert schedule.times == ["08:00", "20:00"]


def test_rrule_is_stored_in_canonical_form():
    schedule = Schedule.model_validate(
        {"start_date": "2026-03-02", "rrule": "RRULE:freq=weekly;byday=mo,we,fr;interval=1;"}
    )
    assert schedule.rrule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"


def test_until_date_time_is_stored_as_the_date_written():
    schedule = Schedule.model_validate(
        {"start_date": "2026-03-02", "rrule": "FREQ=DAILY;UNTIL=20260331T235959Z"}
    )
    assert schedule.rrule == "FREQ=DAILY;UNTIL=20260331"


def test_monthly_rule_accepts_ordinal_weekdays_and_month_days():
    schedule = Schedule.model_validate(
        {"start_date": "2026-03-02", "rrule": "FREQ=MONTHLY;BYDAY=+1MO,-1FR;BYMONTHDAY=-1,15"}
    )
    assert schedule.rrule == "FREQ=MONTHLY;BYDAY=1MO,-1FR;BYMONTHDAY=-1,15"


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("FREQ=DAILY;BYHOUR=8", "BYHOUR is not supported"),
        ("FREQ=HOURLY", "FREQ=HOURLY is not supported; use DAILY, WEEKLY or MONTHLY"),
        ("FREQ=YEARLY", "FREQ=YEARLY is not supported; use DAILY, WEEKLY or MONTHLY"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1", "BYSETPOS is not supported"),
        ("FREQ=DAILY;BYMINUTE=30", "BYMINUTE is not supported"),
        ("FREQ=WEEKLY;WKST=SU", "WKST is not supported"),
        ("FREQ=DAILY;DTSTART=20260302", "DTSTART is not supported"),
        ("DTSTART:20260302T080000\nRRULE:FREQ=DAILY", "DTSTART is not supported"),
        ("RRULE:FREQ=DAILY\nRDATE:20260310", "RDATE is not supported"),
        (
            "FREQ=WEEKLY;BYDAY=1MO",
            "BYDAY ordinals such as 1MO are supported only with FREQ=MONTHLY",
        ),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY is not supported with FREQ=WEEKLY"),
    ],
)
def test_rule_parts_outside_the_subset_are_named(rrule, message):
    error = _only_error(rrule=rrule)
    assert error["loc"] == ("rrule",)
    assert error["type"] == "rrule_unsupported"
    assert error["msg"] == message


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("", "rrule is empty"),
        ("BYDAY=MO", "FREQ is required"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears more than once"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 365"),
        ("FREQ=DAILY;INTERVAL=366", "INTERVAL must be a whole number from 1 to 365"),
        ("FREQ=DAILY;COUNT=1001", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY values must be 1..31 or -31..-1"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY values must be 1..31 or -31..-1"),
        ("FREQ=MONTHLY;BYDAY=6MO", "BYDAY ordinals must be 1..5 or -5..-1"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY value 'XX' is not a weekday MO..SU"),
        ("FREQ=MONTHLY;BYDAY=+MO", "BYDAY value '+MO' is not a weekday MO..SU"),
        (
            "FREQ=DAILY;UNTIL=2026-03-31",
            "UNTIL must be a date like 20261231 or a date-time like 20261231T235959Z",
        ),
        ("FREQ=DAILY;COUNT=3;UNTIL=20260331", "COUNT and UNTIL cannot both be set"),
    ],
)
def test_malformed_rules_are_rejected_with_the_reason(rrule, message):
    error = _only_error(rrule=rrule)
    assert error["loc"] == ("rrule",)
    assert error["msg"] == message


def test_rule_that_never_matches_is_rejected():
    # Every 7th day from a Monday is always a Monday, never a Tuesday.
    error = _only_error(rrule="FREQ=DAILY;INTERVAL=7;BYDAY=TU")
    assert error["loc"] == ("rrule",)
    assert error["msg"] == "rrule yields no date within five years of start_date"


def test_rule_with_no_date_before_end_date_is_rejected():
    error = _only_error(rrule="FREQ=WEEKLY;BYDAY=SU", end_date="2026-03-07")
    assert error["msg"] == "rrule yields no date by end_date"


def test_rule_with_no_date_before_until_is_rejected():
    error = _only_error(rrule="FREQ=WEEKLY;BYDAY=SU;UNTIL=20260307")
    assert error["msg"] == "rrule yields no date by UNTIL"


def test_until_before_start_date_is_rejected():
    error = _only_error(rrule="FREQ=DAILY;UNTIL=20260301")
    assert (error["loc"], error["type"]) == (("rrule",), "date_order")


def test_end_date_before_start_date_is_rejected():
    error = _only_error(end_date="2026-03-01")
    assert error["loc"] == ("end_date",)
    assert error["msg"] == "end_date must be on or after start_date"


def test_count_above_1000_is_rejected():
    error = _only_error(count=1001, rrule="FREQ=DAILY")
    assert error["loc"] == ("count",)
    assert error["type"] == "less_than_equal"
    assert "1000" in error["msg"]


def test_count_must_be_a_real_integer_not_a_boolean():
    error = _only_error(count=True, rrule="FREQ=DAILY")
    assert (error["loc"], error["type"]) == (("count",), "int_type")


def test_count_and_end_date_together_are_rejected():
    error = _only_error(count=3, end_date="2026-03-09", rrule="FREQ=DAILY")
    assert error["loc"] == ("count",)
    assert error["msg"] == "count and end_date cannot both be set; choose one"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"count": 3, "rrule": "FREQ=DAILY;COUNT=3"}, "COUNT conflicts with count; set one bound"),
        (
            {"count": 3, "rrule": "FREQ=DAILY;UNTIL=20260331"},
            "UNTIL conflicts with count; set one bound",
        ),
        (
            {"end_date": "2026-03-31", "rrule": "FREQ=DAILY;COUNT=3"},
            "COUNT conflicts with end_date; set one bound",
        ),
        (
            {"end_date": "2026-03-31", "rrule": "FREQ=DAILY;UNTIL=20260331"},
            "UNTIL conflicts with end_date; set one bound",
        ),
    ],
)
def test_a_schedule_has_at_most_one_bound(fields, message):
    error = _only_error(**fields)
    assert (error["loc"], error["type"], error["msg"]) == (("rrule",), "schedule_conflict", message)


def test_count_above_one_without_a_rule_is_rejected():
    error = _only_error(count=3)
    assert error["loc"] == ("rrule",)
    assert error["msg"] == "count above 1 needs an rrule to repeat"


@pytest.mark.parametrize("bad", ["25:00", "8:00", "08:60", "0800", "08:00:00", " 08:00", "24:00"])
def test_times_must_be_two_digit_24_hour_hh_mm(bad):
    error = _only_error(times=["09:00", bad])
    assert error["loc"] == ("times", 1)
    assert error["type"] == "time_format"
    assert error["msg"] == "time must be HH:MM on a 24-hour clock, like 08:00 or 21:30"


def test_repeated_times_are_rejected():
    error = _only_error(times=["08:00", "08:00"])
    assert (error["loc"], error["type"]) == (("times",), "duplicate")


def test_more_than_24_times_are_rejected():
    error = _only_error(times=[f"{h:02d}:30" for h in range(24)] + ["00:15"])
    assert (error["loc"], error["type"]) == (("times",), "too_long")


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Base", "'Mars/Base' is not an IANA time zone"),
        ("localtime", "'localtime' is not an IANA time zone"),
        ("America", "'America' is not an IANA time zone"),
        ("../etc", "timezone must be an IANA name such as Europe/Berlin, not a file path"),
        ("/etc/passwd", "timezone must be an IANA name such as Europe/Berlin, not a file path"),
        ("Europe//Berlin", "timezone must be an IANA name such as Europe/Berlin, not a file path"),
        ("", "timezone must not be empty"),
    ],
)
def test_timezone_must_be_a_real_iana_zone(zone, message):
    error = _only_error(timezone=zone)
    assert (error["loc"], error["type"], error["msg"]) == (
        ("timezone",),
        "timezone_invalid",
        message,
    )


def test_unknown_fields_are_rejected():
    error = _only_error(repeat="daily")
    assert (error["loc"], error["type"]) == (("repeat",), "extra_forbidden")


def test_missing_timezone_resolves_to_the_clients_zone():
    schedule = Schedule.model_validate({"start_date": "2026-03-02"})
    assert schedule.effective_timezone("Asia/Tokyo") == "Asia/Tokyo"
    read = schedule.resolved("Asia/Tokyo")
    assert isinstance(read, ScheduleRead)
    assert read.timezone == "Asia/Tokyo"


def test_own_timezone_wins_over_the_clients_zone():
    schedule = Schedule.model_validate({"start_date": "2026-03-02", "timezone": "Europe/Berlin"})
    assert schedule.effective_timezone("Asia/Tokyo") == "Europe/Berlin"


def test_resolving_with_an_invalid_client_zone_raises():
    schedule = Schedule.model_validate({"start_date": "2026-03-02"})
    with pytest.raises(ValueError, match="not an IANA time zone"):
        schedule.effective_timezone("Mars/Base")


class _AssignmentBody(BaseModel):
    schedule: Schedule


def test_fastapi_reports_the_rule_error_at_body_schedule_rrule():
    app = FastAPI()

    @app.post("/assignments")
    def create(body: _AssignmentBody) -> dict[str, str]:
        return {"rrule": body.schedule.rrule or ""}

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"schedule": {"start_date": "2026-03-02", "rrule": "FREQ=DAILY;BYHOUR=8"}}
            return await http.post("/assignments", json=body)

    response = asyncio.run(post())
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "schedule", "rrule"]
    assert error["msg"] == "BYHOUR is not supported"


def test_reminders_are_sorted_and_keep_the_untimed_time():
    reminders = Reminders.model_validate({"minutes_before": [60, 0, 10080], "untimed_at": "09:00"})
    assert reminders.minutes_before == [0, 60, 10080]
    assert reminders.untimed_at == "09:00"


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"minutes_before": [10081]}, ("minutes_before", 0), "less_than_equal"),
        ({"minutes_before": [-1]}, ("minutes_before", 0), "greater_than_equal"),
        ({"minutes_before": [15, 15]}, ("minutes_before",), "duplicate"),
        ({"minutes_before": list(range(11))}, ("minutes_before",), "too_long"),
        ({"minutes_before": ["15"]}, ("minutes_before", 0), "int_type"),
        ({"untimed_at": "9:00"}, ("untimed_at",), "time_format"),
        ({"every": 5}, ("every",), "extra_forbidden"),
    ],
)
def test_reminders_reject_out_of_range_values(fields, loc, kind):
    with pytest.raises(ValidationError) as caught:
        Reminders.model_validate(fields)
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == (loc, kind)
