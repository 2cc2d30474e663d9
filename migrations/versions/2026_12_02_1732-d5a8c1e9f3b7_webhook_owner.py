"""webhooks have an owner whose scopes their deliveries need

Revision ID: d5a8c1e9f3b7
Revises: c3d9f2a6e8b4
Create Date: 2026-12-02 17:32:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d5a8c1e9f3b7"
down_revision: str | None = "c3d9f2a6e8b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook") as batch:
        batch.add_column(sa.Column("created_by_api_client_id", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column(
                "owner_scopes",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch.create_foreign_key(
            op.f("fk_webhook_created_by_api_client_id_api_client"),
            "api_client",
            ["created_by_api_client_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook") as batch:
        batch.drop_constraint(
            op.f("fk_webhook_created_by_api_client_id_api_client"), type_="foreignkey"
        )
        batch.drop_column("owner_scopes")
        batch.drop_column("created_by_api_client_id")
