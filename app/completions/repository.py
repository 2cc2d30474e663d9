"""Completion statements scoped to the principal."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Select, func, or_, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.repository import AssignmentNotFound, overlapping, visible_assignments
from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.completions.models import Achievement, Comment, Completion, CompletionStatus
from app.core import audit
from app.core.errors import NotFound
from app.core.pagination import changed_since


class CompletionNotFound(NotFound):
    slug = "completion-not-found"


_completions = ClientOwnedRows(Completion, CompletionNotFound, "No such completion.")
visible_completions = _completions.visible
get_visible_completion = _completions.get


@dataclass(frozen=True)
class CompletionFilters:
    """The filters of the completion list (the review queue) and of its CSV export; None
    filters nothing. `completed_from` is inclusive, `completed_to` exclusive."""

    client_id: uuid.UUID | None = None
    assignment_id: uuid.UUID | None = None
    status: CompletionStatus | None = None
    reviewed: bool | None = None
    wants_to_discuss: bool | None = None
    risk: bool | None = None
    completed_from: datetime | None = None
    completed_to: datetime | None = None
    updated_since: datetime | None = None


def matching_completions(principal: Principal, filters: CompletionFilters) -> Select[Completion]:
    """The visible completions that match every filter given."""
    stmt = visible_completions(principal)
    for column, value in (
        (Completion.client_id, filters.client_id),
        (Completion.assignment_id, filters.assignment_id),
        (Completion.status, filters.status),
        (Completion.risk, filters.risk),
        (Completion.wants_to_discuss, filters.wants_to_discuss),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.reviewed is not None:
        stmt = stmt.where(
            Completion.reviewed_at.is_not(None)
            if filters.reviewed
            else Completion.reviewed_at.is_(None)
        )
    if filters.completed_from is not None:
        stmt = stmt.where(Completion.completed_at >= filters.completed_from)
    if filters.completed_to is not None:
        stmt = stmt.where(Completion.completed_at < filters.completed_to)
    stmt = changed_since(stmt, Completion.updated_at, filters.updated_since)
    return stmt


def comments_of(
    completion: Completion, *, updated_since: datetime | None = None
) -> Select[Comment]:
    """The conversation on a completion the caller was found to see."""
    stmt = select(Comment).where(Comment.completion_id == completion.id)
    stmt = changed_since(stmt, Comment.updated_at, updated_since)
    return stmt


DoneOccurrence = tuple[date, uuid.UUID, str | None]  # local day, assignment, time (or None)


@dataclass
class CompletionContext:
    """What recording a completion of `assignment` reads, in one statement: the assignment
    (scoped to the principal), the client's other assignments that overlap `start..end`, the
    achievement keys the client holds among `held_types`, and the client's done occurrences
    in `start..end`."""

    assignment: Assignment
    assignments: list[Assignment]
    held: set[str]
    start: date
    end: date
    done: list[DoneOccurrence] = field(default_factory=list)


def _json_rows(session: AsyncSession, *columns: Any) -> Any:
    """A JSON array of one array per row (`json_agg(json_build_array(...))` on PostgreSQL,
    `json_group_array(json_array(...))` on SQLite), or of the values of one column."""
    postgres = session.get_bind().dialect.name == "postgresql"
    item = (
        columns[0]
        if len(columns) == 1
        else (func.json_build_array(*columns) if postgres else func.json_array(*columns))
    )
    return type_coerce((func.json_agg if postgres else func.json_group_array)(item), JSON)


async def load_context(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    start: date,
    end: date,
    held_types: list[Any],
) -> CompletionContext:
    """The context of a new completion (see `CompletionContext`); 404 when the principal may
    not see the assignment. The client is the assignment's, found once (an init plan)."""
    client_id = (
        visible_assignments(principal)
        .where(Assignment.id == assignment_id)
        .with_only_columns(Assignment.client_id)
        .scalar_subquery()
    )
    held = (
        select(_json_rows(session, Achievement.key).label("held_keys"))
        .where(Achievement.client_id == client_id, Achievement.type.in_(held_types))
        .cte("held")
    )
    done = (
        select(
            _json_rows(
                session,
                Completion.occurrence_date,
                Completion.assignment_id,
                Completion.occurrence_time,
            ).label("days")
        )
        .where(
            Completion.client_id == client_id,
            Completion.status == CompletionStatus.done,
            Completion.occurrence_date.between(start, end),
        )
        .cte("done")
    )
    rows = (
        await session.execute(
            select(Assignment, held.c.held_keys, done.c.days)
            .select_from(Assignment)
            .join(held, true())
            .join(done, true())
            .where(
                Assignment.client_id == client_id,
                or_(Assignment.id == assignment_id, overlapping(start, end)),
            )
        )
    ).all()
    target = next((row[0] for row in rows if row[0].id == assignment_id), None)
    if target is None:
        raise AssignmentNotFound("No such assignment.")
    audit.note(client_id=target.client_id)
    keys, days = rows[0][1] or [], rows[0][2] or []
    return CompletionContext(
        assignment=target,
        assignments=[row[0] for row in rows],
        held=set(keys),
        start=start,
        end=end,
        done=[(date.fromisoformat(d), uuid.UUID(str(a)), t) for d, a, t in days if d is not None],
    )
