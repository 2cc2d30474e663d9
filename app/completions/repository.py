"""Completion statements scoped to the principal."""

import enum
import uuid
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment, AssignmentPause, AssignmentSchedule, AssignmentStatus
from app.assignments.occurrences import Timeline, TimelineRow, build_timelines
from app.assignments.repository import AssignmentNotFound, overlapping
from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows, visibility, visible_client_ids
from app.completions.models import Achievement, Comment, Completion, CompletionStatus
from app.core import audit
from app.core.errors import NotFound
from app.core.models import UTCDateTime
from app.core.pagination import changed_since
from app.core.prepared import Prepared, any_of
from app.templates.definitions import TemplateKind


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


@dataclass(frozen=True, slots=True)
class ContextAssignment:
    """The columns of an assignment that recording a completion reads (no ORM entity)."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    template_id: uuid.UUID
    template_version_id: uuid.UUID
    template_version: int
    template_kind: TemplateKind
    status: AssignmentStatus
    schedule: dict[str, Any]
    first_date: date
    last_date: date | None
    ended_at: datetime | None
    enrolment_id: uuid.UUID | None


@dataclass
class CompletionContext:
    """What recording a completion of `assignment` reads, in one statement: the assignment
    (scoped to the principal), the client's other assignments that overlap `start..end` and
    their timelines, the achievement keys the client holds among `held_types`, and the
    client's done occurrences in `start..end` and the last day done before `start` (None:
    none; then no streak reaches back before `start`)."""

    assignment: ContextAssignment
    assignments: list[ContextAssignment]
    timelines: dict[uuid.UUID, Timeline]
    held: set[str]
    start: date
    end: date
    done: list[DoneOccurrence] = field(default_factory=list)
    done_before: date | None = None


class Part(enum.IntEnum):
    """What a row of the context statement is (its `kind`)."""

    assignment = 0
    schedule = 1
    pause = 2
    held = 3
    done = 4
    done_before = 5


_ASSIGNMENT_COLUMNS = [f.name for f in fields(ContextAssignment)]
_UUID, _TEXT, _DATE, _INSTANT = Assignment.id.type, String(), Date(), UTCDateTime()
_ENUMS = {"template_kind": TemplateKind, "status": AssignmentStatus}


def _column_type(name: str) -> Any:
    """An assignment column's type in the union (enums as text; foreign keys typed before
    their mapper has resolved them)."""
    if name in _ENUMS:
        return _TEXT
    return _UUID if name.endswith("id") else Assignment.__table__.c[name].type


# The union's columns after `kind`: the assignment's, in ContextAssignment's order, then the
# timelines', the held achievements' and the done occurrences'.
_TYPES = {
    **{name: _column_type(name) for name in _ASSIGNMENT_COLUMNS},
    "starts": _INSTANT,
    "ends": _INSTANT,
    "day": _DATE,
    "at_time": _TEXT,
    "key": _TEXT,
}
# Positions in a row (0 is `kind`), read by index: a context can hold hundreds of done rows.
_AT = {name: number for number, name in enumerate(_TYPES, start=1)}
_ENUM_AT = [(_AT[name] - 1, kind) for name, kind in _ENUMS.items()]


def _part(kind: Part, **given: Any) -> Select[Any]:
    """One part of the union: `kind`, then every column of `_TYPES`, NULL where not given."""
    return select(
        literal_column(str(int(kind)), Integer()).label("kind"),
        *(
            (given[name] if name in given else cast(null(), type_)).label(name)
            for name, type_ in _TYPES.items()
        ),
    )


@cache
def _context_statement(seen_by: str) -> Prepared:
    """The context of a new completion for one visibility, every value a bound parameter: the
    client is the assignment's (if the principal sees it), found once; then the client's
    assignments in the window (or the one asked for), their schedule segments and pauses, the
    held achievement keys and the done occurrences, as the rows of one UNION ALL."""
    assignment_id = bindparam("assignment_id", type_=Assignment.id.type)
    start = bindparam("start", type_=_DATE)
    end = bindparam("end", type_=_DATE)
    target = (
        select(Assignment.client_id)
        .where(
            Assignment.id == assignment_id,
            Assignment.clinic_id == bindparam("clinic_id", type_=Assignment.clinic_id.type),
            *visible_client_ids(
                seen_by, bindparam("principal_id", type_=Assignment.id.type), Assignment.client_id
            ),
        )
        .cte("target")
    )
    window = (
        select(*(Assignment.__table__.c[name] for name in _ASSIGNMENT_COLUMNS))
        .join(target, Assignment.client_id == target.c.client_id)
        .where(or_(Assignment.id == assignment_id, overlapping(start, end)))
        .cte("window")
    )
    return Prepared(
        union_all(
            _part(
                Part.assignment,
                **{
                    name: cast(window.c[name], _TEXT) if name in _ENUMS else window.c[name]
                    for name in _ASSIGNMENT_COLUMNS
                },
            ),
            _part(
                Part.schedule,
                id=AssignmentSchedule.assignment_id,
                schedule=AssignmentSchedule.schedule,
                starts=AssignmentSchedule.effective_from,
                ends=AssignmentSchedule.effective_to,
            ).join_from(
                AssignmentSchedule, window, AssignmentSchedule.assignment_id == window.c.id
            ),
            _part(
                Part.pause,
                id=AssignmentPause.assignment_id,
                starts=AssignmentPause.paused_at,
                ends=AssignmentPause.resumed_at,
            ).join_from(AssignmentPause, window, AssignmentPause.assignment_id == window.c.id),
            _part(Part.held, key=Achievement.key)
            .join_from(Achievement, target, Achievement.client_id == target.c.client_id)
            .where(any_of(Achievement.type, "held_types")),
            _part(
                Part.done,
                id=Completion.assignment_id,
                day=Completion.occurrence_date,
                at_time=Completion.occurrence_time,
            )
            .join_from(Completion, target, Completion.client_id == target.c.client_id)
            .where(
                Completion.status == bindparam("done", type_=Completion.status.type),
                Completion.occurrence_date.between(start, end),
            ),
            _part(Part.done_before, day=_last_done_before(target, start)).select_from(target),
        ).order_by("kind", "id", "starts")
    )


def _last_done_before(target: Any, start: Any) -> Any:
    """The client's last day done before `start` (the index on client and day, read backwards)."""
    return (
        select(Completion.occurrence_date)
        .where(
            Completion.client_id == target.c.client_id,
            Completion.status == bindparam("done", type_=Completion.status.type),
            Completion.occurrence_date < start,
        )
        .order_by(Completion.occurrence_date.desc())
        .limit(1)
        .scalar_subquery()
    )


async def load_context(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    start: date,
    end: date,
    held_types: list[Any],
) -> CompletionContext:
    """The context of a new completion (see `CompletionContext`); 404 when the principal may
    not see the assignment. One prepared statement per visibility (`_context_statement`)."""
    rows = await _context_statement(visibility(principal)).fetch(
        session,
        assignment_id=assignment_id,
        clinic_id=principal.clinic_id,
        principal_id=principal.id,
        start=start,
        end=end,
        held_types=[str(t) for t in held_types],
        done=CompletionStatus.done.value,
    )
    assignments: list[ContextAssignment] = []
    timeline_rows: list[TimelineRow] = []
    held: set[str] = set()
    done: list[DoneOccurrence] = []
    done_before: date | None = None
    schedule, starts, ends, day, at_time, key = (
        _AT[name] for name in ("schedule", "starts", "ends", "day", "at_time", "key")
    )
    width = len(_ASSIGNMENT_COLUMNS)
    for row in rows:
        kind = row[0]
        if kind == Part.done:
            done.append((row[day], row[1], row[at_time]))
        elif kind == Part.assignment:
            values = list(row[1 : width + 1])
            for index, enum_type in _ENUM_AT:
                values[index] = enum_type(values[index])
            assignments.append(ContextAssignment(*values))
        elif kind == Part.held:
            held.add(row[key])
        elif kind == Part.done_before:
            done_before = row[day]
        else:
            timeline_rows.append(
                (kind == Part.schedule, row[1], row[schedule], row[starts], row[ends])
            )
    target = next((a for a in assignments if a.id == assignment_id), None)
    if target is None:
        raise AssignmentNotFound("No such assignment.")
    audit.note(client_id=target.client_id)
    return CompletionContext(
        assignment=target,
        assignments=assignments,
        timelines=build_timelines(assignments, timeline_rows),
        held=held,
        start=start,
        end=end,
        done=done,
        done_before=done_before,
    )
