"""Therapy groups: created and run by facilitators, members joining and leaving on dated
stints, and the group's homework given to each member as their own assignment."""

import uuid
from collections import defaultdict
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import FINAL_STATUSES, Assignment
from app.assignments.schedules import Reminders, Schedule
from app.assignments.service import (
    assignable_version,
    assignment_reads,
    cancel_assignments,
    insert_assignment,
)
from app.auth.models import Role, User, UserStatus
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.completions.adherence import Counts, adherence_for_assignments
from app.completions.models import Completion
from app.completions.schemas import CompletionRead
from app.completions.service import completion_read
from app.core.errors import Conflict, Unprocessable, field_error
from app.core.etag import check_if_match
from app.core.outbox import emit
from app.core.pagination import ListParams, Page, SortKey, changed_since, paginate_rows
from app.core.time import local_day, utcnow
from app.groups.models import (
    GroupAssignment,
    GroupAssignmentStatus,
    GroupFacilitator,
    GroupMembership,
    GroupStatus,
    TherapyGroup,
)
from app.groups.repository import (
    GroupAssignmentNotFound,
    current_membership,
    facilitator_ids,
    get_visible_group,
    get_visible_membership,
    homework_ids_of,
    latest_memberships,
    visible_groups,
    visible_memberships,
)
from app.groups.schedules import member_schedule
from app.groups.schemas import (
    GroupAssignmentCreate,
    GroupAssignmentRead,
    GroupAssignmentUpdate,
    GroupCreate,
    GroupMetrics,
    GroupRead,
    GroupUpdate,
    MemberAdd,
    MemberAdherence,
    MemberAssignment,
    MembershipRead,
    MemberUpdate,
)
from app.metrics.schemas import AdherenceCounts
from app.templates.models import TemplateVersion


class GroupArchived(Conflict):
    slug = "group-archived"


class AlreadyMember(Conflict):
    slug = "already-a-member"


class GroupAssignmentEnded(Conflict):
    slug = "group-assignment-ended"


# --- groups ---------------------------------------------------------------------------------

Read = TypeVar("Read", bound=BaseModel)


def read_of(model: type[Read], row: object, **extra: object) -> Read:
    """The answer model of a row: its fields read from the row's attributes, but `extra`."""
    fields = {name: getattr(row, name) for name in model.model_fields if name not in extra}
    return model.model_validate(fields | extra)


async def _group_reads(session: AsyncSession, groups: list[TherapyGroup]) -> list[GroupRead]:
    facilitators = await facilitator_ids(session, [g.id for g in groups])
    return [read_of(GroupRead, g, facilitator_ids=facilitators[g.id]) for g in groups]


async def group_read(session: AsyncSession, group: TherapyGroup) -> GroupRead:
    return (await _group_reads(session, [group]))[0]


async def _check_facilitators(
    session: AsyncSession, principal: Principal, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Active therapists of the clinic, the calling therapist always among them."""
    wanted = list(dict.fromkeys([*ids, *([principal.id] if principal.is_therapist else [])]))
    if not wanted:
        raise Unprocessable(
            "A group needs at least one facilitator.",
            errors=[field_error(["body", "facilitator_ids"], "At least one", "too_short")],
        )
    found = set(
        await session.scalars(
            select(User.id).where(
                User.id.in_(wanted),
                User.clinic_id == principal.clinic_id,
                User.role == Role.therapist,
                User.status == UserStatus.active,
            )
        )
    )
    errors = [
        field_error(["body", "facilitator_ids", i], "Not an active therapist here", "not_found")
        for i, therapist_id in enumerate(ids)
        if therapist_id not in found
    ]
    if errors:
        raise Unprocessable("Facilitators are active therapists of the clinic.", errors=errors)
    return wanted


async def _set_facilitators(
    session: AsyncSession, group: TherapyGroup, therapist_ids: list[uuid.UUID]
) -> None:
    current = {
        row.therapist_id: row
        for row in await session.scalars(
            select(GroupFacilitator).where(GroupFacilitator.group_id == group.id)
        )
    }
    for therapist_id, row in current.items():
        if therapist_id not in therapist_ids:
            await session.delete(row)
    for therapist_id in therapist_ids:
        if therapist_id not in current:
            session.add(
                GroupFacilitator(
                    group_id=group.id, therapist_id=therapist_id, clinic_id=group.clinic_id
                )
            )
    await session.flush()


async def create_group(session: AsyncSession, principal: Principal, body: GroupCreate) -> GroupRead:
    """Announced as `group.created`."""
    facilitators = await _check_facilitators(session, principal, body.facilitator_ids)
    group = TherapyGroup(
        clinic_id=principal.clinic_id,
        name=body.name,
        description=body.description,
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(group)
    await session.flush()
    await _set_facilitators(session, group, facilitators)
    read = await group_read(session, group)
    emit(session, "group.created", read)
    return read


async def list_groups(
    session: AsyncSession, principal: Principal, params: ListParams, status: GroupStatus | None
) -> Page[GroupRead]:
    stmt = changed_since(visible_groups(principal), TherapyGroup.updated_at, params.updated_since)
    if status is not None:
        stmt = stmt.where(TherapyGroup.status == status)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(TherapyGroup.id)])
    return Page(items=await _group_reads(session, list(rows)), next_cursor=cursor)


async def update_group(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    body: GroupUpdate,
    if_match: str | None,
) -> GroupRead:
    """Announced as `group.updated`. Archiving ends the group's homework and every membership;
    an archived group changes no more."""
    group = await get_visible_group(session, principal, group_id, for_update=True)
    check_if_match(if_match, group.version)
    if group.status == GroupStatus.archived:
        raise GroupArchived("An archived group cannot change any more.")
    now = utcnow()
    # The row changes once (one version), then what follows from it.
    if body.name is not None:
        group.name = body.name
    if body.description is not None:
        group.description = body.description
    if body.status is not None:
        group.status = body.status
    group.updated_at = now
    await session.flush()
    if body.facilitator_ids is not None:
        wanted = await _check_facilitators(session, principal, body.facilitator_ids)
        await _set_facilitators(session, group, wanted)
    if body.status == GroupStatus.archived:
        # Ending the homework cancels every member's assignment of it; then the stints close.
        for homework in await _active_homework(session, group.id):
            await _end_homework(session, homework, now)
        for membership, timezone in await session.execute(
            select(GroupMembership, User.timezone)
            .join(User, User.id == GroupMembership.client_id)
            .where(GroupMembership.group_id == group.id, GroupMembership.left_on.is_(None))
        ):
            await _close_stint(session, membership, timezone, now)
    read = await group_read(session, group)
    emit(session, "group.updated", read)
    return read


# --- members --------------------------------------------------------------------------------


def membership_read(membership: GroupMembership) -> MembershipRead:
    return MembershipRead.model_validate(membership, from_attributes=True)


async def list_members(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, params: ListParams
) -> Page[MembershipRead]:
    """Every stint in the group (a client: only their own)."""
    await get_visible_group(session, principal, group_id)
    stmt = changed_since(
        visible_memberships(principal, group_id), GroupMembership.updated_at, params.updated_since
    ).order_by(None)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(GroupMembership.id)])
    return Page(items=[membership_read(m) for m in rows], next_cursor=cursor)


async def add_member(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, body: MemberAdd
) -> MembershipRead:
    """A client of the caller's (a therapist's care team; an admin's clinic) joins on
    `joined_on` and gets the group's current homework from that day. Announced as
    `group_membership.created`, and each new assignment as `assignment.created`."""
    group = await get_visible_group(session, principal, group_id, for_update=True)
    if group.status == GroupStatus.archived:
        raise GroupArchived("An archived group takes no new members.")
    client = await get_visible_client(session, principal, body.client_id)
    if await current_membership(session, group.id, client.id) is not None:
        raise AlreadyMember(
            "The client is a member of this group already.",
            errors=[field_error(["body", "client_id"], "Already a member", "taken")],
        )
    today = local_day(utcnow(), client.timezone)
    joined_on = body.joined_on or today
    if joined_on < today:
        raise Unprocessable(
            "A member joins today or later (in their time zone).",
            errors=[field_error(["body", "joined_on"], "In the past", "past")],
        )
    membership = GroupMembership(
        clinic_id=group.clinic_id,
        group_id=group.id,
        client_id=client.id,
        display_name=body.display_name,
        joined_on=joined_on,
    )
    session.add(membership)
    await session.flush()
    homework = await _active_homework(session, group.id)
    versions = await _versions(session, homework)
    given = [
        a
        for h in homework
        if (a := await _give(session, h, versions[h.template_version_id], membership, client))
    ]
    await _announce_assignments(session, given)
    read = membership_read(membership)
    emit(session, "group_membership.created", read)
    return read


async def update_member(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    client_id: uuid.UUID,
    body: MemberUpdate,
) -> MembershipRead:
    """The name the member shows the group: the member's own choice (staff may change one that
    is out of place). Announced as `group_membership.updated`."""
    await get_visible_group(session, principal, group_id)
    membership = await get_visible_membership(session, principal, group_id, client_id)
    membership.display_name = body.display_name
    membership.updated_at = utcnow()
    await session.flush()
    read = membership_read(membership)
    emit(session, "group_membership.updated", read)
    return read


async def leave(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, client_id: uuid.UUID
) -> MembershipRead:
    """The member leaves today (a member may leave themself): their assignments of the group's
    homework are cancelled, done work stays. Announced as `group_membership.ended`."""
    await get_visible_group(session, principal, group_id, for_update=True)
    membership = await get_visible_membership(session, principal, group_id, client_id)
    await _cancel_open(
        session,
        Assignment.client_id == membership.client_id,
        Assignment.group_assignment_id.in_(homework_ids_of(group_id)),
    )
    timezone = await session.scalar(select(User.timezone).where(User.id == membership.client_id))
    return await _close_stint(session, membership, str(timezone), utcnow())


async def _cancel_open(session: AsyncSession, *conditions: ColumnElement[bool]) -> None:
    """Cancel the members' assignments that match and are not over (done work stays)."""
    found = await session.scalars(
        select(Assignment).where(*conditions, Assignment.status.not_in(FINAL_STATUSES))
    )
    await cancel_assignments(session, list(found))


async def _close_stint(
    session: AsyncSession, membership: GroupMembership, timezone: str, now: datetime
) -> MembershipRead:
    """The stint ends today in the member's zone (or on a future join date: a stint of no
    days). Announced as `group_membership.ended`."""
    membership.left_on = max(local_day(now, timezone), membership.joined_on)
    membership.updated_at = now
    await session.flush()
    read = membership_read(membership)
    emit(session, "group_membership.ended", read)
    return read


# --- the group's homework -------------------------------------------------------------------


async def _active_homework(session: AsyncSession, group_id: uuid.UUID) -> list[GroupAssignment]:
    return list(
        await session.scalars(
            select(GroupAssignment)
            .where(
                GroupAssignment.group_id == group_id,
                GroupAssignment.status == GroupAssignmentStatus.active,
            )
            .order_by(GroupAssignment.id)
        )
    )


async def _versions(
    session: AsyncSession, homework: list[GroupAssignment]
) -> dict[uuid.UUID, TemplateVersion]:
    ids = {h.template_version_id for h in homework}
    rows = await session.scalars(select(TemplateVersion).where(TemplateVersion.id.in_(ids)))
    return {v.id: v for v in rows}


async def _give(
    session: AsyncSession,
    homework: GroupAssignment,
    version: TemplateVersion,
    membership: GroupMembership,
    client: User,
) -> Assignment | None:
    """The member's own assignment of the group's homework, from their join date (None when
    the schedule has nothing left for them)."""
    schedule = member_schedule(
        Schedule.model_validate(homework.schedule), membership.joined_on, client.timezone
    )
    if schedule is None:
        return None
    return await insert_assignment(
        session,
        clinic_id=homework.clinic_id,
        client_id=client.id,
        version=version,
        title=homework.title,
        instructions=homework.instructions,
        estimated_minutes=homework.estimated_minutes,
        schedule=schedule,
        reminders=Reminders.model_validate(homework.reminders),
        group_assignment_id=homework.id,
        created_by_id=homework.created_by_id,
    )


async def _announce_assignments(session: AsyncSession, assignments: list[Assignment]) -> None:
    for read in await assignment_reads(session, assignments):
        emit(session, "assignment.created", read)


async def _homework_reads(
    session: AsyncSession, homework: list[GroupAssignment]
) -> list[GroupAssignmentRead]:
    given: dict[uuid.UUID | None, list[MemberAssignment]] = defaultdict(list)
    rows = await session.execute(
        select(Assignment.group_assignment_id, Assignment.client_id, Assignment.id)
        .where(Assignment.group_assignment_id.in_([h.id for h in homework]))
        .order_by(Assignment.id)
    )
    for homework_id, client_id, assignment_id in rows:
        given[homework_id].append(
            MemberAssignment(client_id=client_id, assignment_id=assignment_id)
        )
    return [read_of(GroupAssignmentRead, h, member_assignments=given[h.id]) for h in homework]


async def assign_to_group(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, body: GroupAssignmentCreate
) -> GroupAssignmentRead:
    """Give the group a template: each current member gets their own assignment (from their
    join date), members joining later get it when they join. Announced as
    `group_assignment.created` and each member's as `assignment.created`."""
    group = await get_visible_group(session, principal, group_id, for_update=True)
    if group.status == GroupStatus.archived:
        raise GroupArchived("An archived group gets no new homework.")
    version = await assignable_version(session, principal, body.template_id, body.template_version)
    homework = GroupAssignment(
        clinic_id=group.clinic_id,
        group_id=group.id,
        template_id=version.template_id,
        template_version_id=version.id,
        template_version=version.number,
        title=body.title,
        instructions=body.instructions,
        estimated_minutes=body.estimated_minutes,
        schedule=body.schedule.model_dump(mode="json"),
        reminders=body.reminders.model_dump(mode="json"),
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(homework)
    await session.flush()
    rows = await session.execute(
        select(GroupMembership, User)
        .join(User, User.id == GroupMembership.client_id)
        .where(GroupMembership.group_id == group.id, GroupMembership.left_on.is_(None))
        .order_by(GroupMembership.id)
    )
    given = [
        a
        for membership, client in rows
        if (a := await _give(session, homework, version, membership, client))
    ]
    await _announce_assignments(session, given)
    read = (await _homework_reads(session, [homework]))[0]
    emit(session, "group_assignment.created", read)
    return read


async def list_group_homework(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, params: ListParams
) -> Page[GroupAssignmentRead]:
    await get_visible_group(session, principal, group_id)
    stmt = changed_since(
        select(GroupAssignment).where(GroupAssignment.group_id == group_id),
        GroupAssignment.updated_at,
        params.updated_since,
    )
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(GroupAssignment.id)])
    return Page(items=await _homework_reads(session, list(rows)), next_cursor=cursor)


async def get_group_homework(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, homework_id: uuid.UUID
) -> GroupAssignmentRead:
    await get_visible_group(session, principal, group_id)
    homework = await _get_homework(session, group_id, homework_id, for_update=False)
    return (await _homework_reads(session, [homework]))[0]


async def _get_homework(
    session: AsyncSession, group_id: uuid.UUID, homework_id: uuid.UUID, *, for_update: bool = True
) -> GroupAssignment:
    stmt = select(GroupAssignment).where(
        GroupAssignment.id == homework_id, GroupAssignment.group_id == group_id
    )
    found = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if found is None:
        raise GroupAssignmentNotFound("No such homework of this group.")
    return found


async def update_group_homework(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    homework_id: uuid.UUID,
    body: GroupAssignmentUpdate,
    if_match: str | None,
) -> GroupAssignmentRead:
    """End the group's homework: every member's assignment of it is cancelled. Announced as
    `group_assignment.updated`."""
    await get_visible_group(session, principal, group_id)
    homework = await _get_homework(session, group_id, homework_id)
    check_if_match(if_match, homework.version)
    if body.status == GroupAssignmentStatus.active and homework.status != body.status:
        raise GroupAssignmentEnded(
            "Ended homework stays ended: give the group a new assignment.",
            errors=[field_error(["body", "status"], "Invalid transition", "transition")],
        )
    if (
        homework.status == GroupAssignmentStatus.active
        and body.status == GroupAssignmentStatus.ended
    ):
        await _end_homework(session, homework, utcnow())
    read = (await _homework_reads(session, [homework]))[0]
    emit(session, "group_assignment.updated", read)
    return read


async def _end_homework(session: AsyncSession, homework: GroupAssignment, now: datetime) -> None:
    await _cancel_open(session, Assignment.group_assignment_id == homework.id)
    homework.status = GroupAssignmentStatus.ended
    homework.ended_at = homework.updated_at = now
    await session.flush()


# --- what facilitators see of the members ---------------------------------------------------


async def group_completions(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    params: ListParams,
    *,
    client_id: uuid.UUID | None = None,
    homework_id: uuid.UUID | None = None,
) -> Page[CompletionRead]:
    """The completions of the group's homework, by its members (a facilitator sees them even
    for a member not on their care team; nothing else of that member)."""
    await get_visible_group(session, principal, group_id)
    homework_ids = homework_ids_of(group_id)
    if homework_id is not None:
        homework_ids = homework_ids.where(GroupAssignment.id == homework_id)
    stmt = (
        select(Completion)
        .join(Assignment, Assignment.id == Completion.assignment_id)
        .where(
            Completion.clinic_id == principal.clinic_id,
            Assignment.group_assignment_id.in_(homework_ids),
        )
    )
    if client_id is not None:
        stmt = stmt.where(Completion.client_id == client_id)
    stmt = changed_since(stmt, Completion.updated_at, params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Completion.id)])
    return Page(items=[completion_read(c) for c in rows], next_cursor=cursor)


async def group_metrics(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, days: int
) -> GroupMetrics:
    """Adherence to the group's homework over the last `days` days, per member (each in
    their own time zone) and for the whole group: counts, never answers."""
    await get_visible_group(session, principal, group_id)
    assignments = list(
        await session.scalars(
            select(Assignment).where(Assignment.group_assignment_id.in_(homework_ids_of(group_id)))
        )
    )
    counts = await adherence_for_assignments(session, assignments, utcnow(), days=days)
    per_member: dict[uuid.UUID, Counts] = defaultdict(Counts)
    total = Counts()
    for assignment in assignments:
        per_member[assignment.client_id].merge(counts[assignment.id])
        total.merge(counts[assignment.id])
    latest = await latest_memberships(session, group_id)
    members = [
        MemberAdherence(
            client_id=client_id,
            display_name=m.display_name,
            current=m.left_on is None,
            adherence=AdherenceCounts.of(per_member[client_id]),
        )
        for client_id, m in sorted(latest.items(), key=lambda item: str(item[0]))
    ]
    return GroupMetrics(
        group_id=group_id, days=days, group=AdherenceCounts.of(total), members=members
    )
