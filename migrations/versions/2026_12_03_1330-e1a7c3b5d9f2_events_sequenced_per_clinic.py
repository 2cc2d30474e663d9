"""events are numbered per clinic, without a deployment-wide lock; the webhook fan-out keeps a
cursor per clinic; deliveries and sent reminders name their clinic

Revision ID: e1a7c3b5d9f2
Revises: cf1fd4494cd4
Create Date: 2026-12-03 13:30:00.000000

`event_counter` holds each clinic's last event number; the outbox takes numbers from it (its
row is the clinic's lock until COMMIT) instead of a global sequence under one advisory lock.
Existing events keep their numbers, so every feed cursor given out stays valid: each clinic's
counter starts at the highest number given out so far, and its next events continue above it.
The event's key becomes (clinic_id, sequence) and its id is unique per clinic.

The fan-out cursor (one row, the last number fanned out) becomes a row per clinic, each at the
former cursor: events above it are fanned out as before, in each clinic's order.

`webhook_delivery` and `sent_reminder` get a NOT NULL `clinic_id` (from the webhook, from the
assignment), with a cascading foreign key, and their unique keys include it.

Downgrade numbers the events again deployment-wide (each clinic's events keep their order;
deliveries follow), restores the global sequence and the single fan-out cursor (at the last
event before the first one some clinic had not fanned out yet). Feed cursors given out after
the upgrade are then not valid any more.
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "e1a7c3b5d9f2"
down_revision: str | None = "cf1fd4494cd4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, parent table, the column naming the parent, former unique columns)
_CHILDREN = (
    ("webhook_delivery", "webhook", "webhook_id", ["webhook_id", "event_id"]),
    ("sent_reminder", "assignment", "assignment_id", ["assignment_id", "remind_at"]),
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


@contextmanager
def _event_rebuilt() -> Iterator[BatchOperations]:
    """SQLite: the event table copied into its new shape. SQLAlchemy warns that the copy's key
    differs from the reflected one, which is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_event' specifies columns")
        with op.batch_alter_table("event", recreate="always") as batch_op:
            yield batch_op


def upgrade() -> None:
    op.create_table(
        "event_counter",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_event_counter")),
    )
    # Every clinic (and every clinic named by an event) continues above every number given out.
    op.execute(
        "INSERT INTO event_counter (clinic_id, last_sequence) "
        "SELECT clinic_id, (SELECT coalesce(max(sequence), 0) FROM event) FROM "
        "(SELECT id AS clinic_id FROM clinic UNION SELECT clinic_id FROM event) AS clinics"
    )

    # The fan-out cursor, a row per clinic at the former single cursor.
    op.create_table(
        "webhook_dispatch_cursor_by_clinic",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO webhook_dispatch_cursor_by_clinic (clinic_id, last_sequence) "
        "SELECT clinic_id, coalesce((SELECT last_sequence FROM webhook_dispatch_cursor "
        "WHERE id = 1), 0) FROM event_counter"
    )
    op.drop_table("webhook_dispatch_cursor")
    op.create_table(
        "webhook_dispatch_cursor",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_webhook_dispatch_cursor")),
    )
    op.execute(
        "INSERT INTO webhook_dispatch_cursor (clinic_id, last_sequence) "
        "SELECT clinic_id, last_sequence FROM webhook_dispatch_cursor_by_clinic"
    )
    op.drop_table("webhook_dispatch_cursor_by_clinic")

    # The event's key: (clinic_id, sequence), numbers from the counter.
    if _sqlite():
        with _event_rebuilt() as batch_op:
            batch_op.drop_index("ix_event_clinic_id_sequence")
            batch_op.drop_constraint("uq_event_id", type_="unique")
            batch_op.alter_column(
                "sequence",
                existing_type=sa.Integer(),
                type_=sa.BigInteger(),
                autoincrement=False,
                existing_nullable=False,
            )
            batch_op.create_primary_key("pk_event", ["clinic_id", "sequence"])
            batch_op.create_unique_constraint("uq_event_clinic_id_id", ["clinic_id", "id"])
    else:
        op.drop_index("ix_event_clinic_id_sequence", table_name="event")
        op.drop_constraint("uq_event_id", "event", type_="unique")
        op.drop_constraint("pk_event", "event", type_="primary")
        op.execute("ALTER TABLE event ALTER COLUMN sequence DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS event_sequence_seq")
        op.create_primary_key("pk_event", "event", ["clinic_id", "sequence"])
        op.create_unique_constraint("uq_event_clinic_id_id", "event", ["clinic_id", "id"])

    for name, parent, parent_column, unique in _CHILDREN:
        with op.batch_alter_table(name) as batch_op:
            batch_op.add_column(sa.Column("clinic_id", sa.Uuid(), nullable=True))
        table = sa.table(name, sa.column("clinic_id", sa.Uuid()), sa.column(parent_column))
        owner = sa.table(parent, sa.column("id", sa.Uuid()), sa.column("clinic_id", sa.Uuid()))
        clinic = sa.select(owner.c.clinic_id).where(owner.c.id == table.c[parent_column])
        op.execute(table.update().values(clinic_id=clinic.scalar_subquery()))
        with op.batch_alter_table(name) as batch_op:
            batch_op.alter_column("clinic_id", existing_type=sa.Uuid(), nullable=False)
            batch_op.create_foreign_key(
                f"fk_{name}_clinic_id_clinic", "clinic", ["clinic_id"], ["id"], ondelete="CASCADE"
            )
            batch_op.drop_constraint(f"uq_{name}_{'_'.join(unique)}", type_="unique")
            batch_op.create_unique_constraint(
                f"uq_{name}_clinic_id_{'_'.join(unique)}", ["clinic_id", *unique]
            )


def downgrade() -> None:
    for name, _parent, _parent_column, unique in reversed(_CHILDREN):
        with op.batch_alter_table(name) as batch_op:
            batch_op.drop_constraint(f"uq_{name}_clinic_id_{'_'.join(unique)}", type_="unique")
            batch_op.create_unique_constraint(f"uq_{name}_{'_'.join(unique)}", unique)
            batch_op.drop_constraint(f"fk_{name}_clinic_id_clinic", type_="foreignkey")
            batch_op.drop_column("clinic_id")

    # Deployment-wide numbers again: each clinic's events in their order.
    op.execute(
        "CREATE TABLE event_renumbering AS SELECT clinic_id, sequence AS old_sequence, "
        "row_number() OVER (ORDER BY sequence, clinic_id) AS new_sequence FROM event"
    )
    op.execute(
        "CREATE TABLE webhook_dispatch_cursor_global AS SELECT coalesce("
        "(SELECT min(r.new_sequence) - 1 FROM event_renumbering r "
        "LEFT JOIN webhook_dispatch_cursor d ON d.clinic_id = r.clinic_id "
        "WHERE r.old_sequence > coalesce(d.last_sequence, 0)), "
        "(SELECT max(new_sequence) FROM event_renumbering), 0) AS last_sequence"
    )
    op.create_index(
        "ix_event_renumbering", "event_renumbering", ["clinic_id", "old_sequence"], unique=True
    )
    op.execute(
        "UPDATE webhook_delivery SET event_sequence = coalesce((SELECT r.new_sequence FROM "
        "event_renumbering r JOIN event e ON e.clinic_id = r.clinic_id AND "
        "e.sequence = r.old_sequence WHERE e.id = webhook_delivery.event_id), event_sequence)"
    )
    # Through negative numbers, so that no row takes a number another row still holds.
    op.execute(
        "UPDATE event SET sequence = -(SELECT r.new_sequence FROM event_renumbering r "
        "WHERE r.clinic_id = event.clinic_id AND r.old_sequence = event.sequence)"
    )
    op.execute("UPDATE event SET sequence = -sequence")
    op.drop_table("event_renumbering")
    if _sqlite():
        with _event_rebuilt() as batch_op:
            batch_op.drop_constraint("uq_event_clinic_id_id", type_="unique")
            batch_op.alter_column(
                "sequence",
                existing_type=sa.BigInteger(),
                type_=sa.Integer(),
                autoincrement=True,
                existing_nullable=False,
            )
            batch_op.create_primary_key("pk_event", ["sequence"])
            batch_op.create_unique_constraint("uq_event_id", ["id"])
            batch_op.create_index("ix_event_clinic_id_sequence", ["clinic_id", "sequence"])
    else:
        op.drop_constraint("uq_event_clinic_id_id", "event", type_="unique")
        op.drop_constraint("pk_event", "event", type_="primary")
        op.create_primary_key("pk_event", "event", ["sequence"])
        op.execute("CREATE SEQUENCE event_sequence_seq OWNED BY event.sequence")
        op.execute(
            "SELECT setval('event_sequence_seq', (SELECT coalesce(max(sequence), 0) + 1 "
            "FROM event), false)"
        )
        op.execute(
            "ALTER TABLE event ALTER COLUMN sequence SET DEFAULT nextval('event_sequence_seq')"
        )
        op.create_unique_constraint("uq_event_id", "event", ["id"])
        op.create_index("ix_event_clinic_id_sequence", "event", ["clinic_id", "sequence"])

    op.drop_table("webhook_dispatch_cursor")
    op.create_table(
        "webhook_dispatch_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_dispatch_cursor")),
    )
    op.execute(
        "INSERT INTO webhook_dispatch_cursor (id, last_sequence) "
        "SELECT 1, last_sequence FROM webhook_dispatch_cursor_global"
    )
    op.drop_table("webhook_dispatch_cursor_global")
    op.drop_table("event_counter")
