"""Statements already scoped to the principal: what is not visible is simply not found."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Exists, Select, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.auth.models import Role, User, UserStatus
from app.auth.principal import Principal
from app.clinics.errors import ClientNotFound
from app.clinics.models import CareTeamMember, ClientExternalId
from app.core import audit
from app.core.errors import NotFound
from app.core.pagination import changed_since
from app.core.prepared import Prepared

# A client id column: of a client-owned table, `User.id`, or the feed's nullable `Event.client_id`.
ClientIdColumn = InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[uuid.UUID | None]


def on_care_team(
    therapist_id: uuid.UUID | ColumnElement[uuid.UUID], client_id_column: ClientIdColumn
) -> Exists:
    """SQL condition: the therapist works with the client in `client_id_column`."""
    return exists().where(
        CareTeamMember.client_id == client_id_column,
        CareTeamMember.therapist_id == therapist_id,
    )


def visibility(principal: Principal) -> str:
    """Which client-owned rows the principal sees: its own (`self`, a client), its care team's
    (`team`, a therapist) or the whole clinic's (`clinic`, admins and API clients)."""
    return "self" if principal.is_client else "team" if principal.is_therapist else "clinic"


def visible_client_ids(
    seen_by: str, who: uuid.UUID | ColumnElement[uuid.UUID], client_id_column: ClientIdColumn
) -> list[ColumnElement[bool]]:
    """The conditions of a `visibility` for the principal `who` (its id, or a bound parameter
    in a statement built once for every principal of that visibility)."""
    if seen_by == "self":
        return [client_id_column == who]
    if seen_by == "team":
        return [on_care_team(who, client_id_column)]
    return []


def client_ids_visible_to(
    principal: Principal, client_id_column: ClientIdColumn
) -> list[ColumnElement[bool]]:
    """Conditions that limit any client-owned table (by its client id column) to the principal.
    The table must also carry the clinic check; every client-owned row has a clinic id."""
    return visible_client_ids(visibility(principal), principal.id, client_id_column)


class ClientOwned(Protocol):
    """A table whose every row belongs to one client of one clinic."""

    id: ClassVar[InstrumentedAttribute[uuid.UUID]]
    clinic_id: ClassVar[InstrumentedAttribute[uuid.UUID]]
    client_id: ClassVar[InstrumentedAttribute[uuid.UUID]]


Owned = TypeVar("Owned", bound=ClientOwned)


class ClientOwnedRows(Generic[Owned]):
    """The statements of one client-owned table, scoped to the principal: what it may not see
    is not found (`not_found`, a 404), and what it reads is noted for the audit row."""

    def __init__(self, model: type[Owned], not_found: type[NotFound], message: str) -> None:
        self.model, self.not_found, self.message = model, not_found, message

    def visible(self, principal: Principal) -> Select[Owned]:
        return select(self.model).where(
            self.model.clinic_id == principal.clinic_id,
            *client_ids_visible_to(principal, self.model.client_id),
        )

    async def get(
        self,
        session: AsyncSession,
        principal: Principal,
        row_id: uuid.UUID,
        *,
        for_update: bool = False,
    ) -> Owned:
        stmt = self.visible(principal).where(self.model.id == row_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise self.not_found(self.message)
        audit.note(client_id=row.client_id)
        return row


def visible_clients(principal: Principal) -> Select[User]:
    return select(User).where(
        User.clinic_id == principal.clinic_id,
        User.role == Role.client,
        *client_ids_visible_to(principal, User.id),
    )


def matching_clients(
    principal: Principal,
    *,
    external_id: tuple[str, str] | None = None,
    status: UserStatus | None = None,
    name_part: str | None = None,
    updated_since: datetime | None = None,
) -> Select[User]:
    """The visible clients that match every filter given (None: no filter): an external id as
    (system, value), a status, part of the name (any case)."""
    stmt = visible_clients(principal)
    if external_id is not None:
        system, value = external_id
        stmt = stmt.where(
            exists().where(
                ClientExternalId.client_id == User.id,
                ClientExternalId.system == system,
                ClientExternalId.value == value,
            )
        )
    if status is not None:
        stmt = stmt.where(User.status == status)
    if name_part is not None:
        stmt = stmt.where(
            func.lower(User.display_name).contains(name_part.lower(), autoescape=True)
        )
    stmt = changed_since(stmt, User.updated_at, updated_since)
    return stmt


class ZonedClient(Protocol):
    """A client as the reads by local date need them: who, and in which time zone."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class Myself:
    """A signed-in client themself: the principal check has them active, in the clinic."""

    id: uuid.UUID
    timezone: str


# A client's own time zone, with the conditions of `visible_clients` for themself.
_MY_TIMEZONE = Prepared(
    select(User.timezone).where(
        User.id == bindparam("id", type_=User.id.type),
        User.clinic_id == bindparam("clinic_id", type_=User.clinic_id.type),
        User.role == Role.client,
    )
)


def my_zone_hint(principal: Principal, client_id: uuid.UUID) -> Myself | None:
    """A client naming themself, with the time zone the principal check read (up to
    PRINCIPAL_CACHE_SECONDS old): for a read whose own statement reads the zone along and
    checks it (the agenda's); None for anyone else."""
    if principal.is_client and client_id == principal.id and principal.timezone is not None:
        return Myself(client_id, principal.timezone)
    return None


async def get_visible_zoned_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> ZonedClient:
    """`get_visible_client` for a read that needs only the client's id and time zone: a client
    naming themself needs their time zone alone (one indexed lookup of two columns)."""
    if principal.is_client and client_id == principal.id:
        found = await _MY_TIMEZONE.fetch(session, id=client_id, clinic_id=principal.clinic_id)
        if not found:
            raise ClientNotFound("No such client.")
        audit.note(client_id=client_id)
        return Myself(client_id, found[0][0])
    return await get_visible_client(session, principal, client_id)


async def get_visible_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> User:
    client: User | None
    if principal.is_client and client_id == principal.id:
        # Themself: by primary key, with the conditions of visible_clients.
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
