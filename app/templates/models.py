"""Templates and their immutable published versions."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, IdMixin, JSONType, TimestampMixin, str_enum
from app.core.time import utcnow
from app.templates.definitions import TemplateKind

BUILTIN_OWNER = "builtin"


class TemplateSource(enum.StrEnum):
    builtin = "builtin"
    clinic = "clinic"


class TemplateStatus(enum.StrEnum):
    active = "active"
    archived = "archived"


class Template(IdMixin, TimestampMixin, Base):
    """A template and a copy of its latest version's headline fields for listing and search.

    `version` is the latest *published* version (what assignments pin). It is managed by the
    service, not by the ORM's version counter: archiving changes `status`, not the version."""

    __tablename__ = "template"
    __table_args__ = (
        UniqueConstraint("owner", "slug"),
        Index("ix_template_clinic_id_updated_at", "clinic_id", "updated_at"),
    )

    # "builtin", or the owning clinic's id: one column makes slugs unique per owner on both
    # engines (a NULL clinic_id would not take part in a unique constraint on PostgreSQL).
    owner: Mapped[str] = mapped_column(String(36))
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), default=None
    )
    slug: Mapped[str] = mapped_column(String(64))
    source: Mapped[TemplateSource] = mapped_column(str_enum(TemplateSource, "template_source"))
    status: Mapped[TemplateStatus] = mapped_column(
        str_enum(TemplateStatus, "template_status"), default=TemplateStatus.active
    )
    kind: Mapped[TemplateKind] = mapped_column(str_enum(TemplateKind, "template_kind"))
    title: Mapped[str] = mapped_column(String(200))
    # Catalogue labels (app.templates.search.TemplateTags); they belong to the template, not to
    # a version. Filtered with `?tag=` (repository.has_tag).
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    # What `?q=` searches: slug, title, description, kind and tags, normalized by
    # app.templates.search; written by the service with every version and retagging.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    based_on_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("template.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class TemplateVersion(Base):
    """One published version: immutable, readable forever (assignments and completions pin it)."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template.id", ondelete="CASCADE"))
    # The template's clinic (None for the built-in library), copied so that every row of a
    # clinic's data names its clinic (docs/scaling.md).
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), default=None
    )
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
