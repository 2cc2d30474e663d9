"""Completion statements scoped to the principal."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.completions.models import Comment, Completion, CompletionStatus
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
