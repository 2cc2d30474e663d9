"""A client with four weeks of history in March 2026 (New York): a daily thought record with
moods, discomfort and minutes, skipped and missed days, a weekly PHQ-9 falling from 17
(moderately severe, item 9 answered) to 11 (moderate), one entry to discuss and a goal."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.auth.models import User
from app.completions.models import Completion
from app.core.passwords import hash_secret
from tests.factories import make_assignment, make_goal

NY = ZoneInfo("America/New_York")
FROM, TO = date(2026, 3, 2), date(2026, 3, 29)
WINDOW = {"from": FROM.isoformat(), "to": TO.isoformat()}
# day of March: (mood before, mood after, discomfort, minutes)
DONE = {
    2: (3, 5, 70, 10),
    3: (4, 6, 65, 15),
    5: (2, 4, 60, 10),
    9: (4, 5, 55, 20),
    10: (5, 7, 50, 10),
    12: (4, 6, 45, 10),
    16: (5, 7, 40, 15),
    19: (6, 7, 35, 20),
    23: (6, 8, 30, 10),
    26: (7, 8, 25, 10),
}
SKIPPED = {4: "no_time", 11: "too_uncomfortable", 17: "forgot"}
PHQ9 = {
    8: (17, "moderately_severe", ["self_harm"]),
    15: (15, "moderately_severe", []),
    22: (12, "moderate", []),
    29: (11, "moderate", []),
}


@dataclass
class History:
    client: User
    daily: object
    phq: object


def _completion(assignment, day: int, status: str = "done", **fields) -> Completion:
    return Completion(
        clinic_id=assignment.clinic_id,
        client_id=assignment.client_id,
        assignment_id=assignment.id,
        template_id=assignment.template_id,
        template_version_id=assignment.template_version_id,
        template_version=assignment.template_version,
        template_kind=assignment.template_kind,
        occurrence_date=date(2026, 3, day),
        occurrence_time=None,
        status=status,
        completed_at=datetime(2026, 3, day, 19, tzinfo=NY).astimezone(UTC),
        responses={},
        request_hash=hash_secret(str(uuid.uuid4())),
        **fields,
    )


@pytest.fixture
async def history(db, world) -> History:
    client = world.client
    await db.execute(update(User).where(User.id == client.id).values(timezone="America/New_York"))
    daily = await make_assignment(
        db,
        world.therapist,
        client,
        schedule={"start_date": "2026-03-02", "end_date": "2026-03-29", "rrule": "FREQ=DAILY"},
    )
    phq = await make_assignment(
        db,
        world.therapist,
        client,
        slug="phq-9",
        schedule={
            "start_date": "2026-03-02",
            "end_date": "2026-03-29",
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
        },
    )
    for assignment in (daily, phq):
        assignment.first_date = FROM  # created "today", scheduled from March
    for day, (before, after, discomfort, minutes) in DONE.items():
        db.add(
            _completion(
                daily,
                day,
                mood_before=before,
                mood_after=after,
                discomfort=discomfort,
                duration_minutes=minutes,
                wants_to_discuss=day == 12,
                note="The meeting thought came back." if day == 12 else None,
            )
        )
    for day, reason in SKIPPED.items():
        db.add(_completion(daily, day, "skipped", skip_reason=reason))
    for day, (total, band, flags) in PHQ9.items():
        label = band.replace("_", " ").capitalize()
        score = {
            "total": total,
            "band": band,
            "band_label": label,
            "risk": bool(flags),
            "risk_flags": flags,
            "missing_items": [],
            "complete": True,
        }
        db.add(
            _completion(phq, day, score=score, score_total=total, score_band=band, risk=bool(flags))
        )
    await make_goal(db, world.therapist, client, steps=["Name the thought", "Rate it", "Reframe"])
    await db.commit()
    client = await db.get(User, client.id, populate_existing=True)
    return History(client=client, daily=daily, phq=phq)
