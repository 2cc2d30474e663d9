"""Clinics, clients, care teams and external ids. Services flush, never commit."""

import uuid
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from app.auth.models import Role, User, UserStatus
from app.auth.principal import Principal
from app.auth.schemas import InvitationRead
from app.auth.service import create_user, issue_invitation
from app.auth.tokens import revoke_user_tokens
from app.clinics.errors import ExternalIdTaken, InvalidTherapist
from app.clinics.models import CareTeamMember, ClientExternalId, Clinic
from app.clinics.repository import matching_clients
from app.clinics.schemas import (
    CareTeamMemberRead,
    CareTeamRead,
    ClientCreate,
    ClientCreated,
    ClientRead,
    ClientUpdate,
    ExternalId,
)
from app.core import audit
from app.core.errors import Forbidden, field_error
from app.core.outbox import emit
from app.core.pagination import ListParams, Page, SortKey, paginate_rows


async def create_clinic(session: AsyncSession, *, name: str, timezone: str = "UTC") -> Clinic:
    clinic = Clinic(name=name, timezone=timezone)
    session.add(clinic)
    await session.flush()
    return clinic


async def find_clinic_by_name(session: AsyncSession, name: str) -> Clinic | None:
    stmt = select(Clinic).where(Clinic.name == name).order_by(Clinic.id).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def ensure_on_care_team(session: AsyncSession, *, therapist: User, client: User) -> None:
    existing = await session.get(CareTeamMember, (client.id, therapist.id))
    if existing is None:
        session.add(
            CareTeamMember(
                client_id=client.id, therapist_id=therapist.id, clinic_id=client.clinic_id
            )
        )
        await session.flush()


async def client_reads(session: AsyncSession, clients: list[User]) -> list[ClientRead]:
    """Clients with their external ids and care teams: two queries for the whole page."""
    ids = [c.id for c in clients]
    external: dict[uuid.UUID, list[ExternalId]] = defaultdict(list)
    team: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(ClientExternalId.client_id, ClientExternalId.system, ClientExternalId.value)
            .where(ClientExternalId.client_id.in_(ids))
            .order_by(ClientExternalId.system)
        )
        for client_id, system, value in rows:
            external[client_id].append(ExternalId(system=system, value=value))
        members = await session.execute(
            select(CareTeamMember.client_id, CareTeamMember.therapist_id)
            .where(CareTeamMember.client_id.in_(ids))
            .order_by(CareTeamMember.therapist_id)
        )
        for client_id, therapist_id in members:
            team[client_id].append(therapist_id)
    return [
        ClientRead(
            id=c.id,
            clinic_id=c.clinic_id,
            email=c.email,
            display_name=c.display_name,
            timezone=c.timezone,
            status=c.status,
            external_ids=external[c.id],
            therapist_ids=team[c.id],
            created_at=c.created_at,
            updated_at=c.updated_at,
            version=c.version,
        )
        for c in clients
    ]


async def _announce(session: AsyncSession, client: User, type_: str) -> ClientRead:
    """The client as the API answers it, queued as the payload of the event `type_`."""
    read = (await client_reads(session, [client]))[0]
    emit(session, type_, read, client_id=client.id)
    return read


async def list_clients(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    external_id: tuple[str, str] | None = None,
    status: UserStatus | None = None,
    name_part: str | None = None,
) -> Page[ClientRead]:
    stmt = matching_clients(
        principal,
        external_id=external_id,
        status=status,
        name_part=name_part,
        updated_since=params.updated_since,
    )
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(User.id)])
    return Page(items=await client_reads(session, rows), next_cursor=cursor)


async def _therapists(
    session: AsyncSession, clinic_id: uuid.UUID, therapist_ids: list[uuid.UUID]
) -> list[User]:
    wanted = list(dict.fromkeys(therapist_ids))
    if not wanted:
        return []
    found = (
        (
            await session.execute(
                select(User).where(
                    User.id.in_(wanted),
                    User.clinic_id == clinic_id,
                    User.role == Role.therapist,
                    User.status != UserStatus.deactivated,
                )
            )
        )
        .scalars()
        .all()
    )
    missing = set(wanted) - {t.id for t in found}
    if missing:
        raise InvalidTherapist(
            "Every care-team member must be an active therapist of this clinic.",
            errors=[
                field_error(
                    ["body", "therapist_ids", wanted.index(m)],
                    "Not a therapist of this clinic",
                    "therapist",
                )
                for m in sorted(missing, key=wanted.index)
            ],
        )
    return list(found)


async def set_external_ids(session: AsyncSession, client: User, ids: list[ExternalId]) -> None:
    await session.execute(delete(ClientExternalId).where(ClientExternalId.client_id == client.id))
    for index, item in enumerate(ids):
        taken = (
            await session.execute(
                select(ClientExternalId.client_id).where(
                    ClientExternalId.clinic_id == client.clinic_id,
                    ClientExternalId.system == item.system,
                    ClientExternalId.value == item.value,
                )
            )
        ).scalar_one_or_none()
        if taken is not None:
            raise _external_id_taken(index)
        session.add(
            ClientExternalId(
                clinic_id=client.clinic_id,
                client_id=client.id,
                system=item.system,
                value=item.value,
            )
        )
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request claimed the same id between check and insert
        raise _external_id_taken(0) from None


def _external_id_taken(index: int) -> ExternalIdTaken:
    return ExternalIdTaken(
        "Another client of this clinic already has this external id.",
        errors=[field_error(["body", "external_ids", index], "Already in use", "unique")],
    )


async def create_client(
    session: AsyncSession, principal: Principal, body: ClientCreate
) -> ClientCreated:
    """A client account with its first invitation code; a therapist who creates it joins the
    care team. Announced as `client.created` (the code is in the answer only)."""
    client = await _add_client(session, principal, body)
    audit.note(client_id=client.id)  # names the new client (audit row, stored replay)
    code, expires_at = await issue_invitation(
        session, client, principal.id if not principal.is_api_client else None
    )
    read = await _announce(session, client, "client.created")
    return ClientCreated(
        **read.model_dump(), invitation=InvitationRead(code=code, expires_at=expires_at)
    )


async def _add_client(session: AsyncSession, principal: Principal, body: ClientCreate) -> User:
    clinic = await session.get(Clinic, principal.clinic_id)
    assert clinic is not None
    therapist_ids = list(body.therapist_ids)
    if principal.is_therapist and principal.id not in therapist_ids:
        therapist_ids.insert(0, principal.id)
    therapists = await _therapists(session, clinic.id, therapist_ids)
    client = await create_user(
        session,
        clinic_id=clinic.id,
        role=Role.client,
        email=body.email,
        display_name=body.display_name,
        timezone=body.timezone or clinic.timezone,
    )
    await set_external_ids(session, client, body.external_ids)
    for therapist in therapists:
        await ensure_on_care_team(session, therapist=therapist, client=client)
    return client


async def update_client(session: AsyncSession, client: User, body: ClientUpdate) -> ClientRead:
    """One change, one version: external ids are written first, then the row once. Announced
    as `client.updated`."""
    if body.external_ids is not None:
        await set_external_ids(session, client, body.external_ids)
        flag_modified(client, "updated_at")  # the ids are part of the client
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"external_ids"})
    if changes.get("status") == UserStatus.invited:
        changes.pop("status")  # invited is where accounts start, not a state to go back to
    if changes.get("status") == UserStatus.active and client.password_hash is None:
        changes.pop("status")  # only accepting the invitation activates an account
    for field, value in changes.items():
        setattr(client, field, value)
    if client.status == UserStatus.deactivated:
        await revoke_user_tokens(session, client.id)
    await session.flush()
    return await _announce(session, client, "client.updated")


async def care_team_read(session: AsyncSession, client: User) -> CareTeamRead:
    members = await care_team(session, client)
    return CareTeamRead(
        client_id=client.id,
        therapists=[
            CareTeamMemberRead(id=m.id, display_name=m.display_name, email=m.email) for m in members
        ],
    )


async def care_team(session: AsyncSession, client: User) -> list[User]:
    stmt = (
        select(User)
        .join(CareTeamMember, CareTeamMember.therapist_id == User.id)
        .where(CareTeamMember.client_id == client.id)
        .order_by(User.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def replace_care_team(
    session: AsyncSession, principal: Principal, client: User, therapist_ids: list[uuid.UUID]
) -> CareTeamRead:
    """Set the care team (admins); a therapist on it may add colleagues, not remove them."""
    current = {t.id for t in await care_team(session, client)}
    therapists = await _therapists(session, client.clinic_id, therapist_ids)
    wanted = {t.id for t in therapists}
    if principal.is_therapist and not current <= wanted:
        raise Forbidden("A therapist may add colleagues to a client's care team, not remove them.")
    await session.execute(
        delete(CareTeamMember).where(
            CareTeamMember.client_id == client.id, CareTeamMember.therapist_id.not_in(wanted)
        )
    )
    for therapist in therapists:
        if therapist.id not in current:
            await ensure_on_care_team(session, therapist=therapist, client=client)
    await session.flush()
    return await care_team_read(session, client)
