"""stored replays name the client they concern, so erasure deletes them

Revision ID: c3d9f2a6e8b4
Revises: b7e1a0c4d2f1
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

revision: str = "c3d9f2a6e8b4"
down_revision: str | None = "b7e1a0c4d2f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
