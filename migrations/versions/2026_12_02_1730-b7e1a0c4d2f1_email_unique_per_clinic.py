"""emails unique per clinic: one person may be a client of several clinics

Revision ID: b7e1a0c4d2f1
Revises: 5c1e0a9d7b42
Create Date: 2026-12-02 17:30:00.000000

Each clinic membership is its own `user` row, so the same email may appear once per clinic.
The new constraint leads with the email, so its index also serves a login's lookup by email.
Downgrade restores global uniqueness and fails if a person has meanwhile joined two clinics
(which rows to drop is not a migration's decision).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7e1a0c4d2f1"
down_revision: str | None = "5c1e0a9d7b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_email_normalized"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_email_normalized_clinic_id"), ["email_normalized", "clinic_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_email_normalized_clinic_id"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_email_normalized"), ["email_normalized"]
        )
