"""Builders for the test world: clinics, people, care teams, API clients and their tokens."""

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiClient, Role, User, UserStatus
from app.auth.principal import ALL_SCOPES, ROLE_SCOPES, Principal
from app.auth.tokens import api_client_access_token, user_access_token
from app.clinics.models import CareTeamMember, Clinic
from app.core.outbox import Event
from app.core.passwords import hash_password, hash_secret

PASSWORD = "correct-horse-battery-staple"
API_SECRET = "test-api-client-secret-0123456789"
_password_hash: str | None = None


async def password_hash() -> str:
    """Hashing costs ~50 ms on purpose; the world reuses one hash so building it stays cheap."""
    global _password_hash
    if _password_hash is None:
        _password_hash = await hash_password(PASSWORD)
    return _password_hash


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def make_clinic(db: AsyncSession, name: str = "Clinic", timezone: str = "UTC") -> Clinic:
    clinic = Clinic(name=name, timezone=timezone)
    db.add(clinic)
    await db.flush()
    return clinic


async def make_user(
    db: AsyncSession,
    clinic: Clinic,
    role: Role,
    *,
    email: str | None = None,
    timezone: str | None = None,
    status: UserStatus = UserStatus.active,
    name: str | None = None,
) -> User:
    email = email or unique_email(role.value)
    user = User(
        clinic_id=clinic.id,
        role=role,
        email=email,
        email_normalized=email.lower(),
        display_name=name or f"{role.value.title()} {email[:12]}",
        timezone=timezone or clinic.timezone,
        status=status,
        password_hash=await password_hash() if status != UserStatus.invited else None,
    )
    db.add(user)
    await db.flush()
    return user


async def make_api_client(db: AsyncSession, clinic: Clinic, scopes: list[str]) -> ApiClient:
    api_client = ApiClient(
        clinic_id=clinic.id,
        name="Integration",
        scopes=sorted(scopes),
        secret_hash=hash_secret(API_SECRET),
    )
    db.add(api_client)
    await db.flush()
    return api_client


async def put_on_care_team(db: AsyncSession, therapist: User, client: User) -> None:
    db.add(
        CareTeamMember(client_id=client.id, therapist_id=therapist.id, clinic_id=client.clinic_id)
    )
    await db.flush()


@dataclass
class World:
    """Clinic A with staff, two clients on different care teams and two API clients; clinic B
    with one of each role. `tokens` holds a valid access token per principal name."""

    clinic: Clinic
    other_clinic: Clinic
    users: dict[str, User] = field(default_factory=dict)
    api_clients: dict[str, ApiClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Clinic A's own template and one assignment (a daily thought record) for `client`.
    template: Any = None
    assignment: Any = None

    def __getattr__(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise AttributeError(name) from None

    # Set by build_world: the app's token codec and settings, to mint narrowed tokens.
    codec: Any = None
    settings: Any = None

    def auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    def scopes_of(self, principal: str) -> frozenset[str]:
        if principal in self.api_clients:
            return frozenset(self.api_clients[principal].scopes)
        return frozenset(ROLE_SCOPES[self.users[principal].role])

    def auth_with(self, principal: str, scopes: frozenset[str]) -> dict[str, str]:
        """Headers with a token of `principal` that carries only `scopes` (a narrowed login or
        client-credentials grant)."""
        if principal in self.api_clients:
            token = api_client_access_token(
                self.codec, self.settings, self.api_clients[principal], scopes
            )
        else:
            token = user_access_token(self.codec, self.settings, self.users[principal], scopes)
        return {"Authorization": f"Bearer {token}"}


async def build_world(db: AsyncSession, app: object) -> World:
    clinic = await make_clinic(db, "Clinic A", "Europe/Berlin")
    other = await make_clinic(db, "Clinic B", "America/Chicago")
    world = World(clinic=clinic, other_clinic=other)
    people = {
        "admin": (clinic, Role.admin, None),
        "therapist": (clinic, Role.therapist, None),
        "therapist_other": (clinic, Role.therapist, None),
        "client": (clinic, Role.client, "America/New_York"),
        "client_other": (clinic, Role.client, "Asia/Tokyo"),
        "other_admin": (other, Role.admin, None),
        "other_therapist": (other, Role.therapist, None),
        "other_client": (other, Role.client, None),
    }
    for name, (home, role, tz) in people.items():
        world.users[name] = await make_user(db, home, role, timezone=tz)
    await put_on_care_team(db, world.therapist, world.client)
    await put_on_care_team(db, world.therapist_other, world.client_other)
    await put_on_care_team(db, world.other_therapist, world.other_client)
    world.api_clients["api_full"] = await make_api_client(db, clinic, sorted(ALL_SCOPES))
    world.api_clients["api_none"] = await make_api_client(db, clinic, ["audit:read"])
    await db.commit()
    codec, settings = app.state.jwt, app.state.settings  # type: ignore[attr-defined]
    world.codec, world.settings = codec, settings
    for name, user in world.users.items():
        world.tokens[name] = user_access_token(codec, settings, user, ROLE_SCOPES[user.role])
    for name, api_client in world.api_clients.items():
        world.tokens[name] = api_client_access_token(
            codec, settings, api_client, frozenset(api_client.scopes)
        )
    world.template = await make_template(db, world.clinic, world.therapist)
    world.assignment = await make_assignment(db, world.therapist, world.client)
    await db.commit()
    # The world is where tests start, not news: its change feed starts empty.
    await db.execute(delete(Event))
    await db.commit()
    world.tokens["expired"] = codec.encode(
        {
            "sub": str(world.admin.id),
            "kind": "user",
            "clinic": str(clinic.id),
            "role": "admin",
            "scope": " ".join(sorted(ALL_SCOPES)),
        },
        typ="access",
        ttl_seconds=-120,
    )
    return world


async def set_user_status(db: AsyncSession, user_id: uuid.UUID, status: str) -> None:
    """Change a status behind the API's back (the app may have bumped the row's version)."""

    await db.execute(update(User).where(User.id == user_id).values(status=status))
    await db.commit()


def _local_today(user: User) -> date:
    from zoneinfo import ZoneInfo

    from app.core.time import utcnow

    return utcnow().astimezone(ZoneInfo(user.timezone)).date()


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.clinic_id, Role(user.role), ROLE_SCOPES[Role(user.role)])


async def make_template(db: AsyncSession, clinic: Clinic, author: User, slug: str | None = None):
    from app.templates.schemas import TemplateCreate
    from app.templates.service import create_template

    body = TemplateCreate.model_validate(
        {
            "slug": slug or f"sleep-diary-{uuid.uuid4().hex[:6]}",
            "kind": "behavioral",
            "title": "Sleep diary",
            "instructions": "Note when you went to bed and how rested you feel.",
            "estimated_minutes": 3,
            "fields": [
                {"key": "bedtime", "type": "time", "label": "Bedtime", "required": True},
                {
                    "key": "rested",
                    "type": "scale",
                    "label": "How rested",
                    "min": 0,
                    "max": 10,
                    "min_label": "Exhausted",
                    "max_label": "Fully rested",
                },
            ],
        }
    )
    return await create_template(db, principal_of(author), body)


async def make_assignment(
    db: AsyncSession,
    therapist: User,
    client: User,
    *,
    slug: str = "thought-record",
    schedule: dict[str, Any] | None = None,
    template_id: uuid.UUID | None = None,
    reminders: dict[str, Any] | None = None,
):
    from app.assignments.models import Assignment
    from app.assignments.schemas import AssignmentCreate
    from app.assignments.service import create_assignment
    from app.templates.service import builtin_template_id

    body = AssignmentCreate.model_validate(
        {
            "client_id": str(client.id),
            "template_id": str(template_id or builtin_template_id(slug)),
            # "Today" in the client's own zone: UTC's date is a day ahead of it some hours a day.
            "schedule": schedule
            or {"start_date": _local_today(client).isoformat(), "rrule": "FREQ=DAILY"},
            "reminders": reminders or {},
        }
    )
    read = await create_assignment(db, principal_of(therapist), body)
    return await db.get(Assignment, read.id)


async def make_completion(db: AsyncSession, client: User, assignment: Any, **fields: Any):
    """A completion recorded by the client through the service (defaults: a skip, now)."""
    from app.completions.schemas import CompletionCreate
    from app.completions.service import record_completion
    from app.core.time import utcnow

    defaults = {"completed_at": utcnow().isoformat(), "status": "skipped"}
    if fields.get("status", "skipped") == "skipped":
        defaults["skip_reason"] = "forgot"
    body = CompletionCreate.model_validate(defaults | fields)
    completion, _ = await record_completion(db, principal_of(client), assignment.id, body)
    await db.flush()
    return completion


async def make_goal(db: AsyncSession, author: User, client: User, steps: list[str] | None = None):
    from app.goals.models import Goal
    from app.goals.schemas import GoalCreate
    from app.goals.service import create_goal

    body = GoalCreate.model_validate(
        {
            "client_id": str(client.id),
            "title": "Sleep before midnight on weeknights",
            "why": "Mornings feel less heavy.",
            "steps": steps if steps is not None else ["Set an alarm"],
        }
    )
    read = await create_goal(db, principal_of(author), body)
    return await db.get(Goal, read.id)


async def make_webhook(
    db: AsyncSession,
    clinic: Clinic,
    url: str = "https://hooks.example.com/in",
    event_types: list[str] | None = None,
):
    from app.sync.models import Webhook

    webhook = Webhook(
        clinic_id=clinic.id,
        url=url,
        secret="whsec_test-secret",
        event_types=event_types or ["completion.created"],
    )
    db.add(webhook)
    await db.flush()
    return webhook
