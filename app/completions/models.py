"""Completions (a client's answer to one occurrence), their comment threads, and achievements."""

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity, str_enum
from app.core.time import utcnow
from app.templates.definitions import TemplateKind


class CompletionStatus(enum.StrEnum):
    done = "done"
    skipped = "skipped"


class SkipReason(enum.StrEnum):
    no_time = "no_time"
    low_motivation = "low_motivation"
    too_uncomfortable = "too_uncomfortable"
    forgot = "forgot"
    unclear = "unclear"
    other = "other"


class Completion(Entity, Base):
    __tablename__ = "completion"
    __table_args__ = (
        # One completion per timed occurrence. Untimed ones have a NULL time, and NULLs never
        # collide in a unique constraint (SQLite and PostgreSQL alike), so an "any time"
        # assignment may take several completions a day. The clinic (fixed by the assignment)
        # rides along so the constraint holds inside one shard (docs/scaling.md).
        UniqueConstraint(
            "assignment_id",
            "occurrence_date",
            "occurrence_time",
            "clinic_id",
            name="uq_completion_occurrence",
        ),
        Index("ix_completion_client_id_completed_at", "client_id", "completed_at"),
        Index("ix_completion_clinic_id_updated_at", "clinic_id", "updated_at"),
        Index("ix_completion_client_id_reviewed_at", "client_id", "reviewed_at"),
        # A client's window (metrics): read by date, not through the client's whole history.
        Index("ix_completion_client_id_occurrence_date", "client_id", "occurrence_date"),
        # A client's latest scored measures (caseload): only the scored completions, newest
        # last, with what the caseload shows of them, so it reads the index alone.
        Index(
            "ix_completion_client_id_completed_at_scored",
            "client_id",
            "completed_at",
            "id",
            "template_id",
            "template_version_id",
            "score_band",
            postgresql_where=text("score_total IS NOT NULL"),
            sqlite_where=text("score_total IS NOT NULL"),
        ),
        # Open work per client (caseload) from the index alone: only unreviewed completions.
        Index(
            "ix_completion_client_id_unreviewed",
            "client_id",
            "wants_to_discuss",
            "risk",
            postgresql_where=text("reviewed_at IS NULL"),
            sqlite_where=text("reviewed_at IS NULL"),
        ),
        # Which occurrences were answered, and how (adherence), from the index alone: the
        # unique constraint's index lacks the status.
        Index(
            "ix_completion_assignment_id_answers",
            "assignment_id",
            "occurrence_date",
            "occurrence_time",
            "status",
        ),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assignment.id", ondelete="CASCADE")
    )
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template.id"))
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template_version.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    template_kind: Mapped[TemplateKind] = mapped_column(str_enum(TemplateKind, "template_kind"))
    occurrence_date: Mapped[date] = mapped_column(Date)
    occurrence_time: Mapped[str | None] = mapped_column(String(5), default=None)
    status: Mapped[CompletionStatus] = mapped_column(
        str_enum(CompletionStatus, "completion_status")
    )
    completed_at: Mapped[datetime]
    responses: Mapped[dict[str, Any]]
    mood_before: Mapped[int | None] = mapped_column(Integer, default=None)
    mood_after: Mapped[int | None] = mapped_column(Integer, default=None)
    discomfort: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    wants_to_discuss: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_reason: Mapped[SkipReason | None] = mapped_column(
        str_enum(SkipReason, "skip_reason"), default=None
    )
    skip_note: Mapped[str | None] = mapped_column(Text, default=None)
    score: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Copied out of `score` so the review queue filters on an indexed column.
    risk: Mapped[bool] = mapped_column(Boolean, default=False)
    score_total: Mapped[int | None] = mapped_column(Integer, default=None)
    score_band: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    # SHA-256 of the create request: a retry with the same id must carry the same body.
    request_hash: Mapped[str] = mapped_column(String(64))


class Comment(Entity, Base):
    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_completion_id_created_at", "completion_id", "created_at"),)

    completion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("completion.id", ondelete="CASCADE")
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    author_role: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)


class AchievementType(enum.StrEnum):
    first_completion = "first_completion"
    streak = "streak"
    first_of_kind = "first_of_kind"
    goal_step_done = "goal_step_done"
    goal_achieved = "goal_achieved"
    measure_improved = "measure_improved"


class Achievement(Base):
    """Earned once: `key` is unique per client, so a race can never award one twice. (The
    constraint names the client's clinic too, so that it holds inside one shard.)"""

    __tablename__ = "achievement"
    __table_args__ = (
        UniqueConstraint("client_id", "key", "clinic_id"),
        Index("ix_achievement_client_id_earned_at", "client_id", "earned_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    type: Mapped[AchievementType] = mapped_column(str_enum(AchievementType, "achievement_type"))
    key: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    refers_to_type: Mapped[str | None] = mapped_column(String(32), default=None)
    refers_to_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    earned_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
