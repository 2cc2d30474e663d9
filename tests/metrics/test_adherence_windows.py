"""Adherence counted slot by slot (simple timelines) equals adherence classified occurrence by
occurrence, on random schedules, schedule changes, pauses, ends, zones and DST changes."""

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.assignments.models import Assignment, AssignmentPause, AssignmentSchedule
from app.assignments.occurrences import load_timelines
from app.assignments.schedules import ScheduleRead
from app.assignments.service import BEGINNING, last_date_of
from app.auth.models import Role
from app.completions.adherence import AssignmentRef, Counts, adherence_windows, outcome, refs_of
from app.completions.models import Completion, CompletionStatus
from app.core.passwords import hash_secret
from app.metrics.caseload import caseload_rows
from tests.factories import make_assignment, make_user, put_on_care_team

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Asia/Kathmandu",  # +5:45
    "Pacific/Chatham",  # +12:45/+13:45, DST in April and September
    "Australia/Lord_Howe",  # a half-hour DST change
    "America/Santiago",
    "UTC",
]
RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY",
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=WEEKLY;BYDAY=SU",
    "FREQ=DAILY;INTERVAL=2",
    "FREQ=DAILY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA,SU",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
    "FREQ=MONTHLY;BYDAY=-1FR,2TU",
    "FREQ=DAILY;COUNT=12",
    None,
]
TIMES = [[], [], ["08:00"], ["08:00"], ["02:30"], ["00:00", "23:59"], ["01:30", "12:00", "20:00"]]
# Around the spring (US, EU) and autumn (US, EU, Chatham, Lord Howe, Santiago) changes.
SPRING = [datetime(2026, 3, d, h, tzinfo=UTC) for d, h in ((8, 7), (9, 12), (29, 1), (30, 23))]
AUTUMN = [datetime(2026, m, d, h, tzinfo=UTC) for m, d, h in ((10, 26, 0), (11, 1, 6), (11, 2, 11))]


def _schedule(rng: random.Random, around: date) -> ScheduleRead:
    while True:
        data: dict = {
            "start_date": (around + timedelta(days=rng.randint(-70, 3))).isoformat(),
            "times": rng.choice(TIMES),
            "timezone": rng.choice(ZONES),
        }
        rule = rng.choice(RULES)
        if rule:
            data["rrule"] = rule
        if rule and "COUNT" not in rule and rng.random() < 0.25:
            data["end_date"] = (around + timedelta(days=rng.randint(-20, 5))).isoformat()
        try:
            return ScheduleRead.model_validate(data)
        except ValueError:  # an end before the start, a rule without a date: draw again
            continue


def _instant(rng: random.Random, around: datetime, days: int) -> datetime:
    return around + timedelta(minutes=rng.randint(-days * 1440, 2 * 1440))


async def _history(db, world, rng: random.Random, nows: list[datetime], clients: int = 4):
    """Random assignments (one to three schedule segments, pauses, ends) for a few clients,
    and completions on their occurrences (some days answered twice, some answers on dates or
    times that are not occurrences at all)."""
    template = await make_assignment(db, world.therapist, world.client)
    people = [world.client]
    for n in range(clients - 1):
        person = await make_user(
            db, world.clinic, Role.client, name=f"Window {n}", timezone=ZONES[n]
        )
        await put_on_care_team(db, world.therapist, person)
        people.append(person)
    middle = nows[len(nows) // 2]
    refs = []
    for n in range(72):
        person = people[n % len(people)]
        segments = [_schedule(rng, middle.date()) for _ in range(rng.choice((1, 1, 1, 1, 1, 2, 3)))]
        changes = sorted(_instant(rng, middle, 45) for _ in segments[1:])
        bounds = [BEGINNING, *changes, None]
        lasts = [last_date_of(s) for s in segments]
        current = segments[-1]
        assignment = Assignment(
            clinic_id=template.clinic_id,
            client_id=person.id,
            template_id=template.template_id,
            template_version_id=template.template_version_id,
            template_version=template.template_version,
            template_kind=template.template_kind,
            title=f"Random {n}",
            estimated_minutes=5,
            schedule=current.model_dump(mode="json"),
            reminders={},
            first_date=min(s.start_date for s in segments),
            last_date=None if None in lasts else max(lasts),  # type: ignore[type-var]
            ended_at=_instant(rng, middle, 30) if rng.random() < 0.1 else None,
        )
        db.add(assignment)
        await db.flush()
        for schedule, start, end in zip(segments, bounds, bounds[1:], strict=False):
            db.add(
                AssignmentSchedule(
                    clinic_id=assignment.clinic_id,
                    assignment_id=assignment.id,
                    schedule=schedule.model_dump(mode="json"),
                    effective_from=start,
                    effective_to=end,
                )
            )
        if rng.random() < 0.25:
            for _ in range(rng.choice((1, 2))):
                paused = _instant(rng, middle, 80)
                resumed = paused + timedelta(hours=rng.randint(3, 24 * 12))
                db.add(
                    AssignmentPause(
                        clinic_id=assignment.clinic_id,
                        assignment_id=assignment.id,
                        paused_at=paused,
                        resumed_at=None if rng.random() < 0.2 else resumed,
                    )
                )
        refs.append(AssignmentRef(assignment.id, assignment.ended_at, current.timezone))
    await db.flush()
    timelines = await load_timelines(db, refs)
    first, last = (nows[0].date() - timedelta(days=40), nows[-1].date() + timedelta(days=2))
    for ref in refs:
        a = await db.get(Assignment, ref.id)
        taken: set[tuple[date, str | None]] = set()
        answer = partial(_answer, db, a)
        for occ in timelines[ref.id].occurrences(first, last):
            at = occ.local_time.strftime("%H:%M") if occ.local_time else None
            draw = rng.random()
            if (occ.local_date, at) in taken or draw < 0.35:
                continue
            taken.add((occ.local_date, at))
            answer(occ.local_date, at, "done" if draw < 0.8 else "skipped")
            if at is None and rng.random() < 0.2:  # untimed: several answers a day
                answer(occ.local_date, None, rng.choice(("done", "skipped")))
        times = (await db.get(Assignment, ref.id)).schedule["times"]
        for _ in range(rng.choice((0, 0, 0, 1, 3))):  # answers to no occurrence of the timeline
            day = first + timedelta(days=rng.randint(0, (last - first).days))
            at = rng.choice((None, "07:13", "08:00", "23:59", *times, *times))
            if at is None or (day, at) not in taken:
                taken.add((day, at))
                answer(day, at, rng.choice(("done", "skipped")))
    await db.commit()
    return people, refs


def _answer(db, a: Assignment, day: date, at: str | None, status: str) -> None:
    db.add(
        Completion(
            clinic_id=a.clinic_id,
            client_id=a.client_id,
            assignment_id=a.id,
            template_id=a.template_id,
            template_version_id=a.template_version_id,
            template_version=a.template_version,
            template_kind=a.template_kind,
            occurrence_date=day,
            occurrence_time=at,
            status=status,
            completed_at=datetime.combine(day, time(12), UTC),
            responses={},
            request_hash=hash_secret(str(uuid.uuid4())),
        )
    )


async def _exact(db, refs, now: datetime, days: int) -> dict[uuid.UUID, Counts]:
    """The definition: every occurrence of the window classified by the answers to its key."""
    timelines = await load_timelines(db, refs)
    found = {}
    for ref in refs:
        today = now.astimezone(ZoneInfo(ref.timezone)).date()
        start = today - timedelta(days=days - 1)
        answers: dict[tuple[date, str | None], CompletionStatus] = {}
        for day, at, status in await db.execute(
            select(Completion.occurrence_date, Completion.occurrence_time, Completion.status)
            .where(Completion.assignment_id == ref.id)
            .where(Completion.occurrence_date.between(start, today))
        ):
            if answers.get((day, at)) != CompletionStatus.done:
                answers[(day, at)] = CompletionStatus(status)
        counts = Counts()
        for occ in timelines[ref.id].occurrences(start, today):
            at = occ.local_time.strftime("%H:%M") if occ.local_time else None
            counts.add(outcome(occ, answers.get((occ.local_date, at)), today))
        found[ref.id] = counts
    return found


@pytest.mark.parametrize(
    ("season", "nows", "seed"), [("spring", SPRING, 7), ("autumn", AUTUMN, 11)]
)
async def test_slot_counts_equal_occurrence_by_occurrence(db, world, season, nows, seed):
    rng = random.Random(seed)
    people, refs = await _history(db, world, rng, nows)
    paths, totals = Counter(), Counts()
    for now in nows:
        windows = await adherence_windows(db, refs, now, (7, 30))
        timelines = await load_timelines(db, refs)
        for i, days in enumerate((7, 30)):
            exact = await _exact(db, refs, now, days)
            for ref in refs:
                assert windows[ref.id][i] == exact[ref.id], (season, now, days, ref)
                totals.merge(exact[ref.id])
        for ref in refs:
            today = now.astimezone(ZoneInfo(ref.timezone)).date()
            low = datetime.combine(today - timedelta(days=29), time(), UTC) - timedelta(days=2)
            high = datetime.combine(today, time(), UTC) + timedelta(days=3)
            simple = timelines[ref.id].simple_schedule(low, high)
            parts = simple.rule_parts() if simple else None
            summed = (
                parts is not None
                and parts.interval == 1
                and not (parts.count or simple.count)
                and parts.plain_weekdays(simple.start_date) is not None
            )
            paths["summed" if summed else "simple" if simple else "expanded"] += 1
        # The caseload keeps only the assignments that can have occurrences in the windows.
        rows = {r.client_id: r for r in await caseload_rows(db, people, now)}
        for person in people:
            mine = refs_of(
                (await db.execute(select(Assignment).where(Assignment.client_id == person.id)))
                .scalars()
                .all()
            )
            for days, field in ((7, "adherence_7d"), (30, "adherence_30d")):
                total = Counts()
                for counts in (await _exact(db, mine, now, days)).values():
                    total.merge(counts)
                assert getattr(rows[person.id], field) == total.rate, (now, person.id, days)
    # Both paths were taken many times, and every kind of outcome occurred.
    assert min(paths["summed"], paths["simple"], paths["expanded"]) >= 40, paths
    assert min(totals.completed, totals.skipped, totals.missed, totals.paused, totals.pending) > 0
