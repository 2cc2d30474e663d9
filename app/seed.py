"""The demo world: two clinics with staff and clients, created idempotently for trying the API."""

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.schemas import AssignmentCreate
from app.assignments.service import create_assignment
from app.auth.models import ApiClient, Role, User
from app.auth.passwords import check_password_policy
from app.auth.principal import ALL_SCOPES, ROLE_SCOPES, Principal
from app.auth.service import create_user, find_user_by_email
from app.clinics.models import Clinic
from app.clinics.service import create_clinic, ensure_on_care_team, find_clinic_by_name
from app.completions.schemas import CompletionCreate
from app.completions.service import record_completion
from app.core.passwords import hash_password, hash_secret
from app.core.time import local_day, utcnow
from app.goals.schemas import GoalCreate
from app.goals.service import create_goal
from app.programs.service import sync_builtins as sync_builtin_programs
from app.templates.library import get_builtin
from app.templates.service import builtin_template_id, sync_builtins

DEFAULT_PASSWORD = "demo-password-1"
# A published demo secret: fine for a demo world, which refuses to exist in production.
DEMO_API_CLIENT_SECRET = "demo-ehr-client-secret-1"


@dataclass
class DemoWorld:
    clinics: dict[str, Clinic] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    created: int = 0
    notes: list[str] = field(default_factory=list)
    api_client: ApiClient | None = None


# (clinic name, its zone, [(email, name, role, zone or None for the clinic's)])
_CLINICS: list[tuple[str, str, list[tuple[str, str, Role, str | None]]]] = [
    (
        "Demo Clinic",
        "Europe/Berlin",
        [
            ("admin@demo.clinic", "Dana Admin", Role.admin, None),
            ("therapist@demo.clinic", "Dr. Theo Rapist", Role.therapist, None),
            ("therapist2@demo.clinic", "Dr. Tess Second", Role.therapist, None),
            ("client1@demo.clinic", "Casey Client", Role.client, "America/New_York"),
            ("client2@demo.clinic", "Chris Client", Role.client, "Europe/Berlin"),
        ],
    ),
    (
        "Other Clinic",
        "America/Chicago",
        [
            ("admin@other.clinic", "Olive Admin", Role.admin, None),
            ("therapist@other.clinic", "Dr. Otto Therapist", Role.therapist, None),
            ("client@other.clinic", "Cory Other", Role.client, None),
        ],
    ),
]
_CARE_TEAMS = [
    ("therapist@demo.clinic", "client1@demo.clinic"),
    ("therapist2@demo.clinic", "client2@demo.clinic"),
    ("therapist@other.clinic", "client@other.clinic"),
]


async def seed_people(
    session: AsyncSession, password: str, password_hash: str, world: DemoWorld
) -> None:
    """The demo staff and clients, each a member of one clinic; all share the demo password
    (hashed once, by the caller, before the transaction began)."""
    for clinic_name, clinic_tz, people in _CLINICS:
        clinic = await find_clinic_by_name(session, clinic_name)
        if clinic is None:
            clinic = await create_clinic(session, name=clinic_name, timezone=clinic_tz)
            world.created += 1
        world.clinics[clinic_name] = clinic
        for email, name, role, tz in people:
            user = await find_user_by_email(session, clinic.id, email)
            if user is None:
                check_password_policy(password, email)
                user = await create_user(
                    session,
                    clinic_id=clinic.id,
                    role=role,
                    email=email,
                    display_name=name,
                    timezone=tz or clinic.timezone,
                    password_hash=password_hash,
                )
                world.created += 1
            world.users[email] = user
    for therapist, client in _CARE_TEAMS:
        await ensure_on_care_team(
            session, therapist=world.users[therapist], client=world.users[client]
        )


async def seed_api_client(session: AsyncSession, world: DemoWorld) -> None:
    clinic = world.clinics["Demo Clinic"]
    api_client = (
        await session.execute(
            select(ApiClient).where(ApiClient.clinic_id == clinic.id, ApiClient.name == "Demo EHR")
        )
    ).scalar_one_or_none()
    if api_client is None:
        api_client = ApiClient(
            clinic_id=clinic.id,
            name="Demo EHR",
            scopes=sorted(ALL_SCOPES),
            secret_hash=hash_secret(DEMO_API_CLIENT_SECRET),
        )
        session.add(api_client)
        await session.flush()
        world.created += 1
    world.api_client = api_client
    world.notes.append(
        f"API client 'Demo EHR' (Demo Clinic): client_id={api_client.id} "
        f"client_secret={DEMO_API_CLIENT_SECRET}"
    )


# (template slug, schedule rule, reminders, instructions)
_DEMO_HOMEWORK: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "thought-record",
        {"rrule": "FREQ=DAILY"},
        {"untimed_at": "19:00"},
        "Pick one moment today when your mood dropped and walk it through the record.",
    ),
    (
        "breathing-exercise",
        {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "times": ["08:00"]},
        {"minutes_before": [10]},
        "Box breathing before you start work: four rounds is enough.",
    ),
    (
        "phq-9",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU"},
        {"untimed_at": "10:00"},
        "A short weekly check-in so we can see how things are moving.",
    ),
]


async def seed_homework(session: AsyncSession, world: DemoWorld) -> None:
    """A few assignments for each demo client that has none, started two weeks ago."""
    for client_email, therapist_email in (
        ("client1@demo.clinic", "therapist@demo.clinic"),
        ("client2@demo.clinic", "therapist2@demo.clinic"),
        ("client@other.clinic", "therapist@other.clinic"),
    ):
        client, therapist = world.users[client_email], world.users[therapist_email]
        if await session.scalar(
            select(Assignment.id).where(Assignment.client_id == client.id).limit(1)
        ):
            continue
        start = local_day(utcnow(), client.timezone) - timedelta(days=14)
        principal = Principal(
            therapist.id, therapist.clinic_id, Role.therapist, ROLE_SCOPES[Role.therapist]
        )
        goal = await create_goal(
            session,
            principal,
            GoalCreate(
                client_id=client.id,
                title="Start the workday calmer",
                why="Mornings set the tone; I want to stop dreading them.",
                steps=[
                    "Notice the first worried thought of the day",
                    "Breathe before opening email",
                    "Write down one thing that went fine",
                ],
            ),
        )
        for slug, rule, reminders, instructions in _DEMO_HOMEWORK:
            body = AssignmentCreate.model_validate(
                {
                    "client_id": str(client.id),
                    "template_id": str(builtin_template_id(slug)),
                    "instructions": instructions,
                    "reminders": reminders,
                    "schedule": {"start_date": start.isoformat(), **rule},
                }
            )
            created = await create_assignment(session, principal, body)
            assignment = await session.get(Assignment, created.id)
            assert assignment is not None
            if slug in ("breathing-exercise", "thought-record"):
                assignment.goal_id = goal.id
            world.created += 1
            world.created += await seed_history(session, client, assignment)


# A PHQ-9 series that improves week by week (totals 15, 11, 8): answers per item.
_PHQ9_WEEKS = [
    [2, 2, 2, 2, 2, 2, 1, 1, 1],
    [2, 1, 2, 1, 2, 1, 1, 1, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 0],
]
_SKIP_REASONS = ["no_time", "low_motivation", "forgot", "too_uncomfortable"]


async def seed_history(session: AsyncSession, client: User, assignment: Assignment) -> int:
    """Two weeks of what a real client does: mostly done, some skips with reasons, a few
    questions for the next session, and a PHQ-9 that improves."""
    rng = random.Random(f"{client.email}:{assignment.template_kind}")  # noqa: S311 (demo data)
    now = utcnow()
    timeline = (await load_timelines(session, [assignment]))[assignment.id]
    occurrences = [
        o
        for o in timeline.occurrences((now - timedelta(days=15)).date(), now.date())
        if o.due_at < now - timedelta(hours=1)
    ]
    example = get_builtin(
        next(
            slug
            for slug, *_ in _DEMO_HOMEWORK
            if builtin_template_id(slug) == assignment.template_id
        )
    ).realistic_example
    client_principal = Principal(client.id, client.clinic_id, Role.client, ROLE_SCOPES[Role.client])
    created = 0
    for week, occ in enumerate(occurrences):
        done_at = min(occ.starts_at + timedelta(hours=rng.randint(9, 20)), occ.due_at, now)
        if occ.local_time is not None:
            done_at = min(occ.due_at + timedelta(minutes=rng.randint(2, 40)), now)
        fields: dict[str, object]
        if assignment.template_kind == "measure":
            items = _PHQ9_WEEKS[min(week, len(_PHQ9_WEEKS) - 1)]
            fields = {
                "status": "done",
                "responses": {f"item_{n}": v for n, v in enumerate(items, start=1)},
            }
        elif rng.random() < 0.2:
            fields = {"status": "skipped", "skip_reason": rng.choice(_SKIP_REASONS)}
        else:
            before = rng.randint(2, 5)
            fields = {
                "status": "done",
                "responses": example,
                "mood_before": before,
                "mood_after": min(10, before + rng.randint(0, 3)),
                "discomfort": rng.randint(20, 70),
                "duration_minutes": rng.randint(5, 20),
                "wants_to_discuss": rng.random() < 0.15,
            }
        body = CompletionCreate.model_validate(
            {
                "completed_at": done_at.isoformat(),
                "occurrence_date": occ.local_date.isoformat(),
                "occurrence_time": occ.time_text,
                **fields,
            }
        )
        await record_completion(session, client_principal, assignment.id, body)
        created += 1
    return created


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession], password: str = DEFAULT_PASSWORD
) -> DemoWorld:
    world = DemoWorld()
    password_hash = await hash_password(password)
    async with sessionmaker() as session, session.begin():
        await sync_builtins(session)
        await sync_builtin_programs(session)
        await seed_people(session, password, password_hash, world)
        await seed_api_client(session, world)
        await seed_homework(session, world)
    return world
