"""Templates: the built-in library kept in sync, clinic templates created, cloned, versioned."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import Conflict, Forbidden, Unprocessable, field_error
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import utcnow
from app.templates.definitions import TemplateDefinition, TemplateKind, check_definition
from app.templates.library import builtin_templates
from app.templates.models import (
    BUILTIN_OWNER,
    Template,
    TemplateSource,
    TemplateStatus,
    TemplateVersion,
)
from app.templates.repository import (
    definition_of,
    get_version,
    get_visible_template,
    matching_templates,
    stored_definition,
)
from app.templates.schemas import TemplateCreate, TemplateSummary, TemplateVersionCreate
from app.templates.search import search_text

# Built-in ids are the same in every installation, so integrations can hard-code them.
BUILTIN_NAMESPACE = uuid.UUID("6f1c1b8e-7d1e-4c53-9a51-2b1f3c0e9a77")


def builtin_template_id(slug: str) -> uuid.UUID:
    return uuid.uuid5(BUILTIN_NAMESPACE, f"template:{slug}")


def builtin_version_id(slug: str, number: int) -> uuid.UUID:
    return uuid.uuid5(BUILTIN_NAMESPACE, f"template:{slug}:{number}")


class SlugTaken(Conflict):
    slug = "template-slug-taken"


class TemplateReadOnly(Forbidden):
    slug = "template-read-only"


def _search_text(template: Template, definition: TemplateDefinition) -> str:
    return search_text(
        template.slug, definition.title, definition.description, definition.kind, template.tags
    )


def _add_version(
    session: AsyncSession,
    template: Template,
    definition: TemplateDefinition,
    number: int,
    created_by: uuid.UUID | None,
    version_id: uuid.UUID | None = None,
) -> TemplateVersion:
    """Publish `definition` as version `number`; the template's headline fields and search
    text follow it (set `template.tags` first)."""
    template.version = number
    template.kind = definition.kind
    template.title = definition.title
    template.search_text = _search_text(template, definition)
    template.updated_at = utcnow()
    version = TemplateVersion(
        template_id=template.id,
        clinic_id=template.clinic_id,
        number=number,
        definition=stored_definition(definition),
        created_by_id=created_by,
    )
    if version_id is not None:
        version.id = version_id
    session.add(version)
    return version


async def sync_builtins(session: AsyncSession) -> int:
    """Make the stored built-in library match the code: new templates get version 1, changed
    ones a new version (old versions stay), changed tags (not versioned) are replaced in
    place. Returns how many versions were published."""
    published = 0
    for builtin in builtin_templates():
        template_id = builtin_template_id(builtin.slug)
        template = await session.get(Template, template_id)
        wanted = stored_definition(builtin.definition)
        if template is None:
            template = Template(
                id=template_id,
                owner=BUILTIN_OWNER,
                slug=builtin.slug,
                source=TemplateSource.builtin,
                kind=builtin.definition.kind,
                title=builtin.definition.title,
                tags=list(builtin.tags),
                version=1,
            )
            session.add(template)
            await session.flush()
            _add_version(
                session, template, builtin.definition, 1, None, builtin_version_id(builtin.slug, 1)
            )
            published += 1
            continue
        latest = await get_version(session, template, template.version)
        retagged = template.tags != list(builtin.tags)
        if retagged:
            template.tags = list(builtin.tags)
        if latest.definition != wanted:
            number = template.version + 1
            _add_version(
                session,
                template,
                builtin.definition,
                number,
                None,
                builtin_version_id(builtin.slug, number),
            )
            published += 1
        elif retagged or template.search_text != _search_text(template, builtin.definition):
            template.search_text = _search_text(template, builtin.definition)
            template.updated_at = utcnow()
    await session.flush()
    return published


async def list_templates(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    kind: TemplateKind | None = None,
    source: TemplateSource | None = None,
    status: TemplateStatus | None = None,
    text: str | None = None,
    tags: Sequence[str] = (),
) -> Page[TemplateSummary]:
    stmt = matching_templates(
        principal,
        kind=kind,
        source=source,
        status=status,
        text=text,
        tags=tags,
        updated_since=params.updated_since,
    )
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Template.id)])
    return Page(items=[TemplateSummary.model_validate(t) for t in rows], next_cursor=cursor)


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> TemplateDefinition:
    merged = {**base, **changes}
    errors = check_definition(merged, loc_prefix=("body",))
    if errors:
        raise Unprocessable("The template definition is not valid.", errors=errors)
    return TemplateDefinition.model_validate(merged)


async def create_template(
    session: AsyncSession, principal: Principal, body: TemplateCreate
) -> Template:
    base: dict[str, Any] = {}
    based_on: Template | None = None
    if body.based_on is not None:
        based_on = await get_visible_template(session, principal, body.based_on)
        base = dict((await get_version(session, based_on, based_on.version)).definition)
    changes = body.changes()
    changes.pop("slug", None)
    changes.pop("based_on", None)
    changes.pop("tags", None)
    definition = _merged(base, changes)
    owner = str(principal.clinic_id)
    taken = await session.scalar(
        select(Template.id).where(Template.owner == owner, Template.slug == body.slug)
    )
    if taken is not None:
        raise _slug_taken()
    template = Template(
        owner=owner,
        clinic_id=principal.clinic_id,
        slug=body.slug,
        source=TemplateSource.clinic,
        kind=definition.kind,
        title=definition.title,
        tags=list(body.tags if body.tags is not None else based_on.tags if based_on else []),
        based_on_id=based_on.id if based_on else None,
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(template)
    try:
        await session.flush()
    except IntegrityError:
        raise _slug_taken() from None
    _add_version(session, template, definition, 1, template.created_by_id)
    await session.flush()
    return template


def _slug_taken() -> SlugTaken:
    return SlugTaken(
        "This clinic already has a template with this slug.",
        errors=[field_error(["body", "slug"], "Already in use", "unique")],
    )


def _writable(template: Template) -> None:
    if template.source == TemplateSource.builtin:
        raise TemplateReadOnly("Built-in templates are read-only; clone one with `based_on`.")


async def publish_version(
    session: AsyncSession, principal: Principal, template: Template, body: TemplateVersionCreate
) -> TemplateVersion:
    _writable(template)
    latest = await get_version(session, template, template.version)
    changes = body.changes()
    changes.pop("tags", None)
    if "kind" in changes and changes["kind"] != latest.definition["kind"]:
        raise Unprocessable(
            "A template's kind cannot change; create a new template instead.",
            errors=[field_error(["body", "kind"], "Cannot change", "immutable")],
        )
    definition = _merged(dict(latest.definition), changes)
    if body.tags is not None:
        template.tags = list(body.tags)
    version = _add_version(
        session,
        template,
        definition,
        template.version + 1,
        None if principal.is_api_client else principal.id,
    )
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another version was published at the same time; fetch and retry.") from None
    return version


async def archive_template(session: AsyncSession, template: Template) -> None:
    _writable(template)
    if template.status != TemplateStatus.archived:
        template.status = TemplateStatus.archived
        template.updated_at = utcnow()
        await session.flush()


__all__ = [
    "archive_template",
    "create_template",
    "definition_of",
    "publish_version",
    "sync_builtins",
]
