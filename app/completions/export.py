"""CSV export of completions: readable columns, one per template field, streamed in chunks."""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assignments.models import Assignment
from app.auth.principal import Principal
from app.completions.models import Completion
from app.completions.repository import CompletionFilters, matching_completions
from app.core import audit
from app.core.errors import Forbidden
from app.templates.models import TemplateVersion
from app.templates.repository import definition_of

CHUNK = 500
FIXED_COLUMNS = [
    "completion_id",
    "client_id",
    "assignment_id",
    "assignment_title",
    "template_title",
    "template_version",
    "local_date",
    "local_time",
    "status",
    "completed_at",
    "mood_before",
    "mood_after",
    "discomfort",
    "duration_minutes",
    "wants_to_discuss",
    "skip_reason",
    "skip_note",
    "note",
    "score_total",
    "score_band",
    "risk",
    "reviewed_at",
]


# OWASP's list: a spreadsheet reads a cell starting with one of these as a formula, so a
# client's note `=HYPERLINK(...)` would run on the therapist's machine.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """Free text as a spreadsheet shows it and never evaluates it: a leading `'` (OWASP)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> str:
    """Numbers stay numbers (a negative answer is not a formula); every text is neutralized."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return neutralize("; ".join(str(v) for v in value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str):
        return neutralize(value)
    return str(value)


async def completions_csv(
    session: AsyncSession,
    principal: Principal,
    filters: CompletionFilters,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[str]:
    """The completion list as CSV chunks, for staff; audited as `export` (about one client when
    the filters name one). The stream reads in its own session (`sessionmaker`)."""
    if principal.is_client:
        raise Forbidden("The CSV export is for therapists and admins.")
    stmt = matching_completions(principal, filters)
    audit.note(
        action="export",
        client_id=await exported_client(session, stmt, filters.client_id, filters.assignment_id),
    )
    return stream_csv(sessionmaker, stmt)


async def exported_client(
    session: AsyncSession,
    stmt: Select[Completion],
    client_id: uuid.UUID | None,
    assignment_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """The client an export is about, for its audit row: the one it is filtered to, or the
    owner of the one assignment it is filtered to. None for an export across clients."""
    if client_id is not None or assignment_id is None:
        return client_id
    return await session.scalar(
        stmt.with_only_columns(Completion.client_id).order_by(None).limit(1)
    )


async def _field_columns(
    session: AsyncSession, stmt: Select[Completion]
) -> tuple[list[tuple[str, str]], dict[Any, str]]:
    """(key, header) for every field of every template version in the export, in form order,
    and each version's template title."""
    version_ids = (
        select(Completion.template_version_id)
        .where(Completion.id.in_(stmt.with_only_columns(Completion.id).order_by(None)))
        .distinct()
    )
    versions = (
        (
            await session.execute(
                select(TemplateVersion)
                .where(TemplateVersion.id.in_(version_ids))
                .order_by(TemplateVersion.template_id, TemplateVersion.number)
            )
        )
        .scalars()
        .all()
    )
    columns: dict[str, str] = {}
    titles: dict[Any, str] = {}
    for version in versions:
        definition = definition_of(version)
        titles[version.id] = definition.title
        for field in definition.fields:
            columns.setdefault(field.key, f"{field.key} ({field.label})")
    return list(columns.items()), titles


async def stream_csv(
    sessionmaker: async_sessionmaker[AsyncSession], stmt: Select[Completion]
) -> AsyncIterator[str]:
    """Its own session: the stream outlives the request's transaction."""
    async with sessionmaker() as session:
        fields, titles = await _field_columns(session, stmt)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(FIXED_COLUMNS + [neutralize(header) for _, header in fields])
        last_id = None
        while True:
            page = (
                stmt.add_columns(Assignment.title)
                .join(Assignment, Assignment.id == Completion.assignment_id)
                .order_by(Completion.id)
                .limit(CHUNK)
            )
            if last_id is not None:
                page = page.where(Completion.id > last_id)
            rows = (await session.execute(page)).all()
            for completion, assignment_title in rows:
                score = completion.score or {}
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            completion.id,
                            completion.client_id,
                            completion.assignment_id,
                            assignment_title,
                            titles.get(completion.template_version_id),
                            completion.template_version,
                            completion.occurrence_date,
                            completion.occurrence_time,
                            completion.status.value,
                            completion.completed_at.isoformat(),
                            completion.mood_before,
                            completion.mood_after,
                            completion.discomfort,
                            completion.duration_minutes,
                            completion.wants_to_discuss,
                            completion.skip_reason.value if completion.skip_reason else None,
                            completion.skip_note,
                            completion.note,
                            score.get("total"),
                            score.get("band"),
                            completion.risk,
                            completion.reviewed_at,
                        )
                    ]
                    + [_cell(completion.responses.get(key)) for key, _ in fields]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < CHUNK:
                break
            last_id = rows[-1][0].id
