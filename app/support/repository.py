"""Support statements: episodes scoped to the principal, the open one of a client, the rules."""

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.pagination import changed_since
from app.support.models import SupportEpisode, SupportRuleSet


def episodes_of(
    client_id: uuid.UUID, *, updated_since: datetime | None = None
) -> Select[SupportEpisode]:
    """A client's episodes (the client was found visible first)."""
    stmt = select(SupportEpisode).where(SupportEpisode.client_id == client_id)
    return changed_since(stmt, SupportEpisode.updated_at, updated_since)


async def open_episode(
    session: AsyncSession, client_id: uuid.UUID, *, for_update: bool = False
) -> SupportEpisode | None:
    """The client's open episode (acknowledged or not), through the partial unique index."""
    stmt = select(SupportEpisode).where(
        SupportEpisode.client_id == client_id, SupportEpisode.closed_at.is_(None)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def signal_on(
    client_id_column: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
) -> ColumnElement[bool]:
    """Join condition for the open, unacknowledged episode of the client in `client_id_column`
    (at most one row per client: the open-episode index is unique)."""
    return and_(
        SupportEpisode.client_id == client_id_column,
        SupportEpisode.closed_at.is_(None),
        SupportEpisode.acknowledged_at.is_(None),
    )


async def rule_sets(
    session: AsyncSession, clinic_ids: set[uuid.UUID], *, for_update: bool = False
) -> dict[uuid.UUID, SupportRuleSet]:
    if not clinic_ids:
        return {}
    stmt = select(SupportRuleSet).where(SupportRuleSet.clinic_id.in_(clinic_ids))
    if for_update:
        stmt = stmt.with_for_update()
    return {r.clinic_id: r for r in (await session.execute(stmt)).scalars()}
