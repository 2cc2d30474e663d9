"""templates carry tags and a normalized search text

Revision ID: 2830d3ad0183
Revises: d5a8c1e9f3b7
Create Date: 2026-12-03 07:30:00.000000

`template.tags` (a JSON array) and `template.search_text` (what `GET /v1/templates?q=` searches:
slug, title, description, kind and tags, case-folded, accents stripped). Existing rows are
backfilled here, built-in and clinic templates alike; the built-in library's tags as they were
when this revision was written. This file keeps its own copy of the normalization, so that it
does what it did whatever the app does later (`homework-api migrate` then brings the built-in
rows up to the code's tags and search text). Downgrade drops both columns.
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2830d3ad0183"
down_revision: str | None = "d5a8c1e9f3b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_templates = sa.table(
    "template",
    sa.column("id", sa.Uuid()),
    sa.column("owner", sa.String()),
    sa.column("slug", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("title", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("tags", _JSON),
    sa.column("search_text", sa.Text()),
)
_versions = sa.table(
    "template_version",
    sa.column("template_id", sa.Uuid()),
    sa.column("number", sa.Integer()),
    sa.column("definition", _JSON),
)
_BUILTIN_TAGS = {
    "thought-record": ["cbt", "worksheet", "thoughts", "emotions", "cognitive-restructuring"],
    "cognitive-distortions": [
        "cbt",
        "worksheet",
        "thoughts",
        "thinking-traps",
        "cognitive-restructuring",
    ],
    "activity-log": ["cbt", "behavioral-activation", "tracking", "mood", "depression"],
    "reflective-journal": ["journaling", "reflection", "self-awareness"],
    "gratitude-journal": ["journaling", "gratitude", "positive-psychology", "mood"],
    "mindfulness-practice": ["mindfulness", "meditation", "attention"],
    "breathing-exercise": ["mindfulness", "breathing", "relaxation", "anxiety"],
    "body-scan": ["mindfulness", "relaxation", "body-awareness", "sleep"],
    "phq-9": ["measure", "questionnaire", "screening", "depression"],
    "gad-7": ["measure", "questionnaire", "screening", "anxiety"],
}
_SEPARATORS = re.compile(r"[\s_-]+")
_CHUNK = 500


def _normalized(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SEPARATORS.sub(" ", bare).strip()


def _search_text(slug: str, title: str, description: str, kind: str, tags: list[str]) -> str:
    return "\n".join(_normalized(part) for part in (slug, title, description, kind, *tags))


def _backfill() -> None:
    if op.get_context().as_sql:  # an offline script cannot read rows: `migrate` online fills them
        return
    connection = op.get_bind()
    ids = connection.execute(sa.select(_templates.c.id)).scalars().all()
    for start in range(0, len(ids), _CHUNK):
        latest = (
            sa.select(
                _templates.c.id,
                _templates.c.owner,
                _templates.c.slug,
                _templates.c.kind,
                _templates.c.title,
                _versions.c.definition,
            )
            .join(
                _versions,
                sa.and_(
                    _versions.c.template_id == _templates.c.id,
                    _versions.c.number == _templates.c.version,
                ),
                isouter=True,
            )
            .where(_templates.c.id.in_(ids[start : start + _CHUNK]))
        )
        for row in connection.execute(latest).all():
            tags = _BUILTIN_TAGS.get(row.slug, []) if row.owner == "builtin" else []
            description = str((row.definition or {}).get("description", ""))
            connection.execute(
                _templates.update()
                .where(_templates.c.id == row.id)
                .values(
                    tags=tags,
                    search_text=_search_text(row.slug, row.title, description, row.kind, tags),
                )
            )


def upgrade() -> None:
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tags", _JSON, server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("tags")
