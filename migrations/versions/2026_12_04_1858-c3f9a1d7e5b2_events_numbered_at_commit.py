"""events are numbered inside the COMMIT: written to a queue with their change, moved into
`event` with their clinic's next number by a deferred trigger (PostgreSQL)

Revision ID: c3f9a1d7e5b2
Revises: b4c8d2e6f1a3
Create Date: 2026-12-04 18:58:05.823810

Until now a writer took its clinic's advisory lock and counter row with the statement that
inserted its events, before COMMIT, and held them while the client went on to send the COMMIT:
under load, most of that hold was the client's own wait for its turn on its event loop, and the
clinic's writers queued behind it. Now the events go to `event_queue` without a lock; the
constraint trigger `event_queue_number`, deferred to the COMMIT, takes the lock, numbers each
row from the counter, moves it into `event` and deletes it from the queue, all inside the
COMMIT. The guarantee is the same (a clinic's numbers are given out in commit order: the lock is
held until the commit ends); the lock is held for the COMMIT alone.

`event_clinic_lock_key(uuid)` is `app.core.outbox.clinic_lock_key` in SQL (the id's four 32-bit
words XORed, as a signed integer). SQLite has the table but no trigger: there the outbox numbers
the events itself (one writer at a time).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.models

revision: str = "c3f9a1d7e5b2"
down_revision: str | None = "b4c8d2e6f1a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_KEY = """
CREATE FUNCTION event_clinic_lock_key(clinic uuid) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || substr(h, 1, 8))::bit(32)::integer
         # ('x' || substr(h, 9, 8))::bit(32)::integer
         # ('x' || substr(h, 17, 8))::bit(32)::integer
         # ('x' || substr(h, 25, 8))::bit(32)::integer
    FROM (SELECT replace(clinic::text, '-', '') AS h) AS hex
$$
"""

NUMBER = """
CREATE FUNCTION event_queue_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    number bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(727100, event_clinic_lock_key(NEW.clinic_id));
    INSERT INTO event_counter AS counter (clinic_id, last_sequence) VALUES (NEW.clinic_id, 1)
    ON CONFLICT (clinic_id) DO UPDATE SET last_sequence = counter.last_sequence + 1
    RETURNING counter.last_sequence INTO number;
    INSERT INTO event (clinic_id, sequence, id, type, resource_type, resource_id, client_id,
                       occurred_at, payload)
    VALUES (NEW.clinic_id, number, NEW.id, NEW.type, NEW.resource_type, NEW.resource_id,
            NEW.client_id, NEW.occurred_at, NEW.payload);
    DELETE FROM event_queue WHERE position = NEW.position;
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER event_queue_number AFTER INSERT ON event_queue
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_queue_number()
"""


def upgrade() -> None:
    op.create_table(
        "event_queue",
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_event_queue")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in (LOCK_KEY, NUMBER, TRIGGER):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER event_queue_number ON event_queue")
        op.execute("DROP FUNCTION event_queue_number()")
        op.execute("DROP FUNCTION event_clinic_lock_key(uuid)")
    op.drop_table("event_queue")
