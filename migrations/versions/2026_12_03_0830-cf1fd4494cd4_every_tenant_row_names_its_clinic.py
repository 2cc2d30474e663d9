"""every row of a clinic's data names its clinic; unique keys include it

Revision ID: cf1fd4494cd4
Revises: 2830d3ad0183
Create Date: 2026-12-03 08:30:00.000000

The groundwork of sharding by clinic (docs/scaling.md). Tables that reached their clinic only
through a parent row get a `clinic_id` column of their own, filled from that parent:
`refresh_token` and `invitation` (from the user), `assignment_schedule` and `assignment_pause`
(from the assignment), `goal_step` (from the goal), `template_version` (from the template; null
for the built-in library, as on `template`) and `idempotency_key` (from the user or API client
its principal names; rows whose principal no longer exists are deleted, as erasure would have).
The columns are NOT NULL (but `template_version`'s) with a cascading foreign key to `clinic`
(but `idempotency_key`'s: the core tables name the clinic without a foreign key, as `event` and
`audit_event` do).

Unique constraints of clinic data take `clinic_id` too, which changes nothing they allow: each
already implied one clinic (an assignment, a client, a principal) or is the hash of a random
secret. `completion` (one per occurrence), `achievement` (one per client and key),
`refresh_token` and `invitation` (their hashes) and `idempotency_key` (principal and key).

Downgrade drops the columns and restores the former constraints.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cf1fd4494cd4"
down_revision: str | None = "2830d3ad0183"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, parent table, the table's column naming its parent, nullable)
_FROM_PARENT = (
    ("refresh_token", "user", "user_id", False),
    ("invitation", "user", "user_id", False),
    ("assignment_schedule", "assignment", "assignment_id", False),
    ("assignment_pause", "assignment", "assignment_id", False),
    ("goal_step", "goal", "goal_id", False),
    ("template_version", "template", "template_id", True),
)
# (table, former unique columns and their constraint's name, new unique columns and name)
_UNIQUES = (
    (
        "refresh_token",
        ["token_hash"],
        "uq_refresh_token_token_hash",
        ["token_hash", "clinic_id"],
        "uq_refresh_token_token_hash_clinic_id",
    ),
    (
        "invitation",
        ["code_hash"],
        "uq_invitation_code_hash",
        ["code_hash", "clinic_id"],
        "uq_invitation_code_hash_clinic_id",
    ),
    (
        "completion",
        ["assignment_id", "occurrence_date", "occurrence_time"],
        "uq_completion_assignment_id_occurrence_date_occurrence_time",
        ["assignment_id", "occurrence_date", "occurrence_time", "clinic_id"],
        "uq_completion_occurrence",
    ),
    (
        "achievement",
        ["client_id", "key"],
        "uq_achievement_client_id_key",
        ["client_id", "key", "clinic_id"],
        "uq_achievement_client_id_key_clinic_id",
    ),
    (
        "idempotency_key",
        ["principal", "key"],
        "uq_idempotency_key_principal_key",
        ["principal", "key", "clinic_id"],
        "uq_idempotency_key_principal_key_clinic_id",
    ),
)
_records = sa.table(
    "idempotency_key",
    sa.column("principal", sa.String()),
    sa.column("clinic_id", sa.Uuid()),
)
_OWNERS = {
    "user": sa.table("user", sa.column("id", sa.Uuid()), sa.column("clinic_id", sa.Uuid())),
    "api_client": sa.table(
        "api_client", sa.column("id", sa.Uuid()), sa.column("clinic_id", sa.Uuid())
    ),
}
_CHUNK = 500


def _fill_from_parent(name: str, parent: str, parent_column: str) -> None:
    table = sa.table(name, sa.column("clinic_id", sa.Uuid()), sa.column(parent_column, sa.Uuid()))
    owner = sa.table(parent, sa.column("id", sa.Uuid()), sa.column("clinic_id", sa.Uuid()))
    clinic = sa.select(owner.c.clinic_id).where(owner.c.id == table.c[parent_column])
    op.execute(table.update().values(clinic_id=clinic.scalar_subquery()))


def _owner_of(principal: str) -> tuple[str, uuid.UUID] | None:
    """The table and id a stored principal (`user:<id>`, `api_client:<id>`) names."""
    kind, _, subject = principal.partition(":")
    if kind not in _OWNERS:
        return None
    try:
        return kind, uuid.UUID(subject)
    except ValueError:
        return None


def _fill_idempotency_keys() -> None:
    if op.get_context().as_sql:  # an offline script cannot read rows: drop the replays
        op.execute(_records.delete())
        return
    connection = op.get_bind()
    principals = connection.execute(sa.select(_records.c.principal).distinct()).scalars().all()
    owners = {p: _owner_of(p) for p in principals}
    clinic_of: dict[str, object] = {}
    for kind, table in _OWNERS.items():
        ids = [owner[1] for owner in owners.values() if owner is not None and owner[0] == kind]
        for start in range(0, len(ids), _CHUNK):
            rows = connection.execute(
                sa.select(table.c.id, table.c.clinic_id).where(
                    table.c.id.in_(ids[start : start + _CHUNK])
                )
            ).all()
            clinic_of.update({f"{kind}:{row.id}": row.clinic_id for row in rows})
    for principal in principals:
        clinic_id = clinic_of.get(principal)
        rows = _records.c.principal == principal
        if clinic_id is None:  # the user or API client is gone: nobody can replay these
            connection.execute(_records.delete().where(rows))
        else:
            connection.execute(_records.update().where(rows).values(clinic_id=clinic_id))


def upgrade() -> None:
    for name, parent, parent_column, _nullable in _FROM_PARENT:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("clinic_id", sa.Uuid(), nullable=True))
        _fill_from_parent(name, parent, parent_column)
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinic_id", sa.Uuid(), nullable=True))
    _fill_idempotency_keys()

    # Then each table's constraints in one batch (one table rebuild on SQLite).
    parents = {name: nullable for name, _parent, _column, nullable in _FROM_PARENT}
    uniques = {name: (old, new, columns) for name, _old_columns, old, columns, new in _UNIQUES}
    for name in [*parents, *(name for name in uniques if name not in parents)]:
        with op.batch_alter_table(name, schema=None) as batch_op:
            if name in parents or name == "idempotency_key":
                batch_op.alter_column(
                    "clinic_id", existing_type=sa.Uuid(), nullable=parents.get(name, False)
                )
            if name in parents:
                batch_op.create_foreign_key(
                    batch_op.f(f"fk_{name}_clinic_id_clinic"),
                    "clinic",
                    ["clinic_id"],
                    ["id"],
                    ondelete="CASCADE",
                )
            if name in uniques:
                old, new, columns = uniques[name]
                batch_op.drop_constraint(batch_op.f(old), type_="unique")
                batch_op.create_unique_constraint(batch_op.f(new), columns)


def downgrade() -> None:
    for name, old_columns, old_name, _new_columns, new_name in _UNIQUES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(new_name), type_="unique")
            batch_op.create_unique_constraint(batch_op.f(old_name), old_columns)
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_column("clinic_id")
    for name, _parent, _column, _nullable in reversed(_FROM_PARENT):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{name}_clinic_id_clinic"), type_="foreignkey")
            batch_op.drop_column("clinic_id")
