"""Template statements scoped to the principal: built-ins, the own clinic's, a client's assigned."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, column, literal, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.core.pagination import changed_since
from app.templates.definitions import TemplateDefinition, TemplateKind
from app.templates.models import (
    BUILTIN_OWNER,
    Template,
    TemplateSource,
    TemplateStatus,
    TemplateVersion,
)
from app.templates.search import normalized

# Assignments live in a higher domain; their table is named, never imported.
_assignment = table("assignment", column("template_id"), column("client_id"))


class TemplateNotFound(NotFound):
    slug = "template-not-found"


class TemplateVersionNotFound(NotFound):
    slug = "template-version-not-found"


def visible_templates(principal: Principal) -> Select[Template]:
    stmt = select(Template).where(
        or_(Template.owner == BUILTIN_OWNER, Template.clinic_id == principal.clinic_id)
    )
    if principal.is_client:
        assigned = select(_assignment.c.template_id).where(_assignment.c.client_id == principal.id)
        stmt = stmt.where(Template.id.in_(assigned))
    return stmt


class _HasTag(FunctionElement[bool]):
    """`tags` (a JSON array of strings) holds `tag`, on both engines."""

    type = Boolean()
    inherit_cache = True


@compiles(_HasTag)
def _has_tag_sqlite(element: _HasTag, compiler: Any, **kw: Any) -> str:
    # Both parts are compiled SQL (a column and a bound parameter), never caller text.
    tags, tag = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({tags}) WHERE json_each.value = {tag})"  # noqa: S608


@compiles(_HasTag, "postgresql")
def _has_tag_postgresql(element: _HasTag, compiler: Any, **kw: Any) -> str:
    tags, tag = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({tags} @> jsonb_build_array(CAST({tag} AS TEXT)))"


def has_tag(tag: str) -> ColumnElement[bool]:
    return _HasTag(Template.tags, literal(tag))


def matching_templates(
    principal: Principal,
    *,
    kind: TemplateKind | None = None,
    source: TemplateSource | None = None,
    status: TemplateStatus | None = None,
    text: str | None = None,
    tags: Sequence[str] = (),
    updated_since: datetime | None = None,
) -> Select[Template]:
    """The visible templates that match every filter given (None: no filter). `text` is found
    in the slug, title, description, kind or tags, whatever the case and accents
    (app.templates.search); a template must carry every one of `tags`."""
    stmt = visible_templates(principal)
    if kind is not None:
        stmt = stmt.where(Template.kind == kind)
    if source is not None:
        stmt = stmt.where(Template.source == source)
    if status is not None:
        stmt = stmt.where(Template.status == status)
    wanted = normalized(text) if text is not None else ""
    if wanted:
        stmt = stmt.where(Template.search_text.contains(wanted, autoescape=True))
    for tag in dict.fromkeys(tags):
        stmt = stmt.where(has_tag(tag))
    stmt = changed_since(stmt, Template.updated_at, updated_since)
    return stmt


async def get_visible_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> Template:
    template = (
        await session.execute(visible_templates(principal).where(Template.id == template_id))
    ).scalar_one_or_none()
    if template is None:
        raise TemplateNotFound("No such template.")
    return template


async def get_version(session: AsyncSession, template: Template, number: int) -> TemplateVersion:
    version = (
        await session.execute(
            select(TemplateVersion).where(
                TemplateVersion.template_id == template.id, TemplateVersion.number == number
            )
        )
    ).scalar_one_or_none()
    if version is None:
        raise TemplateVersionNotFound(f"Template has no version {number}.")
    return version


_PARSED: dict[uuid.UUID, TemplateDefinition] = {}


def definition_of(version: TemplateVersion) -> TemplateDefinition:
    """Versions are immutable, so their parsed definitions are cached by version id."""
    parsed = _PARSED.get(version.id)
    if parsed is None:
        parsed = TemplateDefinition.model_validate(version.definition)
        if len(_PARSED) >= 4096:
            _PARSED.clear()
        _PARSED[version.id] = parsed
    return parsed


async def definition_by_id(session: AsyncSession, version_id: uuid.UUID) -> TemplateDefinition:
    """The parsed definition of a version by its id; read from the database only the first
    time this process meets the version (versions never change once published)."""
    parsed = _PARSED.get(version_id)
    if parsed is not None:
        return parsed
    version = await session.get(TemplateVersion, version_id)
    if version is None:
        raise TemplateVersionNotFound("No such template version.")
    return definition_of(version)


async def definitions_by_ids(
    session: AsyncSession, version_ids: set[uuid.UUID]
) -> dict[uuid.UUID, TemplateDefinition]:
    """`definition_by_id` for many versions: the ones this process has not met yet are read
    in one statement."""
    found = {v: _PARSED[v] for v in version_ids if v in _PARSED}
    missing = version_ids - found.keys()
    if missing:
        for version in (
            await session.execute(select(TemplateVersion).where(TemplateVersion.id.in_(missing)))
        ).scalars():
            found[version.id] = definition_of(version)
    return found


def stored_definition(definition: TemplateDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json")
