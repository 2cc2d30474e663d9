"""Goals broken into small steps."""

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Entity, str_enum


class GoalStatus(enum.StrEnum):
    active = "active"
    achieved = "achieved"
    abandoned = "abandoned"


class Goal(Entity, Base):
    __tablename__ = "goal"
    __table_args__ = (
        Index("ix_goal_client_id_status", "client_id", "status"),
        Index("ix_goal_clinic_id_updated_at", "clinic_id", "updated_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    why: Mapped[str] = mapped_column(Text, default="")
    target_date: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[GoalStatus] = mapped_column(
        str_enum(GoalStatus, "goal_status"), default=GoalStatus.active
    )
    achieved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class GoalStep(Entity, Base):
    __tablename__ = "goal_step"
    __table_args__ = (Index("ix_goal_step_goal_id_position", "goal_id", "position"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    position: Mapped[int] = mapped_column(Integer)
