"""Therapy groups: facilitators, dated membership, the group's homework (one assignment per
member) and what members chose to share with the group."""

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity, TimestampMixin, str_enum
from app.core.time import utcnow


class GroupStatus(enum.StrEnum):
    active = "active"
    archived = "archived"


class TherapyGroup(Entity, Base):
    """A group of the clinic's clients that practises together (a DBT skills group, say)."""

    __tablename__ = "therapy_group"
    __table_args__ = (Index("ix_therapy_group_clinic_id_updated_at", "clinic_id", "updated_at"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[GroupStatus] = mapped_column(
        str_enum(GroupStatus, "group_status"), default=GroupStatus.active
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class GroupFacilitator(Base):
    """A therapist of the clinic who runs the group."""

    __tablename__ = "group_facilitator"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("therapy_group.id", ondelete="CASCADE"), primary_key=True
    )
    therapist_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMembership(TimestampMixin, Base):
    """One stint of a client in the group: a member on the local days from `joined_on` up to,
    not including, `left_on` (null: still a member). Rejoining opens a new row."""

    __tablename__ = "group_membership"
    __table_args__ = (Index("ix_group_membership_group_id_client_id", "group_id", "client_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    # The name the member shows to the group (null until chosen: nothing can be shared).
    display_name: Mapped[str | None] = mapped_column(String(60), default=None)
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date, default=None)


class GroupAssignmentStatus(enum.StrEnum):
    active = "active"
    ended = "ended"


class GroupAssignment(Entity, Base):
    """Homework given to the group: each member has their own assignment of it, from the later
    of its start and their join date, in their own time zone unless the schedule names one."""

    __tablename__ = "group_assignment"

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template.id"), index=True)
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template_version.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    instructions: Mapped[str] = mapped_column(Text, default="")
    estimated_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    # As sent (`timezone` absent: each member's own zone).
    schedule: Mapped[dict[str, Any]]
    reminders: Mapped[dict[str, Any]]
    status: Mapped[GroupAssignmentStatus] = mapped_column(
        str_enum(GroupAssignmentStatus, "group_assignment_status"),
        default=GroupAssignmentStatus.active,
    )
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class ShareKind(enum.StrEnum):
    completion = "completion"
    achievement = "achievement"


class HiddenReason(enum.StrEnum):
    # A facilitator hid it.
    facilitator = "facilitator"
    # Shared from a completion flagged for risk: a facilitator looks first.
    held_for_review = "held_for_review"


class GroupShare(Base):
    """What a member chose to show the group: a copy of the fields they picked, taken when they
    shared it. Withdrawing deletes the row; nothing of it is kept."""

    __tablename__ = "group_share"
    __table_args__ = (
        UniqueConstraint(
            "group_id", "completion_id", "clinic_id", name="uq_group_share_completion"
        ),
        UniqueConstraint(
            "group_id", "achievement_id", "clinic_id", name="uq_group_share_achievement"
        ),
        Index("ix_group_share_group_id_created_at", "group_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ShareKind] = mapped_column(str_enum(ShareKind, "group_share_kind"))
    completion_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("completion.id", ondelete="CASCADE"), default=None, index=True
    )
    achievement_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("achievement.id", ondelete="CASCADE"), default=None, index=True
    )
    content: Mapped[dict[str, Any]]
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[HiddenReason | None] = mapped_column(
        str_enum(HiddenReason, "group_share_hidden_reason"), default=None
    )
    moderated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    moderated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
