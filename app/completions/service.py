"""Recording completions so that retries never lose or double one; edits, reviews, comments."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment, AssignmentStatus
from app.assignments.occurrences import Timeline, load_timelines
from app.assignments.recurrence import Occurrence
from app.assignments.schedules import parse_hhmm
from app.auth.principal import Principal
from app.completions.achievements import CONTEXT_DAYS, HELD_TYPES, prepare_awards
from app.completions.models import Comment, Completion, CompletionStatus
from app.completions.repository import (
    CompletionContext,
    CompletionFilters,
    ContextAssignment,
    comments_of,
    load_context,
    matching_completions,
)
from app.completions.schemas import CommentRead, CompletionCreate, CompletionRead, CompletionUpdate
from app.core.db import entity_at_commit
from app.core.errors import AppError, Conflict, Forbidden, Unprocessable, field_error
from app.core.ids import new_id
from app.core.outbox import emit, record_event
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import local_day, utcnow
from app.programs.release import on_completion, on_completion_undone
from app.templates.repository import definition_by_id
from app.templates.scoring import score_responses
from app.templates.validation import validate_responses

OFFLINE_WINDOW = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)
EDIT_WINDOW = timedelta(hours=24)


class CompletionConflict(Conflict):
    slug = "completion-conflict"


class AssignmentNotActive(Conflict):
    slug = "assignment-not-active"


class OccurrenceTaken(Conflict):
    slug = "occurrence-already-completed"


def _invalid(detail: str, loc: list[str | int], type_: str) -> Unprocessable:
    return Unprocessable(detail, errors=[field_error(loc, detail, type_)])


def request_hash(assignment_id: uuid.UUID, body: CompletionCreate) -> str:
    canonical = json.dumps(
        {"assignment_id": str(assignment_id), **body.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def completion_read(completion: Completion) -> CompletionRead:
    return CompletionRead.model_validate(completion, from_attributes=True)


async def list_completions(
    session: AsyncSession, principal: Principal, params: ListParams, filters: CompletionFilters
) -> Page[CompletionRead]:
    stmt = matching_completions(principal, filters)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Completion.id)])
    return Page(items=[completion_read(c) for c in rows], next_cursor=cursor)


async def list_comments(
    session: AsyncSession, completion: Completion, params: ListParams
) -> Page[CommentRead]:
    """The conversation on a completion, oldest first."""
    stmt = comments_of(completion, updated_since=params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Comment.id)])
    return Page(items=[CommentRead.model_validate(c) for c in rows], next_cursor=cursor)


def _check_clock(completed_at: datetime, now: datetime) -> None:
    if completed_at > now + CLOCK_SKEW:
        raise _invalid(
            "completed_at is more than 5 minutes in the future.", ["body", "completed_at"], "future"
        )
    if completed_at < now - OFFLINE_WINDOW:
        raise _invalid(
            "completed_at is more than 30 days in the past.", ["body", "completed_at"], "too_old"
        )


def _find_occurrence(
    assignment: ContextAssignment, timeline: Timeline, body: CompletionCreate
) -> Occurrence:
    tz = ZoneInfo(assignment.schedule["timezone"])
    local_day = body.completed_at.astimezone(tz).date()
    day = body.occurrence_date or local_day
    if day > local_day + timedelta(days=1):
        raise _invalid(
            "The occurrence is more than a day ahead of completed_at.",
            ["body", "occurrence_date"],
            "future",
        )
    that_day = [o for o in timeline.occurrences(day, day)]
    if not that_day:
        raise _invalid(
            "The assignment has no occurrence on this date.",
            ["body", "occurrence_date"],
            "no_occurrence",
        )
    wanted: time | None = parse_hhmm(body.occurrence_time) if body.occurrence_time else None
    timed = [o for o in that_day if o.local_time is not None]
    if timed:
        if wanted is None:
            if len(timed) > 1:
                raise _invalid(
                    "This day has several timed occurrences; say which one.",
                    ["body", "occurrence_time"],
                    "missing",
                )
            wanted = timed[0].local_time
        match = next((o for o in timed if o.local_time == wanted), None)
        if match is None:
            raise _invalid(
                "The assignment has no occurrence at this time.",
                ["body", "occurrence_time"],
                "no_occurrence",
            )
    else:
        if wanted is not None:
            raise _invalid(
                "This schedule has no times; leave occurrence_time out.",
                ["body", "occurrence_time"],
                "untimed",
            )
        match = that_day[0]
    if match.suspended:
        raise AssignmentNotActive("The assignment was paused at that occurrence.")
    return match


def _check_answers(
    definition: Any, status: CompletionStatus, fields: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validated responses and score for a done completion; skips carry no answers."""
    if status == CompletionStatus.skipped:
        errors = []
        if fields.get("responses"):
            errors.append(
                field_error(
                    ["body", "responses"], "A skipped completion carries no responses.", "skipped"
                )
            )
        if fields.get("skip_reason") is None:
            errors.append(
                field_error(["body", "skip_reason"], "Say why it was skipped.", "missing")
            )
        if errors:
            raise Unprocessable("The skipped completion is not valid.", errors=errors)
        return {}, None
    if fields.get("skip_reason") is not None or fields.get("skip_note") is not None:
        raise _invalid(
            "Only a skipped completion has a skip reason.", ["body", "skip_reason"], "not_skipped"
        )
    clean, errors = validate_responses(definition, fields.get("responses") or {})
    if errors:
        raise Unprocessable("The responses do not fit the template.", errors=errors)
    score = score_responses(definition, clean)
    return clean, score.model_dump(mode="json") if score else None


def _score_columns(score: dict[str, Any] | None) -> dict[str, Any]:
    """A completion's score and the columns copied out of it (risk, total, band), which the
    metrics and the risk index read without parsing the JSON."""
    return {
        "score": score,
        "risk": bool(score and score["risk"]),
        "score_total": score["total"] if score else None,
        "score_band": score["band"] if score else None,
    }


async def _replay(
    session: AsyncSession, completion_id: uuid.UUID, assignment: ContextAssignment, digest: str
) -> Completion | None:
    existing = await session.get(Completion, completion_id, populate_existing=True)
    if existing is None:
        return None
    if existing.assignment_id != assignment.id:
        # Another assignment's completion, perhaps another clinic's: say only that the id is
        # taken, never point at a resource the caller may not see.
        raise CompletionConflict("This id is taken; create the completion with another id.")
    if existing.request_hash != digest:
        raise CompletionConflict(
            "A completion with this id exists with a different body.", existing_id=str(existing.id)
        )
    return existing


async def _occurrence_taken(
    session: AsyncSession, assignment: ContextAssignment, occ: Occurrence
) -> None:
    if occ.local_time is None:
        return
    existing = await session.scalar(
        select(Completion.id).where(
            Completion.assignment_id == assignment.id,
            Completion.occurrence_date == occ.local_date,
            Completion.occurrence_time == occ.time_text,
        )
    )
    if existing is not None:
        raise OccurrenceTaken(
            "This occurrence already has a completion.", existing_id=str(existing)
        )


async def record_completion(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID, body: CompletionCreate
) -> tuple[Completion, bool]:
    """Store a completion of the assignment (404 unless the principal sees it), or find the
    one this exact request already stored. Returns the completion and whether it was created
    now.

    What it reads comes in one statement: the context (the assignment, the client's
    assignments and their timelines, held achievements and done days: `load_context`).

    The insert itself tells whether the id (or the occurrence) is taken: INSERT ... ON CONFLICT
    DO NOTHING RETURNING, one statement where a lookup, a savepoint, the insert and its release
    were four. A retry of a stored completion is recognised when the insert finds it, or when
    a check refuses it (the assignment has ended since, the occurrence is taken by the stored
    one...): it is answered with the stored completion as before."""
    utc_today = utcnow().date()
    context = await load_context(
        session,
        principal,
        assignment_id,
        utc_today - timedelta(days=CONTEXT_DAYS),
        utc_today + timedelta(days=1),
        HELD_TYPES,
    )
    assignment = context.assignment
    digest = request_hash(assignment.id, body)
    try:
        completion = await _create(session, principal, context, body, digest)
    except AppError:
        if body.id is not None and (found := await _replay(session, body.id, assignment, digest)):
            return found, False
        raise
    return completion, True


async def _create(
    session: AsyncSession,
    principal: Principal,
    context: CompletionContext,
    body: CompletionCreate,
    digest: str,
) -> Completion:
    assignment = context.assignment
    if assignment.status != AssignmentStatus.active:
        raise AssignmentNotActive(
            f"The assignment is {assignment.status}; it takes no completions."
        )
    now = utcnow()
    _check_clock(body.completed_at, now)
    today = local_day(now, assignment.schedule["timezone"])
    # The awards are prepared first, from the context: this assignment's timeline (which finds
    # the occurrence) and what a streak needs came in the same statement.
    awards = prepare_awards(context, today, done=body.status == CompletionStatus.done)
    occ = _find_occurrence(assignment, awards.timeline, body)
    definition = await definition_by_id(session, assignment.template_version_id)
    fields = body.model_dump(exclude={"id", "completed_at", "occurrence_date", "occurrence_time"})
    responses, score = _check_answers(definition, body.status, fields)
    values = {
        **fields,
        "id": body.id if body.id is not None else new_id(),
        "clinic_id": assignment.clinic_id,
        "client_id": assignment.client_id,
        "assignment_id": assignment.id,
        "template_id": assignment.template_id,
        "template_version_id": assignment.template_version_id,
        "template_version": assignment.template_version,
        "template_kind": assignment.template_kind,
        "occurrence_date": occ.local_date,
        "occurrence_time": occ.time_text,
        "completed_at": body.completed_at.astimezone(UTC),
        "request_hash": digest,
        "recorded_by_id": principal.id if principal.is_therapist else None,
        "responses": responses,
        **_score_columns(score),
    }
    # Sent with the commit's one statement: what follows (awards, a program step's count and
    # release) reads no completion row.
    completion = await entity_at_commit(session, Completion, values)
    if completion is None:
        # Taken, by a retry's first attempt (the caller replays it) or by a concurrent
        # completion of the same occurrence.
        await _occurrence_taken(session, assignment, occ)
        raise CompletionConflict("A completion with this id or for this occurrence exists.")
    await awards.grant(session, completion)
    _emit(session, "completion.created", completion, was_risky=False)
    if assignment.enrolment_id is not None and completion.status == CompletionStatus.done:
        # A program step (known from the row already loaded): may release the next step, in
        # this transaction. Other homework pays nothing here.
        await on_completion(session, assignment, awards.timeline, occ)
    return completion


async def update_completion(
    session: AsyncSession, completion: Completion, body: CompletionUpdate
) -> None:
    if completion.reviewed_at is not None:
        raise CompletionConflict("A reviewed completion cannot be edited.")
    if utcnow() - completion.created_at > EDIT_WINDOW:
        raise Forbidden("Completions can be edited for 24 hours after they were recorded.")
    was_risky = completion.risk
    changes = body.model_dump(exclude_unset=True)
    # A null status or wants_to_discuss leaves it as it is (neither can be empty; were 500s).
    for name in ("status", "wants_to_discuss"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    previous_status = CompletionStatus(completion.status)
    status = CompletionStatus(changes.get("status", completion.status))
    if status != completion.status:
        # Switching between done and skipped drops what only the other kind carries.
        if status == CompletionStatus.done:
            changes.setdefault("skip_reason", None)
            changes.setdefault("skip_note", None)
        else:
            changes.setdefault("responses", {})
    merged = {
        "responses": completion.responses,
        "skip_reason": completion.skip_reason,
        "skip_note": completion.skip_note,
        **changes,
    }
    definition = await definition_by_id(session, completion.template_version_id)
    responses, score = _check_answers(definition, status, merged)
    for name, value in changes.items():
        setattr(completion, name, value)
    completion.responses = responses
    for name, value in _score_columns(score).items():
        setattr(completion, name, value)
    await session.flush()
    _emit(session, "completion.updated", completion, was_risky=was_risky)
    if status != previous_status:
        await _recount_program_step(session, completion, done=status == CompletionStatus.done)


async def _recount_program_step(session: AsyncSession, completion: Completion, done: bool) -> None:
    """A completion of a program step's assignment changed between done and skipped: the step
    counts it (and may release the next step), or no longer counts it."""
    assignment = await session.get(Assignment, completion.assignment_id)
    if assignment is None or assignment.enrolment_id is None:
        return
    if not done:
        await on_completion_undone(session, assignment)
        return
    day = completion.occurrence_date
    timeline = (await load_timelines(session, [assignment]))[assignment.id]
    wanted = parse_hhmm(completion.occurrence_time) if completion.occurrence_time else None
    occurrence = next((o for o in timeline.occurrences(day, day) if o.local_time == wanted), None)
    if occurrence is not None:
        await on_completion(session, assignment, timeline, occurrence)


async def review_completion(
    session: AsyncSession, principal: Principal, completion: Completion, comment: str | None
) -> None:
    if completion.reviewed_at is None:
        completion.reviewed_at = utcnow()
        completion.reviewed_by_id = principal.id
    if comment:
        await add_comment(session, principal, completion, comment)
    await session.flush()
    _emit(session, "completion.reviewed", completion, was_risky=completion.risk)


async def add_comment(
    session: AsyncSession, principal: Principal, completion: Completion, body: str
) -> Comment:
    comment = Comment(
        completion_id=completion.id,
        clinic_id=completion.clinic_id,
        client_id=completion.client_id,
        author_id=principal.id,
        author_role=principal.actor_role,
        body=body,
    )
    session.add(comment)
    await session.flush()
    record_event(
        session,
        "comment.created",
        resource_type="comment",
        resource_id=comment.id,
        clinic_id=comment.clinic_id,
        client_id=comment.client_id,
        payload=CommentRead.model_validate(comment).model_dump(mode="json"),
    )
    return comment


def _emit(session: AsyncSession, type_: str, completion: Completion, *, was_risky: bool) -> None:
    read = completion_read(completion)
    emit(session, type_, read)
    if completion.risk and not was_risky:
        # A separate event, so an integration can route risk to whoever is on call.
        emit(session, "completion.risk_flagged", read)
