"""Clinics (tenants), care teams and client external ids."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity
from app.core.time import utcnow


class Clinic(Entity, Base):
    __tablename__ = "clinic"

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class CareTeamMember(Base):
    """A therapist works with a client. Both belong to the same clinic."""

    __tablename__ = "care_team_member"
    __table_args__ = (
        Index("ix_care_team_member_therapist_id_client_id", "therapist_id", "client_id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    therapist_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientExternalId(Base):
    """An EHR's id for a client: unique per clinic and system."""

    __tablename__ = "client_external_id"
    __table_args__ = (UniqueConstraint("clinic_id", "system", "value"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
