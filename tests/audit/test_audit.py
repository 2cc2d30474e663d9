"""The audit trail: one row per access to client data, denials included; append-only."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from app.core.audit import AuditEvent, prune
from app.core.time import utcnow
from tests.factories import PASSWORD

NOTE = "I felt the panic rise at the bus stop but stayed."


async def rows(db):
    await db.rollback()
    return list(
        (
            await db.execute(select(AuditEvent).order_by(AuditEvent.occurred_at, AuditEvent.id))
        ).scalars()
    )


async def test_a_scripted_scenario_leaves_one_row_per_access(client, world, db):
    cid = str(world.client.id)
    steps = [
        ("therapist", "GET", f"/v1/clients/{cid}", None, ("read", "client", cid, 200)),
        (
            "therapist",
            "GET",
            f"/v1/completions?client_id={cid}",
            None,
            ("read", "completion", cid, 200),
        ),
        (
            "client",
            "POST",
            f"/v1/assignments/{world.assignment.id}/completions",
            {
                "completed_at": utcnow().isoformat(),
                "status": "skipped",
                "skip_reason": "other",
                "skip_note": NOTE,
            },
            ("create", "completion", cid, 201),
        ),
        ("therapist_other", "GET", f"/v1/clients/{cid}", None, ("denied", "client", cid, 404)),
        ("client_other", "GET", f"/v1/clients/{cid}/agenda", None, ("denied", "agenda", cid, 404)),
        ("anon", "GET", f"/v1/clients/{cid}", None, ("denied", "client", cid, 401)),
        ("admin", "GET", f"/v1/clients/{cid}/export", None, ("export", "client_export", cid, 200)),
        (
            "therapist",
            "PATCH",
            f"/v1/assignments/{world.assignment.id}",
            {"instructions": "Evenings"},
            ("update", "assignment", cid, 200),
        ),
    ]
    for who, method, url, body, _ in steps:
        headers = {} if who == "anon" else world.auth(who)
        await client.request(method, url, headers=headers, json=body)
    found = await rows(db)
    assert [(r.action, r.resource_type, str(r.client_id), r.outcome) for r in found] == [
        s[4] for s in steps
    ]
    by_who = [r.actor_id for r in found]
    assert by_who[0] == world.therapist.id and by_who[5] is None
    assert all(r.request_id and r.source_ip for r in found)
    for r in found:  # no PHI in the trail
        assert NOTE not in " ".join(str(v) for v in r.__dict__.values())


async def test_logins_are_audited_without_the_password(client, world, db):
    for password in (PASSWORD, "wrong-password-here"):
        await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": world.client.email, "password": password},
        )
    await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "ghost@example.com",
            "password": "wrong-password-here",
        },
    )
    found = [r for r in await rows(db) if r.action == "login"]
    assert [(r.actor_id, r.outcome) for r in found] == [
        (world.client.id, 200),
        (world.client.id, 400),
        (None, 400),
    ]
    assert all("wrong-password" not in str(r.__dict__) for r in found)


async def test_refresh_token_reuse_is_audited_as_a_refused_login(client, world, db):
    login = (
        await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": world.client.email, "password": PASSWORD},
        )
    ).json()
    for _ in range(2):
        await client.post(
            "/v1/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        )
    last = (await rows(db))[-1]
    assert (last.action, last.resource_type, last.outcome) == ("login", "refresh_token", 400)


async def test_audit_rows_cannot_be_changed_or_deleted(client, world, db):
    await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    await db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(update(AuditEvent).values(outcome=200))
    await db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(delete(AuditEvent))
    await db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text("DELETE FROM audit_event"))
    await db.rollback()
    assert len(await rows(db)) == 1


async def test_pruning_removes_only_rows_past_retention(client, world, db, app):
    await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert await prune(app.state.sessionmaker, utcnow() - timedelta(days=1)) == 0
    assert await prune(app.state.sessionmaker, utcnow() + timedelta(seconds=1)) == 1
    assert await rows(db) == []


async def test_the_audit_trail_is_listed_for_admins_with_filters(client, world):
    await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("therapist"))
    await client.get(f"/v1/clients/{world.client_other.id}", headers=world.auth("therapist"))
    listed = await client.get(
        f"/v1/audit-events?client_id={world.client.id}", headers=world.auth("admin")
    )
    assert listed.status_code == 200
    assert {i["client_id"] for i in listed.json()["items"]} == {str(world.client.id)}
    denied = await client.get("/v1/audit-events?action=denied", headers=world.auth("admin"))
    assert [(i["client_id"], i["outcome"]) for i in denied.json()["items"]] == [
        (str(world.client_other.id), 404)
    ]
    other = await client.get("/v1/audit-events", headers=world.auth("other_admin"))
    assert all(i["actor_id"] != str(world.therapist.id) for i in other.json()["items"])
