"""Every row of a clinic's data names its clinic, and rows that refer to each other name the same
one: what sharding by clinic needs (docs/scaling.md). Existing rows get theirs by migration."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import upgrade
from app.core.time import utcnow
from app.models import metadata
from app.templates.library import get_builtin
from app.templates.service import builtin_template_id
from tests.databases import ENGINES, fresh_database, worker_id
from tests.factories import PASSWORD

TENANT = "clinic_id"
BEFORE = "2830d3ad0183"  # the revision before the clinic columns
# The tables that got their clinic column from their parent row, and their parent.
GAINED = {
    "refresh_token": "user",
    "invitation": "user",
    "assignment_schedule": "assignment",
    "assignment_pause": "assignment",
    "goal_step": "goal",
    "template_version": "template",
}


def sleep_diary() -> dict:
    return {
        "slug": f"sleep-diary-{uuid.uuid4().hex[:6]}",
        "kind": "behavioral",
        "title": "Sleep diary",
        "instructions": "Note when you went to bed.",
        "estimated_minutes": 3,
        "fields": [{"key": "bedtime", "type": "time", "label": "Bedtime", "required": True}],
    }


async def use_every_table(client, world, therapist: str, patient: str) -> None:
    """One clinic's day through the API: each write that adds a row to a table of clinic data."""
    staff, person = world.auth(therapist), world.auth(patient)
    user = world.users[patient]

    async def ok(response):
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    await ok(
        await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": user.email, "password": PASSWORD},
        )
    )
    await ok(
        await client.post(
            "/v1/clients",
            headers=staff,
            json={"email": f"c-{uuid.uuid4().hex}@example.com", "display_name": "Sam"},
        )
    )
    template = await ok(await client.post("/v1/templates", headers=staff, json=sleep_diary()))
    await ok(
        await client.post(
            f"/v1/templates/{template['id']}/versions", headers=staff, json={"title": "Sleep log"}
        )
    )
    goal = await ok(
        await client.post(
            "/v1/goals",
            headers=staff,
            json={"client_id": str(user.id), "title": "Sleep earlier", "steps": ["Set an alarm"]},
        )
    )
    await ok(
        await client.post(f"/v1/goals/{goal['id']}/steps", headers=person, json={"title": "Read"})
    )
    today = utcnow().astimezone(ZoneInfo(user.timezone)).date()
    daily = {"start_date": today.isoformat(), "rrule": "FREQ=DAILY"}
    assignment = await ok(
        await client.post(
            "/v1/assignments",
            headers=staff,
            json={
                "client_id": str(user.id),
                "template_id": str(builtin_template_id("thought-record")),
                "goal_id": goal["id"],
                "schedule": daily,
            },
        )
    )
    url = f"/v1/assignments/{assignment['id']}"
    completion = await ok(
        await client.post(
            f"{url}/completions",
            headers={**person, "Idempotency-Key": str(uuid.uuid4())},
            json={
                "completed_at": utcnow().isoformat(),
                "status": "done",
                "responses": get_builtin("thought-record").realistic_example,
            },
        )
    )
    await ok(
        await client.post(
            f"/v1/completions/{completion['id']}/comments", headers=staff, json={"body": "Good."}
        )
    )
    evening = {**daily, "times": ["20:00"]}
    await ok(await client.patch(url, headers=staff, json={"schedule": evening}))
    await ok(await client.patch(url, headers=staff, json={"status": "paused"}))


async def test_rows_that_refer_to_each_other_belong_to_one_clinic(client, world, db):
    await use_every_table(client, world, "therapist", "client")
    await use_every_table(client, world, "other_therapist", "other_client")

    with_tenant = [t for t in metadata.sorted_tables if TENANT in t.c]
    for table in with_tenant:
        for fk in table.foreign_keys:
            if fk.column.table.name == "clinic" or TENANT not in fk.column.table.c:
                continue
            parent = fk.column.table.alias("parent")
            # Another clinic's row is a mismatch; a built-in template (no clinic) is not.
            crossing = (
                sa.select(sa.func.count())
                .select_from(table.join(parent, fk.parent == parent.c[fk.column.name]))
                .where(table.c[TENANT] != parent.c[TENANT])
            )
            assert await db.scalar(crossing) == 0, f"{table.name}.{fk.parent.name}"

    clinics = {world.clinic.id, world.other_clinic.id}
    for name in GAINED:
        table = metadata.tables[name]
        seen = set((await db.execute(sa.select(table.c[TENANT]).distinct())).scalars())
        assert clinics <= seen, f"{name} has no row of each clinic"
    keys = metadata.tables["idempotency_key"]
    owners = (await db.execute(sa.select(keys.c.principal, keys.c[TENANT]))).all()
    assert sorted(owners) == sorted(
        [
            (f"user:{world.client.id}", world.clinic.id),
            (f"user:{world.other_client.id}", world.other_clinic.id),
        ]
    )


def _table(name: str, row: dict) -> sa.TableClause:
    """Only the columns given, typed as the models type them (the revision has fewer)."""
    model = metadata.tables[name]
    return sa.table(name, *(sa.column(key, model.c[key].type) for key in row))


def _old_world(now: datetime) -> tuple[dict[str, list[dict]], dict[uuid.UUID, uuid.UUID]]:
    """Two clinics' rows as the revision before the clinic columns held them, and the clinic
    each child row must get."""
    rows: dict[str, list[dict]] = {}
    expected: dict[uuid.UUID, uuid.UUID | None] = {}
    stamp = {"created_at": now, "updated_at": now, "version": 1}

    def add(table: str, expect: uuid.UUID | None = None, **values) -> uuid.UUID:
        """A row of `table`; `expect` is the clinic the migration must give it."""
        values.setdefault("id", uuid.uuid4())
        rows.setdefault(table, []).append(values)
        if table in GAINED or table == "idempotency_key":
            expected[values["id"]] = expect
        return values["id"]

    builtin = add(
        "template",
        id=builtin_template_id("thought-record"),
        owner="builtin",
        slug="thought-record",
        source="builtin",
        status="active",
        kind="cbt_worksheet",
        title="Thought record",
        version=99,
        created_at=now,
        updated_at=now,
    )
    version_of_builtin = add(
        "template_version",
        None,
        template_id=builtin,
        number=99,
        definition={},
        created_at=now,
    )
    for n in range(2):
        clinic = add("clinic", name=f"Clinic {n}", timezone="UTC", **stamp)
        user = add(
            "user",
            clinic_id=clinic,
            role="client",
            email=f"c{n}@example.com",
            email_normalized=f"c{n}@example.com",
            display_name="C",
            timezone="UTC",
            status="active",
            **stamp,
        )
        api_client = add(
            "api_client", clinic_id=clinic, name="EHR", scopes=[], secret_hash="x", **stamp
        )
        template = add(
            "template",
            owner=str(clinic),
            clinic_id=clinic,
            slug="diary",
            source="clinic",
            status="active",
            kind="journal",
            title="Diary",
            version=1,
            created_at=now,
            updated_at=now,
        )
        version = add(
            "template_version",
            clinic,
            template_id=template,
            number=1,
            definition={},
            created_at=now,
        )
        assignment = add(
            "assignment",
            clinic_id=clinic,
            client_id=user,
            template_id=template,
            template_version_id=version,
            template_version=1,
            template_kind="journal",
            title="Diary",
            instructions="",
            estimated_minutes=5,
            schedule={},
            reminders={},
            status="paused",
            first_date=date(2026, 1, 1),
            **stamp,
        )
        add(
            "assignment_schedule", clinic, assignment_id=assignment, schedule={}, effective_from=now
        )
        add("assignment_pause", clinic, assignment_id=assignment, paused_at=now)
        goal = add(
            "goal",
            clinic_id=clinic,
            client_id=user,
            title="G",
            description="",
            why="",
            status="active",
            **stamp,
        )
        add("goal_step", clinic, goal_id=goal, title="S", done=False, position=0, **stamp)
        for table, secret in (("refresh_token", "token_hash"), ("invitation", "code_hash")):
            extra = {"family_id": uuid.uuid4(), "scope": ""} if table == "refresh_token" else {}
            values = {secret: uuid.uuid4().hex, **extra}
            add(table, clinic, user_id=user, created_at=now, expires_at=now, **values)
        for principal in (f"user:{user}", f"api_client:{api_client}"):
            add(
                "idempotency_key",
                clinic,
                principal=principal,
                key=uuid.uuid4().hex,
                fingerprint="f",
                locked_at=now,
                expires_at=now + timedelta(hours=1),
            )
    gone = add(
        "idempotency_key",
        None,
        principal=f"user:{uuid.uuid4()}",
        key="k",
        fingerprint="f",
        locked_at=now,
        expires_at=now,
    )
    del expected[gone]  # its principal no longer exists: the migration deletes it
    expected[version_of_builtin] = None
    return rows, expected  # type: ignore[return-value]


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_the_migration_gives_existing_rows_their_parents_clinic(engine_name, tmp_path):
    async with fresh_database(engine_name, f"tenant_{worker_id()}", tmp_path) as url:
        await asyncio.to_thread(upgrade, url, BEFORE)
        rows, expected = _old_world(datetime.now(UTC))
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                for name in [t.name for t in metadata.sorted_tables if t.name in rows]:
                    for row in rows[name]:
                        await connection.execute(sa.insert(_table(name, row)).values(**row))
            await asyncio.to_thread(upgrade, url)
            found: dict[uuid.UUID, uuid.UUID | None] = {}
            async with engine.connect() as connection:
                for name in [*GAINED, "idempotency_key"]:
                    table = metadata.tables[name]
                    result = await connection.execute(sa.select(table.c.id, table.c[TENANT]))
                    found.update({row.id: row.clinic_id for row in result})
        finally:
            await engine.dispose()
    assert found == expected
