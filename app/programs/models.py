"""Programs (sequenced homework): programs and their immutable versions, enrolments, and the
state row of each released step."""

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity, IdMixin, TimestampMixin, str_enum
from app.core.time import utcnow

BUILTIN_OWNER = "builtin"


class ProgramSource(enum.StrEnum):
    builtin = "builtin"
    clinic = "clinic"


class Program(IdMixin, TimestampMixin, Base):
    """A program and a copy of its latest version's headline fields, for listing.

    Reference data like `template`: built-in programs (no clinic) and each clinic's own, which
    enrolments pin by version. `version` is the latest published version, managed by the
    service (publishing, not every change, makes one)."""

    __tablename__ = "program"
    __table_args__ = (
        UniqueConstraint("owner", "slug"),
        Index("ix_program_clinic_id_updated_at", "clinic_id", "updated_at"),
    )

    # "builtin", or the owning clinic's id, as on `template`: slugs unique per owner on both
    # engines.
    owner: Mapped[str] = mapped_column(String(36))
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), default=None
    )
    slug: Mapped[str] = mapped_column(String(64))
    source: Mapped[ProgramSource] = mapped_column(str_enum(ProgramSource, "program_source"))
    title: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    based_on_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("program.id", ondelete="SET NULL"), default=None
    )
    # A plain id: a reference table keeps no foreign key to a distributed one (docs/scaling.md).
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class ProgramVersion(Base):
    """One published version (title, description, steps): immutable; enrolments keep theirs."""

    __tablename__ = "program_version"
    __table_args__ = (UniqueConstraint("program_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), default=None
    )
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class EnrolmentStatus(enum.StrEnum):
    active = "active"
    paused = "paused"
    completed = "completed"
    ended = "ended"


class Enrolment(Entity, Base):
    """A client following one version of a program. Days of the enrolment are the client's
    local days in `timezone` (the client's zone when enrolled), day 1 being `started_on`."""

    __tablename__ = "enrolment"
    __table_args__ = (
        Index("ix_enrolment_client_id_status", "client_id", "status"),
        Index("ix_enrolment_clinic_id_updated_at", "clinic_id", "updated_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("program.id"), index=True)
    program_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("program_version.id"))
    program_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[EnrolmentStatus] = mapped_column(
        str_enum(EnrolmentStatus, "enrolment_status"), default=EnrolmentStatus.active
    )
    timezone: Mapped[str] = mapped_column(String(64))
    started_on: Mapped[date] = mapped_column(Date)
    # When the worker next has a time-based step to release (null: nothing is due by time).
    next_release_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class StepState(enum.StrEnum):
    locked = "locked"
    released = "released"
    completed = "completed"
    skipped = "skipped"


class EnrolmentStep(Base):
    """A step of an enrolment that has left `locked`: written when the step is released (or
    skipped before its release). The unique (enrolment, position) key is what makes a release
    happen once: a second completion, worker or retried round inserting it finds it taken."""

    __tablename__ = "enrolment_step"
    __table_args__ = (
        UniqueConstraint(
            "enrolment_id", "position", "clinic_id", name="uq_enrolment_step_position"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolment.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[StepState] = mapped_column(str_enum(StepState, "enrolment_step_state"))
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assignment.id", ondelete="SET NULL"), default=None, index=True
    )
    # Copied from the step: the done completions that complete it (null: its last occurrence).
    completions_needed: Mapped[int | None] = mapped_column(Integer, default=None)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    # When it became completed or skipped.
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
