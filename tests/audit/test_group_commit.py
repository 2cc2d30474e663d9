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


async def test_a_row_queued_as_the_writer_finishes_is_written(app):
    """The writer's last look at the queue and its leaving are one step: a request that queues
    its row in the same turn of the event loop (before the finished writer's callbacks run)
    starts a writer of its own instead of waiting for one that is gone."""
    writer = GroupCommit(app.state.engine)
    written: list[str] = []
    woken = asyncio.get_running_loop().create_future()

    async def insert(rows):  # no await: the writer finishes in the step that wakes `late`
        written.extend(row["resource_type"] for row in rows)
        if not woken.done():
            woken.set_result(None)

    writer._insert = insert  # type: ignore[method-assign]

    async def late():
        await woken  # runs in the writer's last turn, before its done-callbacks
        await writer.write({"resource_type": "late"})

    queued_late = asyncio.create_task(late())
    await writer.write({"resource_type": "first"})
    await asyncio.wait_for(queued_late, timeout=5)
    assert written == ["first", "late"]


async def test_a_writer_stopped_mid_batch_fails_its_rows_instead_of_leaving_them_waiting(app):
    """At shutdown the writer's task is cancelled: the requests of its batch and of the queue
    answer 503 (their rows were not written) rather than wait for ever."""
    writer = GroupCommit(app.state.engine, max_batch=1)

    async def insert(rows):
        await asyncio.Event().wait()  # a batch that never finishes

    writer._insert = insert  # type: ignore[method-assign]
    writes = [asyncio.create_task(writer.write({"resource_type": n})) for n in ("a", "b")]
    await asyncio.sleep(0.01)
    (task,) = writer._writers
    task.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 5)
    assert [type(o).__name__ for o in outcomes] == ["ServiceUnavailable"] * 2
    # The next row starts a writer of its own.
    writer._insert = lambda rows: asyncio.sleep(0)  # type: ignore[method-assign]
    await asyncio.wait_for(writer.write({"resource_type": "c"}), 5)
