"""Who may hear what: a webhook carries data out of the API, so subscribing to an event needs
the read scope of what the event carries, and its deliveries need its owner to keep it.

The owner is the user or API client that last chose the endpoint's URL or event types. Before
fan-out and again before each delivery the worker asks `readers_among`: an owner that was
revoked, deactivated, is no longer an admin, or never held the scope stops its endpoint.
"""

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiClient, Role, User, UserStatus
from app.auth.principal import ROLE_SCOPES, Principal, Scope
from app.sync.models import Webhook

# Announces only the endpoint itself; every other event carries homework data.
_CARRIES_NOTHING = frozenset({"webhook.ping"})


def scopes_to_hear(event_types: Iterable[str]) -> set[str]:
    """The scopes a subscriber must hold to receive these events."""
    return {Scope.homework_read.value for t in event_types if t not in _CARRIES_NOTHING}


def take_ownership(webhook: Webhook, principal: Principal) -> None:
    """The caller that chose the subscription owns it, with the scopes its token holds now."""
    webhook.created_by_id = None if principal.is_api_client else principal.id
    webhook.created_by_api_client_id = principal.id if principal.is_api_client else None
    webhook.owner_scopes = sorted(principal.scopes)


async def readers_among(session: AsyncSession, webhooks: Iterable[Webhook]) -> set[uuid.UUID]:
    """The endpoints whose owner may still read what they subscribed to (two statements at
    most, whatever the number of endpoints)."""
    hooks = list(webhooks)
    user_ids = {h.created_by_id for h in hooks if h.created_by_id}
    client_ids = {h.created_by_api_client_id for h in hooks if h.created_by_api_client_id}
    users: dict[uuid.UUID, frozenset[str]] = {}
    if user_ids:
        rows = await session.execute(
            select(User.id, User.role, User.status, User.clinic_id).where(User.id.in_(user_ids))
        )
        users = {
            r.id: ROLE_SCOPES[r.role]
            for r in rows
            if r.status == UserStatus.active and r.role == Role.admin
        }
    clients: dict[uuid.UUID, frozenset[str]] = {}
    if client_ids:
        rows = await session.execute(
            select(ApiClient.id, ApiClient.scopes, ApiClient.revoked_at).where(
                ApiClient.id.in_(client_ids)
            )
        )
        clients = {r.id: frozenset(r.scopes) for r in rows if r.revoked_at is None}
    allowed = set()
    for hook in hooks:
        needed = scopes_to_hear(hook.event_types)
        if hook.owner_scopes is None and not hook.created_by_api_client_id:
            # Registered before endpoints had owners: its creating admin, when known, must
            # still be an active admin; an endpoint of an unknown creator keeps delivering.
            held = users.get(hook.created_by_id) if hook.created_by_id else frozenset(needed)
        elif hook.created_by_id:
            held = users.get(hook.created_by_id, frozenset()) & set(hook.owner_scopes or ())
        elif hook.created_by_api_client_id:
            held = clients.get(hook.created_by_api_client_id, frozenset()) & set(
                hook.owner_scopes or ()
            )
        else:
            held = frozenset()  # the owner is gone (deleted)
        if held is not None and needed <= held:
            allowed.add(hook.id)
    return allowed
