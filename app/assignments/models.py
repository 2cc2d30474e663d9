"""Assignments (homework given to a client), their schedule history and pauses."""

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity, str_enum
from app.templates.definitions import TemplateKind


class AssignmentStatus(enum.StrEnum):
    active = "active"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


FINAL_STATUSES = frozenset({AssignmentStatus.completed, AssignmentStatus.cancelled})


class Assignment(Entity, Base):
    __tablename__ = "assignment"
    __table_args__ = (
        Index("ix_assignment_client_id_status", "client_id", "status"),
        Index("ix_assignment_clinic_id_updated_at", "clinic_id", "updated_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template.id"), index=True)
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template_version.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    # A template's kind never changes, so it is copied here for agendas and metrics by kind.
    template_kind: Mapped[TemplateKind] = mapped_column(str_enum(TemplateKind, "template_kind"))
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    # The goal this homework serves (goals live a floor above and are named, not imported).
    goal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("goal.id", ondelete="SET NULL"), default=None, index=True
    )
    estimated_minutes: Mapped[int] = mapped_column(Integer)
    # The program enrolment whose step this is (programs live a floor above and are named, not
    # imported): a completion reads it with the assignment, so homework outside a program pays
    # nothing for program releases.
    enrolment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("enrolment.id", ondelete="SET NULL"), default=None, index=True
    )
    # The group homework this is a member's copy of (groups live a floor above, named here).
    group_assignment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("group_assignment.id", ondelete="SET NULL"), default=None, index=True
    )
    # The current schedule (time zone resolved) and reminders; history is in assignment_schedule.
    schedule: Mapped[dict[str, Any]]
    reminders: Mapped[dict[str, Any]]
    status: Mapped[AssignmentStatus] = mapped_column(
        str_enum(AssignmentStatus, "assignment_status"), default=AssignmentStatus.active
    )
    # Bounds of every schedule this assignment ever had, so a window query can skip the rest.
    first_date: Mapped[date] = mapped_column(Date)
    last_date: Mapped[date | None] = mapped_column(Date, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the worker next announces a reminder (null when none is due or it is not active).
    next_reminder_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class AssignmentSchedule(Base):
    """A schedule in force from `effective_from` until `effective_to`: changing a schedule
    closes the current row and opens a new one, so the past keeps its occurrences."""

    __tablename__ = "assignment_schedule"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assignment.id", ondelete="CASCADE"), index=True
    )
    schedule: Mapped[dict[str, Any]]
    effective_from: Mapped[datetime]
    effective_to: Mapped[datetime | None] = mapped_column(default=None)


class AssignmentPause(Base):
    """A paused interval: occurrences due inside it are neither due nor missed."""

    __tablename__ = "assignment_pause"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assignment.id", ondelete="CASCADE"), index=True
    )
    paused_at: Mapped[datetime]
    resumed_at: Mapped[datetime | None] = mapped_column(default=None)
