"""Support signals: episodes of a client struggling, each clinic's rules, and the worker's queue."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Entity, str_enum


class ClearedBy(enum.StrEnum):
    acknowledged = "acknowledged"
    recovered = "recovered"


class SupportEpisode(Entity, Base):
    """One stretch of a client struggling: opened when a rule trips (announced once as
    `client.needs_support`), acknowledged by the care team, closed when no rule trips any more.
    At most one open episode per client: the partial unique index makes a second one fail, so
    two workers (or a retried round) can never announce one episode twice."""

    __tablename__ = "support_episode"
    __table_args__ = (
        Index(
            "uq_support_episode_open",
            "client_id",
            "clinic_id",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        Index("ix_support_episode_client_id_opened_at", "client_id", "opened_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime]
    # The rules that tripped (SupportReason dicts), as of the latest evaluation.
    reasons: Mapped[list[Any]]
    suggestion: Mapped[str] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_by: Mapped[ClearedBy | None] = mapped_column(
        str_enum(ClearedBy, "support_cleared_by"), default=None
    )


class SupportRuleSet(Entity, Base):
    """A clinic's own thresholds; a clinic without a row uses the defaults (schemas.py).
    A NULL threshold turns its rule off."""

    __tablename__ = "support_rule_set"
    __table_args__ = (UniqueConstraint("clinic_id"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    missed_in_a_row: Mapped[int | None] = mapped_column(Integer, default=None)
    hard_in_a_week: Mapped[int | None] = mapped_column(Integer, default=None)
    hard_skip_reasons: Mapped[list[Any]]
    discomfort_at_least: Mapped[int] = mapped_column(Integer)
    adherence_drop_below: Mapped[float | None] = mapped_column(Float, default=None)
    adherence_min_previous: Mapped[int] = mapped_column(Integer)


class SupportCheck(Base):
    """A client due for evaluation: queued now when their completions or assignments change,
    and for their next local midnight (when yesterday's unanswered occurrences become missed)
    after each evaluation. Claimed with FOR UPDATE SKIP LOCKED, so workers split the queue."""

    __tablename__ = "support_check"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(index=True)


class SupportCursor(Base):
    """How far the support worker has read a clinic's change feed (a row per clinic that has
    events; no foreign key, as `event` and `event_counter` have none)."""

    __tablename__ = "support_cursor"

    clinic_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
