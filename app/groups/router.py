"""Therapy groups: the group, its members, its homework, what facilitators see of it, and
what members share with each other."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response

from app.auth.policy import CLIENTS, EVERYONE, READ, STAFF, WRITE, Policy
from app.auth.principal import Principal
from app.completions.schemas import CompletionRead
from app.core.db import SessionDep
from app.core.etag import IfMatch, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.groups import service, sharing
from app.groups.models import GroupStatus
from app.groups.repository import get_visible_group
from app.groups.schemas import (
    GroupAssignmentCreate,
    GroupAssignmentRead,
    GroupAssignmentUpdate,
    GroupCreate,
    GroupMetrics,
    GroupRead,
    GroupUpdate,
    MemberAdd,
    MembershipRead,
    MemberUpdate,
    ShareCreate,
    ShareModeration,
    ShareRead,
)

router = DomainRouter(tags=["groups"], responses=problem_responses(401, 403))
# Who sees a group at all is the statements' business (repository.py): admins and API
# clients the clinic's, a therapist those they facilitate, a client those they are in.
# Audited: which groups a client is in says something about them.
GroupReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="group"))]
GroupAuthor = Annotated[Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="group"))]
# Memberships are client data: a client reaches only their own (leaving, their display name).
MemberReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="group_membership"))
]
MemberAdmitter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="group_membership"))
]
MemberWriter = Annotated[
    Principal, Depends(Policy(EVERYONE, WRITE, api_clients=True, audit="group_membership"))
]
# The group's homework and the members' work on it: facilitators, admins and API clients.
HomeworkReader = Annotated[
    Principal, Depends(Policy(STAFF, READ, api_clients=True, audit="group_assignment"))
]
HomeworkWriter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="group_assignment"))
]
# Peer sharing is between people: members share and withdraw, facilitators moderate; no API
# client reads it (it is not part of the clinical record).
ShareReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, audit="group_share"))]
ShareAuthor = Annotated[Principal, Depends(Policy(CLIENTS, WRITE, audit="group_share"))]
ShareModerator = Annotated[Principal, Depends(Policy(STAFF, WRITE, audit="group_share"))]


@router.post(
    "/groups",
    operation_id="createGroup",
    status_code=201,
    summary="Create a therapy group (a therapist creating it facilitates it)",
    responses=problem_responses(),
)
async def create_group(
    body: GroupCreate, session: SessionDep, principal: GroupAuthor, response: Response
) -> GroupRead:
    read = await service.create_group(session, principal, body)
    response.headers["Location"] = f"/v1/groups/{read.id}"
    set_etag(response, read.version)
    return read


@router.get("/groups", operation_id="listGroups", summary="The groups the caller is part of")
async def list_groups(
    session: SessionDep,
    principal: GroupReader,
    params: ListParamsDep,
    status: GroupStatus | None = None,
) -> Page[GroupRead]:
    return await service.list_groups(session, principal, params, status)


@router.get(
    "/groups/{group_id}",
    operation_id="getGroup",
    summary="A group",
    responses=problem_responses(404),
)
async def get_group(
    group_id: uuid.UUID, session: SessionDep, principal: GroupReader, response: Response
) -> GroupRead:
    read = await service.group_read(session, await get_visible_group(session, principal, group_id))
    set_etag(response, read.version)
    return read


@router.patch(
    "/groups/{group_id}",
    operation_id="updateGroup",
    summary="Rename, change facilitators, or archive a group (send what changes)",
    responses=problem_responses(404, 409, 412),
)
async def update_group(
    group_id: uuid.UUID,
    body: GroupUpdate,
    session: SessionDep,
    principal: GroupAuthor,
    response: Response,
    if_match: IfMatch = None,
) -> GroupRead:
    read = await service.update_group(session, principal, group_id, body, if_match)
    set_etag(response, read.version)
    return read


@router.get(
    "/groups/{group_id}/members",
    operation_id="listGroupMembers",
    summary="Memberships, dated (a client sees only their own)",
    responses=problem_responses(404),
)
async def list_members(
    group_id: uuid.UUID, session: SessionDep, principal: MemberReader, params: ListParamsDep
) -> Page[MembershipRead]:
    return await service.list_members(session, principal, group_id, params)


@router.post(
    "/groups/{group_id}/members",
    operation_id="addGroupMember",
    status_code=201,
    summary="A client joins: the group's current homework starts for them on their join date",
    responses=problem_responses(404, 409),
)
async def add_member(
    group_id: uuid.UUID, body: MemberAdd, session: SessionDep, principal: MemberAdmitter
) -> MembershipRead:
    """A therapist adds clients of their care team; an admin or API client any client of the
    clinic."""
    return await service.add_member(session, principal, group_id, body)


@router.patch(
    "/groups/{group_id}/members/{client_id}",
    operation_id="updateGroupMember",
    summary="Set the name a member shows the group (the member, or staff)",
    responses=problem_responses(404),
)
async def update_member(
    group_id: uuid.UUID,
    client_id: uuid.UUID,
    body: MemberUpdate,
    session: SessionDep,
    principal: MemberWriter,
) -> MembershipRead:
    return await service.update_member(session, principal, group_id, client_id, body)


@router.post(
    "/groups/{group_id}/members/{client_id}/leave",
    operation_id="leaveGroup",
    summary="A member leaves today (themself, or staff): their group homework is cancelled",
    responses=problem_responses(404),
)
async def leave_group(
    group_id: uuid.UUID, client_id: uuid.UUID, session: SessionDep, principal: MemberWriter
) -> MembershipRead:
    return await service.leave(session, principal, group_id, client_id)


@router.post(
    "/groups/{group_id}/assignments",
    operation_id="createGroupAssignment",
    status_code=201,
    summary="Give the group homework: each member gets their own assignment of it",
    responses=problem_responses(404, 409),
)
async def create_group_assignment(
    group_id: uuid.UUID,
    body: GroupAssignmentCreate,
    session: SessionDep,
    principal: HomeworkWriter,
    response: Response,
) -> GroupAssignmentRead:
    read = await service.assign_to_group(session, principal, group_id, body)
    response.headers["Location"] = f"/v1/groups/{group_id}/assignments/{read.id}"
    set_etag(response, read.version)
    return read


@router.get(
    "/groups/{group_id}/assignments",
    operation_id="listGroupAssignments",
    summary="The group's homework, with each member's assignment of it",
    responses=problem_responses(404),
)
async def list_group_assignments(
    group_id: uuid.UUID, session: SessionDep, principal: HomeworkReader, params: ListParamsDep
) -> Page[GroupAssignmentRead]:
    return await service.list_group_homework(session, principal, group_id, params)


@router.get(
    "/groups/{group_id}/assignments/{group_assignment_id}",
    operation_id="getGroupAssignment",
    summary="One piece of the group's homework, with each member's assignment of it",
    responses=problem_responses(404),
)
async def get_group_assignment(
    group_id: uuid.UUID,
    group_assignment_id: uuid.UUID,
    session: SessionDep,
    principal: HomeworkReader,
    response: Response,
) -> GroupAssignmentRead:
    read = await service.get_group_homework(session, principal, group_id, group_assignment_id)
    set_etag(response, read.version)
    return read


@router.patch(
    "/groups/{group_id}/assignments/{group_assignment_id}",
    operation_id="updateGroupAssignment",
    summary="End the group's homework (every member's assignment of it is cancelled)",
    responses=problem_responses(404, 409, 412),
)
async def update_group_assignment(
    group_id: uuid.UUID,
    group_assignment_id: uuid.UUID,
    body: GroupAssignmentUpdate,
    session: SessionDep,
    principal: HomeworkWriter,
    response: Response,
    if_match: IfMatch = None,
) -> GroupAssignmentRead:
    read = await service.update_group_homework(
        session, principal, group_id, group_assignment_id, body, if_match
    )
    set_etag(response, read.version)
    return read


@router.get(
    "/groups/{group_id}/completions",
    operation_id="listGroupCompletions",
    summary="Completions of the group's homework by its members",
    responses=problem_responses(404),
)
async def list_group_completions(
    group_id: uuid.UUID,
    session: SessionDep,
    principal: HomeworkReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    group_assignment_id: uuid.UUID | None = None,
) -> Page[CompletionRead]:
    """A facilitator sees these for every member, on their care team or not; nothing else of
    a member who is not."""
    return await service.group_completions(
        session,
        principal,
        group_id,
        params,
        client_id=client_id,
        homework_id=group_assignment_id,
    )


@router.get(
    "/groups/{group_id}/metrics",
    operation_id="getGroupMetrics",
    summary="Adherence to the group's homework, per member and for the group (no answers)",
    responses=problem_responses(404),
)
async def get_group_metrics(
    group_id: uuid.UUID,
    session: SessionDep,
    principal: HomeworkReader,
    days: Annotated[int, Query(ge=1, le=366, description="The window, in local days.")] = 28,
) -> GroupMetrics:
    return await service.group_metrics(session, principal, group_id, days)


@router.get(
    "/groups/{group_id}/shares",
    operation_id="listGroupShares",
    summary="What members shared with the group (members: the shown items and their own)",
    responses=problem_responses(404),
)
async def list_shares(
    group_id: uuid.UUID, session: SessionDep, principal: ShareReader, params: ListParamsDep
) -> Page[ShareRead]:
    return await sharing.list_shares(session, principal, group_id, params)


@router.post(
    "/groups/{group_id}/shares",
    operation_id="createGroupShare",
    status_code=201,
    summary="Share a completion's written answers, or an achievement, with the group",
    responses=problem_responses(404, 409),
)
async def create_share(
    group_id: uuid.UUID, body: ShareCreate, session: SessionDep, principal: ShareAuthor
) -> ShareRead:
    return await sharing.share(session, principal, group_id, body)


@router.patch(
    "/groups/{group_id}/shares/{share_id}",
    operation_id="moderateGroupShare",
    summary="Hide a shared item from the members, or show it",
    responses=problem_responses(404),
)
async def moderate_share(
    group_id: uuid.UUID,
    share_id: uuid.UUID,
    body: ShareModeration,
    session: SessionDep,
    principal: ShareModerator,
) -> ShareRead:
    return await sharing.moderate(session, principal, group_id, share_id, body)


@router.delete(
    "/groups/{group_id}/shares/{share_id}",
    operation_id="withdrawGroupShare",
    status_code=204,
    summary="Withdraw what you shared (it is deleted)",
    responses=problem_responses(404),
)
async def withdraw_share(
    group_id: uuid.UUID, share_id: uuid.UUID, session: SessionDep, principal: ShareAuthor
) -> None:
    await sharing.withdraw(session, principal, group_id, share_id)
