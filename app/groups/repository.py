"""Group statements scoped to the principal: a group the caller is not part of is not found.

Admins and API clients see the clinic's groups; a therapist sees the groups they facilitate;
a client sees the groups they are a member of (a membership not left), and of the members
only themself.
"""

import uuid

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.groups.models import GroupAssignment, GroupFacilitator, GroupMembership, TherapyGroup


class GroupNotFound(NotFound):
    slug = "group-not-found"


class MemberNotFound(NotFound):
    slug = "group-member-not-found"


class GroupAssignmentNotFound(NotFound):
    slug = "group-assignment-not-found"


def facilitates(therapist_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(
        GroupFacilitator.group_id == TherapyGroup.id, GroupFacilitator.therapist_id == therapist_id
    )


def is_member(client_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(
        GroupMembership.group_id == TherapyGroup.id,
        GroupMembership.client_id == client_id,
        GroupMembership.left_on.is_(None),
    )


def visible_groups(principal: Principal) -> Select[TherapyGroup]:
    stmt = select(TherapyGroup).where(TherapyGroup.clinic_id == principal.clinic_id)
    if principal.is_therapist:
        stmt = stmt.where(facilitates(principal.id))
    elif principal.is_client:
        stmt = stmt.where(is_member(principal.id))
    return stmt


async def get_visible_group(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, *, for_update: bool = False
) -> TherapyGroup:
    stmt = visible_groups(principal).where(TherapyGroup.id == group_id)
    if for_update:
        stmt = stmt.with_for_update()
    group = (await session.execute(stmt)).scalar_one_or_none()
    if group is None:
        raise GroupNotFound("No such group.")
    return group


async def facilitator_ids(
    session: AsyncSession, group_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(GroupFacilitator.group_id, GroupFacilitator.therapist_id)
        .where(GroupFacilitator.group_id.in_(group_ids))
        .order_by(GroupFacilitator.therapist_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {group_id: [] for group_id in group_ids}
    for group_id, therapist_id in rows:
        found[group_id].append(therapist_id)
    return found


def visible_memberships(principal: Principal, group_id: uuid.UUID) -> Select[GroupMembership]:
    """The group's memberships (every stint, oldest first) the caller may see: a client only
    their own. The caller's access to the group was checked before."""
    stmt = select(GroupMembership).where(GroupMembership.group_id == group_id)
    if principal.is_client:
        stmt = stmt.where(GroupMembership.client_id == principal.id)
    return stmt.order_by(GroupMembership.joined_on, GroupMembership.id)


async def current_membership(
    session: AsyncSession, group_id: uuid.UUID, client_id: uuid.UUID, *, for_update: bool = False
) -> GroupMembership | None:
    stmt = select(GroupMembership).where(
        GroupMembership.group_id == group_id,
        GroupMembership.client_id == client_id,
        GroupMembership.left_on.is_(None),
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_visible_membership(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, client_id: uuid.UUID
) -> GroupMembership:
    """A client's current membership: a client may reach only their own (another member's is
    not found)."""
    found = None
    if not principal.is_client or client_id == principal.id:
        found = await current_membership(session, group_id, client_id, for_update=True)
    if found is None:
        raise MemberNotFound("No such member of this group.")
    return found


def homework_ids_of(group_id: uuid.UUID) -> Select[uuid.UUID]:
    """The ids of the group's homework, ended or not (for `IN`)."""
    return select(GroupAssignment.id).where(GroupAssignment.group_id == group_id)


async def latest_memberships(
    session: AsyncSession, group_id: uuid.UUID
) -> dict[uuid.UUID, GroupMembership]:
    """Each client's latest stint in the group (its display name is the one shown now)."""
    rows = await session.scalars(
        select(GroupMembership)
        .where(GroupMembership.group_id == group_id)
        .order_by(GroupMembership.joined_on, GroupMembership.created_at)
    )
    return {membership.client_id: membership for membership in rows}
