"""emails unique per clinic: one person may be a client of several clinics

Revision ID: b7e1a0c4d2f1
Revises: 5c1e0a9d7b42
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

revision: str = "b7e1a0c4d2f1"
down_revision: str | None = "5c1e0a9d7b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
