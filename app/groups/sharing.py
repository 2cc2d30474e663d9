"""Peer support: members share a completion's written answers or an achievement with the
group, opt-in and moderated.

Nothing is shared by default. A share copies only the fields the member picked (text only:
never scores, mood or risk), shown under the name the member chose for the group. Members see
the shown items and their own; facilitators see everything and may hide an item; an item from
a completion that raised a risk flag is held until a facilitator shows it. Withdrawing deletes
the copy.
"""

import uuid
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.completions.models import Achievement, Completion
from app.completions.repository import get_visible_completion
from app.core.db import insert_unless_taken
from app.core.errors import Conflict, NotFound, Unprocessable, field_error
from app.core.ids import new_id
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import utcnow
from app.groups.models import GroupShare, HiddenReason, ShareKind
from app.groups.repository import current_membership, get_visible_group, latest_memberships
from app.groups.schemas import ShareCreate, ShareModeration, ShareRead

NOTE = "note"


class ShareNotFound(NotFound):
    slug = "group-share-not-found"


class AchievementNotFound(NotFound):
    slug = "achievement-not-found"


_achievements = ClientOwnedRows(Achievement, AchievementNotFound, "No such achievement.")


class DisplayNameNeeded(Conflict):
    slug = "display-name-needed"


class AlreadyShared(Conflict):
    slug = "already-shared"


def _shared_text(completion: Completion, fields: list[str]) -> dict[str, str]:
    """The written answers picked (and the note), or a 422 naming each field that is not one."""
    picked: dict[str, str] = {}
    errors = []
    for i, name in enumerate(fields):
        value = completion.note if name == NOTE else completion.responses.get(name)
        if isinstance(value, str) and value.strip():
            picked[name] = value
        else:
            errors.append(
                field_error(["body", "fields", i], "Not a written answer of it", "not_text")
            )
    if errors:
        raise Unprocessable(
            "Only the completion's written answers (or its note) can be shared.", errors=errors
        )
    return picked


async def _content(
    session: AsyncSession, principal: Principal, body: ShareCreate
) -> tuple[ShareKind, dict[str, Any], bool]:
    """What the share shows, and whether it is held for review."""
    # The caller is a client (the policy): what they can see of these is their own.
    if body.completion_id is not None:
        completion = await get_visible_completion(session, principal, body.completion_id)
        return (
            ShareKind.completion,
            {"fields": _shared_text(completion, body.fields)},
            completion.risk,
        )
    assert body.achievement_id is not None  # the body names one of the two
    achievement = await _achievements.get(session, principal, body.achievement_id)
    content = {
        "title": achievement.title,
        "type": achievement.type,
        "earned_at": achievement.earned_at.isoformat(),
    }
    return ShareKind.achievement, content, False


async def _display_names(session: AsyncSession, group_id: uuid.UUID) -> dict[uuid.UUID, str | None]:
    """The name each member shows now: that of their latest stint in the group."""
    latest = await latest_memberships(session, group_id)
    return {client_id: membership.display_name for client_id, membership in latest.items()}


def _share_read(share: GroupShare, display_name: str | None, principal: Principal) -> ShareRead:
    return ShareRead(
        id=share.id,
        group_id=share.group_id,
        display_name=display_name,
        kind=share.kind,
        content=share.content,
        mine=share.client_id == principal.id,
        hidden=share.hidden,
        hidden_reason=share.hidden_reason,
        created_at=share.created_at,
    )


def _visible_shares(principal: Principal, group_id: uuid.UUID) -> Select[GroupShare]:
    stmt = select(GroupShare).where(
        GroupShare.group_id == group_id, GroupShare.clinic_id == principal.clinic_id
    )
    if principal.is_client:
        stmt = stmt.where(or_(GroupShare.hidden == false(), GroupShare.client_id == principal.id))
    return stmt


async def share(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, body: ShareCreate
) -> ShareRead:
    """A member shares one of their completions (the written fields they pick) or
    achievements with the group. Not announced as an event: it is the group's, not the
    clinic record's."""
    group = await get_visible_group(session, principal, group_id)
    membership = await current_membership(session, group.id, principal.id)
    if membership is None or membership.display_name is None:
        raise DisplayNameNeeded(
            "Choose the name the group sees first (PATCH your membership's display_name)."
        )
    kind, content, held = await _content(session, principal, body)
    row = (
        await session.execute(
            insert_unless_taken(
                session,
                GroupShare,
                {
                    "id": new_id(),
                    "clinic_id": group.clinic_id,
                    "group_id": group.id,
                    "client_id": principal.id,
                    "kind": kind,
                    "completion_id": body.completion_id,
                    "achievement_id": body.achievement_id,
                    "content": content,
                    "hidden": held,
                    "hidden_reason": HiddenReason.held_for_review if held else None,
                    "created_at": utcnow(),
                },
            ).returning(GroupShare)
        )
    ).scalar_one_or_none()
    if row is None:
        field = "completion_id" if body.completion_id is not None else "achievement_id"
        raise AlreadyShared(
            "You shared this with the group already: withdraw it to share it differently.",
            errors=[field_error(["body", field], "Shared already", "taken")],
        )
    return _share_read(row, membership.display_name, principal)


async def list_shares(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, params: ListParams
) -> Page[ShareRead]:
    await get_visible_group(session, principal, group_id)
    rows, cursor = await paginate_rows(
        session, _visible_shares(principal, group_id), params, [SortKey(GroupShare.id)]
    )
    names = await _display_names(session, group_id)
    return Page(
        items=[_share_read(item, names.get(item.client_id), principal) for item in rows],
        next_cursor=cursor,
    )


async def moderate(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    share_id: uuid.UUID,
    body: ShareModeration,
) -> ShareRead:
    """A facilitator hides an item from the members, or shows it (again)."""
    await get_visible_group(session, principal, group_id)
    item = await session.scalar(
        _visible_shares(principal, group_id).where(GroupShare.id == share_id)
    )
    if item is None:
        raise ShareNotFound("No such shared item in this group.")
    item.hidden = body.hidden
    item.hidden_reason = HiddenReason.facilitator if body.hidden else None
    item.moderated_by_id = principal.id
    item.moderated_at = utcnow()
    await session.flush()
    names = await _display_names(session, group_id)
    return _share_read(item, names.get(item.client_id), principal)


async def withdraw(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, share_id: uuid.UUID
) -> None:
    """The member who shared an item withdraws it (also after leaving the group): deleted."""
    item = await session.scalar(
        select(GroupShare).where(
            GroupShare.id == share_id,
            GroupShare.group_id == group_id,
            GroupShare.client_id == principal.id,
            GroupShare.clinic_id == principal.clinic_id,
        )
    )
    if item is None:
        raise ShareNotFound("No such item of yours in this group.")
    await session.delete(item)
    await session.flush()
