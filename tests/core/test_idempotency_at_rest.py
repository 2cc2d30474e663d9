"""Stored Idempotency-Key answers from before encryption: the migration hashes their keys and
seals their bodies so that the app still replays them, and its downgrade drops them."""

import asyncio
import hashlib
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.idempotency import sealing_key, unseal
from app.core.migrations import downgrade, upgrade
from app.core.models import JSONType, UTCDateTime
from app.core.time import utcnow
from tests.databases import ENGINES, fresh_database, worker_id

BEFORE = "b7e1a0c4d2f1"
ENCRYPTED = "c3d9f2a6e8b4"

records = sa.table(
    "idempotency_key",
    sa.column("id", sa.Uuid()),
    sa.column("principal", sa.String()),
    sa.column("key", sa.String()),
    sa.column("fingerprint", sa.String()),
    sa.column("status_code", sa.Integer()),
    sa.column("headers", JSONType),
    sa.column("body", sa.LargeBinary()),
    sa.column("locked_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
)


def plain_row(key: str, body: bytes | None) -> dict[str, object]:
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "principal": "api_client:7",
        "key": key,
        "fingerprint": "0" * 64,
        "status_code": 201 if body is not None else None,
        "headers": {"content-type": "application/json"},
        "body": body,
        "locked_at": now,
        "expires_at": now + timedelta(hours=24),
    }


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_the_migration_hashes_stored_keys_and_encrypts_stored_answers(engine_name, tmp_path):
    answer = b'{"client_secret":"s3cret"}'
    finished, running = plain_row("retry-1", answer), plain_row("retry-2", None)
    async with fresh_database(engine_name, f"idem_{worker_id()}", tmp_path) as url:
        await asyncio.to_thread(upgrade, url, BEFORE)
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(sa.insert(records), [finished, running])
            await asyncio.to_thread(upgrade, url, ENCRYPTED)
            async with engine.connect() as connection:
                rows = {r.id: r for r in await connection.execute(sa.select(records))}
            sealed = rows[finished["id"]]
            assert sealed.key == hashlib.sha256(b"retry-1").hexdigest()
            assert b"s3cret" not in sealed.body
            assert unseal(sealing_key("retry-1", "api_client:7"), sealed.body) == answer
            assert rows[running["id"]].key == hashlib.sha256(b"retry-2").hexdigest()
            assert rows[running["id"]].body is None

            await asyncio.to_thread(downgrade, url, BEFORE)  # the raw keys are gone: so are they
            async with engine.connect() as connection:
                left = await connection.scalar(sa.select(sa.func.count()).select_from(records))
            assert left == 0
        finally:
            await engine.dispose()
