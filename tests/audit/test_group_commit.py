"""Read audit by group commit: rows of concurrent reads share batches, each read answers only
once its row is durable, and a failed batch fails exactly its own requests."""

import asyncio

from sqlalchemy import func, select

from app.core.audit import AuditEvent, GroupCommit


async def _audit_rows(db, resource_type: str) -> int:
    db.expire_all()
    return await db.scalar(select(func.count()).where(AuditEvent.resource_type == resource_type))


async def test_concurrent_reads_share_batches_and_each_has_its_row(client, world, db, app):
    writer: GroupCommit = app.state.audit_writer
    batches, rows = writer.batches, writer.rows
    responses = await asyncio.gather(
        *(client.get("/v1/goals", headers=world.auth("therapist")) for _ in range(30))
    )
    assert [r.status_code for r in responses] == [200] * 30
    assert await _audit_rows(db, "goal") == 30
    assert writer.rows - rows == 30
    assert writer.batches - batches < 30  # some rows went together


async def test_a_read_transaction_writes_nothing(client, world, app, monkeypatch):
    """The read's own transaction ends without an INSERT: its row goes through the writer."""
    queued = []
    writer: GroupCommit = app.state.audit_writer
    original = writer.write

    async def spy(row):
        queued.append(row["resource_type"])
        await original(row)

    monkeypatch.setattr(writer, "write", spy)
    response = await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert response.status_code == 200
    assert queued == ["client"]


async def test_a_failed_batch_fails_its_requests_and_only_them(client, world, app, monkeypatch):
    writer: GroupCommit = app.state.audit_writer
    real = writer._insert
    calls = {"n": 0}

    async def failing_first_batch(rows):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the database went away for this batch")
        await real(rows)

    monkeypatch.setattr(writer, "_insert", failing_first_batch)
    first = await client.get("/v1/goals", headers=world.auth("therapist"))
    second = await client.get("/v1/goals", headers=world.auth("therapist"))
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "1"
    assert first.headers["content-type"] == "application/problem+json"
    assert second.status_code == 200


async def test_the_writer_batches_what_arrives_while_it_writes(app):
    writer = GroupCommit(app.state.engine, max_batch=4)
    rows = [
        {"action": "read", "resource_type": "probe", "outcome": 200, "id": None} for _ in range(10)
    ]
    from app.core.ids import new_id

    for row in rows:
        row["id"] = new_id()
    await asyncio.gather(*(writer.write(row) for row in rows))
    assert writer.rows == 10
    assert 3 <= writer.batches <= 4  # at most max_batch rows in each
