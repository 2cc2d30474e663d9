"""Users and their credentials: accounts, invitations, refresh-token families, API clients."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, Entity, str_enum
from app.core.time import utcnow


class Role(enum.StrEnum):
    admin = "admin"
    therapist = "therapist"
    client = "client"


class UserStatus(enum.StrEnum):
    invited = "invited"
    active = "active"
    deactivated = "deactivated"


class User(Entity, Base):
    """One person's membership of one clinic. A person in two clinics has two rows with the same
    email, each with its own password, invitation and status, so nothing one clinic does can
    touch, reveal or test the other's account."""

    __tablename__ = "user"
    __table_args__ = (
        Index("ix_user_clinic_id_role", "clinic_id", "role"),
        # Email first: the same index finds a login's accounts by email alone.
        UniqueConstraint("email_normalized", "clinic_id"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    email: Mapped[str] = mapped_column(String(320))
    # Lower-cased copy: unique per clinic, case-insensitively, on both engines.
    email_normalized: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[UserStatus] = mapped_column(
        str_enum(UserStatus, "user_status"), default=UserStatus.invited
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class RefreshToken(Base):
    """One row per refresh token issued; a login starts a family, each rotation adds a child."""

    __tablename__ = "refresh_token"
    # The hash of 32 random bytes is unique on its own; the clinic rides along so that the
    # constraint holds inside one shard (docs/scaling.md), and the hash leads for the lookup.
    __table_args__ = (UniqueConstraint("token_hash", "clinic_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    # The scope travels with the family, so a refresh never widens a narrowed login.
    scope: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiClient(Entity, Base):
    """An integration (an EHR, a mobile backend) using OAuth2 client credentials."""

    __tablename__ = "api_client"

    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[Any]]
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Invitation(Base):
    """A one-time code that lets an invited user set a password. Only its hash is stored."""

    __tablename__ = "invitation"
    # As for refresh tokens: the code's hash is unique on its own, the clinic rides along.
    __table_args__ = (UniqueConstraint("code_hash", "clinic_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
