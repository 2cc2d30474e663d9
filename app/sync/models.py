"""Webhook endpoints, their deliveries, the dispatch cursor and sent reminders."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity
from app.core.time import utcnow


class Webhook(Entity, Base):
    __tablename__ = "webhook"

    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[Any]]
    active: Mapped[bool] = mapped_column(default=True)
    # Needed in clear to sign deliveries; shown to the caller once, never answered again.
    secret: Mapped[str] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    # The owner: the user or API client that last chose the subscription. Deliveries need the
    # owner to still hold the read scope of what the events carry (a revoked API client, a
    # deactivated or demoted admin, a scope given up: they stop).
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_by_api_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_client.id", ondelete="SET NULL"), default=None
    )
    # The owner's token scopes when it subscribed; None for endpoints older than owners.
    owner_scopes: Mapped[list[Any] | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("clinic_id", "webhook_id", "event_id"),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID]
    event_sequence: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # A worker that claimed the delivery owns it until then (a crashed worker's claim expires).
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DispatchCursor(Base):
    """A clinic's last event sequence fanned out to webhook deliveries (a row per clinic that
    has events; no foreign key, as `event` and `event_counter` have none)."""

    __tablename__ = "webhook_dispatch_cursor"

    clinic_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)


class SentReminder(Base):
    """A reminder announced once: the unique key stops a second worker from repeating it."""

    __tablename__ = "sent_reminder"
    __table_args__ = (UniqueConstraint("clinic_id", "assignment_id", "remind_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assignment.id", ondelete="CASCADE")
    )
    remind_at: Mapped[datetime]
    occurrence_due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
