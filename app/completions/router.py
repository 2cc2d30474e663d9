"""Completions: recording homework (offline-safe), the review queue, edits, reviews, comments."""

import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.policy import CARE, CLIENTS, EVERYONE, READ, THERAPISTS, WRITE, Policy
from app.auth.principal import Principal
from app.completions import service
from app.completions.batch import record_batch
from app.completions.export import completions_csv
from app.completions.models import Completion, CompletionStatus
from app.completions.repository import CompletionFilters, get_visible_completion
from app.completions.schemas import (
    BatchResult,
    CommentCreate,
    CommentRead,
    CompletionBatch,
    CompletionCreate,
    CompletionRead,
    CompletionUpdate,
    ReviewCreate,
)
from app.core.db import SessionDep
from app.core.errors import request_id_of
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.core.types import Instant

router = DomainRouter(tags=["completions"], responses=problem_responses(401, 403))
CompletionReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="completion"))
]
# Recorded by the client or their care team; never by an API client.
Recorder = Annotated[Principal, Depends(Policy(CARE, WRITE, audit="completion"))]
ClientRecorder = Annotated[Principal, Depends(Policy(CLIENTS, WRITE, audit="completion"))]
Reviewer = Annotated[Principal, Depends(Policy(THERAPISTS, WRITE, audit="completion"))]
CommentReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="comment"))
]
Commenter = Annotated[Principal, Depends(Policy(CARE, WRITE, audit="comment"))]


def _created(response: Response, completion: Completion, created: bool) -> CompletionRead:
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/completions/{completion.id}"
    set_etag(response, completion.version)
    return service.completion_read(completion)


@router.post(
    "/assignments/{assignment_id}/completions",
    operation_id="createCompletion",
    status_code=201,
    summary="Record a completion (done or skipped); a retry with the same id is a no-op",
    responses={
        200: {"model": CompletionRead, "description": "Replay of a stored completion."},
        **problem_responses(404, 409),
    },
)
async def create_completion(
    assignment_id: uuid.UUID,
    body: CompletionCreate,
    session: SessionDep,
    principal: Recorder,
    response: Response,
) -> CompletionRead:
    completion, created = await service.record_completion(session, principal, assignment_id, body)
    return _created(response, completion, created)


@router.post(
    "/completions/batch",
    operation_id="createCompletionBatch",
    summary="Up to 100 completions from an offline queue, each stored or refused on its own",
)
async def create_completion_batch(
    request: Request, body: CompletionBatch, session: SessionDep, principal: ClientRecorder
) -> BatchResult:
    """Answers 200 with one result per item, in order. Each item is checked and stored inside
    its own savepoint: a refused item leaves no trace and does not affect the others."""
    return await record_batch(session, principal, body.items, request_id=request_id_of(request))


CSV_MEDIA_TYPE = "text/csv"


@router.get(
    "/completions",
    operation_id="listCompletions",
    response_model=Page[CompletionRead],
    summary="List completions (the review queue with filters); `Accept: text/csv` exports",
    responses={
        200: {
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "JSON page, or a CSV file when asked for.",
        }
    },
)
async def list_completions(
    request: Request,
    session: SessionDep,
    principal: CompletionReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    assignment_id: uuid.UUID | None = None,
    status: CompletionStatus | None = None,
    reviewed: bool | None = None,
    wants_to_discuss: bool | None = None,
    risk: bool | None = None,
    completed_from: Annotated[Instant | None, Query(alias="from")] = None,
    completed_to: Annotated[Instant | None, Query(alias="to")] = None,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Any:
    filters = CompletionFilters(
        client_id=client_id,
        assignment_id=assignment_id,
        status=status,
        reviewed=reviewed,
        wants_to_discuss=wants_to_discuss,
        risk=risk,
        completed_from=completed_from,
        completed_to=completed_to,
        updated_since=params.updated_since,
    )
    if accept and CSV_MEDIA_TYPE in accept:
        stream = await completions_csv(session, principal, filters, request.app.state.sessionmaker)
        return StreamingResponse(
            stream,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="completions.csv"',
                "Cache-Control": "no-store",
            },
        )
    page = await service.list_completions(session, principal, params, filters)
    return JSONResponse(page.model_dump(mode="json"))


@router.get(
    "/completions/{completion_id}",
    operation_id="getCompletion",
    summary="One completion",
    responses=problem_responses(404),
)
async def get_completion(
    completion_id: uuid.UUID, session: SessionDep, principal: CompletionReader, response: Response
) -> CompletionRead:
    completion = await get_visible_completion(session, principal, completion_id)
    set_etag(response, completion.version)
    return service.completion_read(completion)


@router.patch(
    "/completions/{completion_id}",
    operation_id="updateCompletion",
    summary="The client edits their completion within 24 hours, until it is reviewed",
    responses=problem_responses(404, 409, 412),
)
async def update_completion(
    completion_id: uuid.UUID,
    body: CompletionUpdate,
    session: SessionDep,
    principal: ClientRecorder,
    response: Response,
    if_match: IfMatch = None,
) -> CompletionRead:
    completion = await get_visible_completion(session, principal, completion_id, for_update=True)
    check_if_match(if_match, completion.version)
    await service.update_completion(session, completion, body)
    set_etag(response, completion.version)
    return service.completion_read(completion)


@router.post(
    "/completions/{completion_id}/review",
    operation_id="reviewCompletion",
    summary="Mark a completion reviewed, optionally with a comment to the client",
    responses=problem_responses(404),
)
async def review_completion(
    completion_id: uuid.UUID,
    body: ReviewCreate,
    session: SessionDep,
    principal: Reviewer,
    response: Response,
) -> CompletionRead:
    completion = await get_visible_completion(session, principal, completion_id, for_update=True)
    await service.review_completion(session, principal, completion, body.comment)
    set_etag(response, completion.version)
    return service.completion_read(completion)


@router.get(
    "/completions/{completion_id}/comments",
    operation_id="listComments",
    summary="The conversation on a completion, oldest first",
    responses=problem_responses(404),
)
async def list_comments(
    completion_id: uuid.UUID, session: SessionDep, principal: CommentReader, params: ListParamsDep
) -> Page[CommentRead]:
    completion = await get_visible_completion(session, principal, completion_id)
    return await service.list_comments(session, completion, params)


@router.post(
    "/completions/{completion_id}/comments",
    operation_id="createComment",
    status_code=201,
    summary="Add to the conversation (the client or a therapist on the care team)",
    responses=problem_responses(404),
)
async def create_comment(
    completion_id: uuid.UUID,
    body: CommentCreate,
    session: SessionDep,
    principal: Commenter,
    response: Response,
) -> CommentRead:
    completion = await get_visible_completion(session, principal, completion_id)
    comment = await service.add_comment(session, principal, completion, body.body)
    response.headers["Location"] = f"/v1/completions/{completion.id}/comments/{comment.id}"
    return CommentRead.model_validate(comment)
