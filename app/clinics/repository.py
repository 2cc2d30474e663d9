"""Statements already scoped to the principal: what is not visible is simply not found."""

import uuid

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.principal import Principal
from app.clinics.errors import ClientNotFound
from app.clinics.models import CareTeamMember
from app.core import audit


def on_care_team(therapist_id: uuid.UUID, client_id_column) -> object:  # type: ignore[no-untyped-def]
    """SQL condition: the therapist works with the client in `client_id_column`."""
    return exists().where(
        CareTeamMember.client_id == client_id_column,
        CareTeamMember.therapist_id == therapist_id,
    )


def client_ids_visible_to(principal: Principal, client_id_column) -> list[object]:  # type: ignore[no-untyped-def]
    """Conditions that limit any client-owned table (by its client id column) to the principal.
    The table must also carry the clinic check; every client-owned row has a clinic id."""
    if principal.is_client:
        return [client_id_column == principal.id]
    if principal.is_therapist:
        return [on_care_team(principal.id, client_id_column)]
    return []  # admins and API clients see the whole clinic


def visible_clients(principal: Principal) -> Select[tuple[User]]:
    return select(User).where(
        User.clinic_id == principal.clinic_id,
        User.role == Role.client,
        *client_ids_visible_to(principal, User.id),
    )


async def get_visible_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> User:
    client: User | None
    if principal.is_client and client_id == principal.id:
        # Themself: the principal check loaded this row in this session, so `get` finds it in
        # the identity map. The conditions are those of visible_clients.
        client = await session.get(User, client_id)
        if client is not None and (
            client.clinic_id != principal.clinic_id or client.role != Role.client
        ):
            client = None
    else:
        client = (
            await session.execute(visible_clients(principal).where(User.id == client_id))
        ).scalar_one_or_none()
    if client is None:
        raise ClientNotFound("No such client.")
    audit.note(client_id=client.id)
    return client
