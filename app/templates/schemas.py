"""Request and response models for templates and their versions."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.core.schemas import Schema
from app.core.types import NOT_BLANK, JsonObject
from app.templates.definitions import AnyField, Scoring, TemplateKind
from app.templates.fields import drop_type_tags
from app.templates.models import TemplateSource, TemplateStatus
from app.templates.scoring import Score
from app.templates.search import TemplateTags

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"), Field(examples=["sleep-diary"])
]


class DefinitionRead(BaseModel):
    """What one published version says: texts, fields, scoring."""

    kind: TemplateKind
    title: str
    description: str
    instructions: str
    estimated_minutes: int
    fields: list[AnyField]
    scoring: Scoring | None = None


class TemplateRead(DefinitionRead):
    id: uuid.UUID
    slug: str
    tags: list[str] = Field(
        description="Catalogue labels; `GET /v1/templates?tag=` filters by them."
    )
    source: TemplateSource
    status: TemplateStatus
    version: int = Field(description="The latest published version; assignments pin one.")
    clinic_id: uuid.UUID | None = Field(description="Null for the built-in library.")
    based_on_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class TemplateVersionRead(DefinitionRead):
    template_id: uuid.UUID
    version: int
    created_at: datetime


class TemplateSummary(BaseModel):
    """A list entry: enough to pick a template; GET one for its fields."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    kind: TemplateKind
    title: str
    tags: list[str]
    source: TemplateSource
    status: TemplateStatus
    version: int
    clinic_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DefinitionPatch(Schema):
    """Definition fields; the ones left out are taken from the base (the template's latest
    version, or `based_on`'s)."""

    kind: TemplateKind | None = None
    title: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK
            ),
        ]
        | None
    ) = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    instructions: Annotated[str, StringConstraints(max_length=20000)] | None = None
    estimated_minutes: Annotated[int, Field(strict=True, ge=1, le=600)] | None = None
    fields: Annotated[list[AnyField], Field(min_length=1, max_length=100)] | None = None
    scoring: Scoring | None = None

    _untag_fields = field_validator("fields", mode="wrap")(drop_type_tags)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class TemplateCreate(DefinitionPatch):
    slug: Slug
    based_on: uuid.UUID | None = Field(
        default=None,
        description="Clone this visible template's latest version, then apply the fields sent.",
    )
    tags: TemplateTags | None = Field(
        default=None,
        description="Catalogue labels (at most 10, each unique). Left out: `based_on`'s tags, "
        "or none.",
    )


class TemplateVersionCreate(DefinitionPatch):
    """A new version: send the fields that change; `kind` cannot change."""

    tags: TemplateTags | None = Field(
        default=None,
        description="Replace the template's tags (they belong to the template, not to one "
        "version). Left out or null: kept.",
    )


class ResponsesCheck(Schema):
    responses: JsonObject
    # Bounded like the path of getTemplateVersion: an unbounded int overflowed the query (500).
    version: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] | None = Field(
        default=None, description="Version to check against; the latest when absent."
    )


class ValidationErrorEntry(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ResponsesCheckResult(BaseModel):
    valid: bool
    version: int
    errors: list[ValidationErrorEntry]
    score: Score | None
