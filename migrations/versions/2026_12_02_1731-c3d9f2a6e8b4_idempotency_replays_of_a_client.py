"""stored replays name the client they concern, so erasure deletes them

Revision ID: c3d9f2a6e8b4
Revises: b7e1a0c4d2f1
Create Date: 2026-12-02 17:30:00.000000

Also: the `key` column holds the SHA-256 of the caller's key, and answer bodies are sealed with
AES-256-GCM under a key derived from the caller's key and principal. Existing rows are converted
here (this file keeps its own copy of the scheme, so that it does what it did whatever the app
does later). The conversion cannot be undone (the raw keys are gone): downgrade deletes the
stored answers, a 24-hour retry cache, instead of leaving rows the old code would misread.
"""

import hashlib
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision: str = "c3d9f2a6e8b4"
down_revision: str | None = "b7e1a0c4d2f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_records = sa.table(
    "idempotency_key",
    sa.column("id", sa.Uuid()),
    sa.column("principal", sa.String()),
    sa.column("key", sa.String()),
    sa.column("body", sa.LargeBinary()),
)
_CHUNK = 500


def _sealed(key: str, principal: str, body: bytes) -> bytes:
    info = b"idempotency-replay\0" + principal.encode()
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.encode())
    nonce = os.urandom(12)
    return nonce + AESGCM(secret).encrypt(nonce, body, None)


def _convert_rows() -> None:
    if op.get_context().as_sql:  # an offline script cannot read rows: drop the replays
        op.execute(_records.delete())
        return
    connection = op.get_bind()
    ids = connection.execute(sa.select(_records.c.id)).scalars().all()
    for start in range(0, len(ids), _CHUNK):
        rows = connection.execute(
            sa.select(_records).where(_records.c.id.in_(ids[start : start + _CHUNK]))
        ).all()
        for row in rows:
            body = _sealed(row.key, row.principal, bytes(row.body)) if row.body else row.body
            connection.execute(
                _records.update()
                .where(_records.c.id == row.id)
                .values(key=hashlib.sha256(row.key.encode()).hexdigest(), body=body)
            )


def upgrade() -> None:
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_idempotency_key_client_id"), ["client_id"])
    _convert_rows()


def downgrade() -> None:
    op.execute(_records.delete())
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_key_client_id"))
        batch_op.drop_column("client_id")
