"""webhooks have an owner whose scopes their deliveries need

Revision ID: d5a8c1e9f3b7
Revises: c3d9f2a6e8b4
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

revision: str = "d5a8c1e9f3b7"
down_revision: str | None = "c3d9f2a6e8b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
