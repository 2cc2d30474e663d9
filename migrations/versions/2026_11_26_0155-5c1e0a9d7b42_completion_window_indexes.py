"""completion indexes for metric windows, open work, latest measures and answered occurrences

Revision ID: 5c1e0a9d7b42
Revises: 1754127b97ff
Create Date: 2026-11-26 01:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e0a9d7b42"
down_revision: str | None = "1754127b97ff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index(
        "ix_completion_client_id_occurrence_date", "completion", ["client_id", "occurrence_date"]
    )
    op.create_index(
        "ix_completion_client_id_completed_at_scored",
        "completion",
        ["client_id", "completed_at", "id", "template_id", "template_version_id", "score_band"],
        **_partial("score_total IS NOT NULL"),
    )
    op.create_index(
        "ix_completion_client_id_unreviewed",
        "completion",
        ["client_id", "wants_to_discuss", "risk"],
        **_partial("reviewed_at IS NULL"),
    )
    op.create_index(
        "ix_completion_assignment_id_answers",
        "completion",
        ["assignment_id", "occurrence_date", "occurrence_time", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_completion_assignment_id_answers", table_name="completion")
    op.drop_index("ix_completion_client_id_unreviewed", table_name="completion")
    op.drop_index("ix_completion_client_id_completed_at_scored", table_name="completion")
    op.drop_index("ix_completion_client_id_occurrence_date", table_name="completion")
