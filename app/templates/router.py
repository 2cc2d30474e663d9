"""Templates: the built-in library and the clinic's own, their versions, and a dry-run validator."""

import uuid
from typing import Annotated

from fastapi import Path, Query, Response

from app.auth.policy import CatalogueAuthor, CatalogueReader
from app.core.db import SessionDep
from app.core.etag import set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.templates import service
from app.templates.definitions import TemplateKind
from app.templates.models import Template, TemplateSource, TemplateStatus, TemplateVersion
from app.templates.repository import (
    definition_of,
    get_version,
    get_visible_template,
)
from app.templates.schemas import (
    ResponsesCheck,
    ResponsesCheckResult,
    TemplateCreate,
    TemplateRead,
    TemplateSummary,
    TemplateVersionCreate,
    TemplateVersionRead,
)
from app.templates.scoring import score_responses
from app.templates.search import MAX_TAGS, Tag
from app.templates.validation import validate_responses

router = DomainRouter(tags=["templates"], responses=problem_responses(401, 403))


def template_read(template: Template, version: TemplateVersion) -> TemplateRead:
    definition = definition_of(version)
    return TemplateRead(
        **definition.model_dump(),
        id=template.id,
        slug=template.slug,
        tags=template.tags,
        source=template.source,
        status=template.status,
        version=template.version,
        clinic_id=template.clinic_id,
        based_on_id=template.based_on_id,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


def version_read(template: Template, version: TemplateVersion) -> TemplateVersionRead:
    return TemplateVersionRead(
        **definition_of(version).model_dump(),
        template_id=template.id,
        version=version.number,
        created_at=version.created_at,
    )


def _etag(response: Response, template: Template) -> None:
    # The published version names the content; the status is part of the resource too.
    response.headers["ETag"] = f'"{template.version}-{template.status.value}"'


@router.get(
    "/templates", operation_id="listTemplates", summary="List the templates the caller can use"
)
async def list_templates(
    session: SessionDep,
    principal: CatalogueReader,
    params: ListParamsDep,
    kind: TemplateKind | None = None,
    source: TemplateSource | None = None,
    status: TemplateStatus | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Text found in the slug, title, description, kind or tags, ignoring "
            "case and accents (`q=gratitude`, `q=angste` finds `Ängste`).",
        ),
    ] = None,
    tag: Annotated[
        list[Tag] | None,
        Query(
            max_length=MAX_TAGS,
            description="Only templates carrying this tag; repeat it (`tag=cbt&tag=sleep`) "
            "for templates carrying every one.",
        ),
    ] = None,
) -> Page[TemplateSummary]:
    return await service.list_templates(
        session,
        principal,
        params,
        kind=kind,
        source=source,
        status=status,
        text=q,
        tags=tag or (),
    )


@router.post(
    "/templates",
    operation_id="createTemplate",
    status_code=201,
    summary="Create a clinic template, from scratch or `based_on` another",
    responses=problem_responses(404, 409),
)
async def create_template(
    body: TemplateCreate, session: SessionDep, principal: CatalogueAuthor, response: Response
) -> TemplateRead:
    template = await service.create_template(session, principal, body)
    response.headers["Location"] = f"/v1/templates/{template.id}"
    _etag(response, template)
    return template_read(template, await get_version(session, template, template.version))


@router.get(
    "/templates/{template_id}",
    operation_id="getTemplate",
    summary="A template with its latest published version",
    responses=problem_responses(404),
)
async def get_template(
    template_id: uuid.UUID, session: SessionDep, principal: CatalogueReader, response: Response
) -> TemplateRead:
    template = await get_visible_template(session, principal, template_id)
    _etag(response, template)
    return template_read(template, await get_version(session, template, template.version))


@router.get(
    "/templates/{template_id}/versions/{version}",
    operation_id="getTemplateVersion",
    summary="One published version (immutable)",
    responses=problem_responses(404),
)
async def get_template_version(
    template_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: SessionDep,
    principal: CatalogueReader,
    response: Response,
) -> TemplateVersionRead:
    template = await get_visible_template(session, principal, template_id)
    found = await get_version(session, template, version)
    set_etag(response, found.number)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return version_read(template, found)


@router.post(
    "/templates/{template_id}/versions",
    operation_id="publishTemplateVersion",
    status_code=201,
    summary="Publish a new version of a clinic template (send what changes)",
    responses=problem_responses(404, 409),
)
async def publish_template_version(
    template_id: uuid.UUID,
    body: TemplateVersionCreate,
    session: SessionDep,
    principal: CatalogueAuthor,
    response: Response,
) -> TemplateVersionRead:
    template = await get_visible_template(session, principal, template_id)
    version = await service.publish_version(session, principal, template, body)
    response.headers["Location"] = f"/v1/templates/{template.id}/versions/{version.number}"
    return version_read(template, version)


@router.post(
    "/templates/{template_id}/archive",
    operation_id="archiveTemplate",
    summary="Archive a clinic template: no new assignments; existing ones keep working",
    responses=problem_responses(404),
)
async def archive_template(
    template_id: uuid.UUID, session: SessionDep, principal: CatalogueAuthor, response: Response
) -> TemplateRead:
    template = await get_visible_template(session, principal, template_id)
    await service.archive_template(session, template)
    _etag(response, template)
    return template_read(template, await get_version(session, template, template.version))


@router.post(
    "/templates/{template_id}/validate",
    operation_id="validateTemplateResponses",
    summary="Dry run: check a `responses` object and score it, storing nothing",
    responses=problem_responses(404),
)
async def validate_template_responses(
    template_id: uuid.UUID, body: ResponsesCheck, session: SessionDep, principal: CatalogueReader
) -> ResponsesCheckResult:
    """Always 200 for a visible template: `valid` says whether a completion with these
    responses would be accepted, `errors` lists each problem as a completion's 422 would."""
    template = await get_visible_template(session, principal, template_id)
    version = await get_version(session, template, body.version or template.version)
    definition = definition_of(version)
    clean, errors = validate_responses(definition, body.responses)
    return ResponsesCheckResult(
        valid=not errors,
        version=version.number,
        errors=errors,
        score=score_responses(definition, clean) if not errors else None,
    )
