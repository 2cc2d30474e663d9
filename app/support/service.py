"""Support signals for the care team: the episodes, acknowledging one, each clinic's rules."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core.errors import Conflict
from app.core.etag import check_if_match
from app.core.outbox import record_event
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import utcnow
from app.support.models import ClearedBy, SupportEpisode, SupportRuleSet
from app.support.repository import episodes_of, open_episode, rule_sets
from app.support.schemas import (
    SUGGESTION_TEXT,
    EpisodeStatus,
    Suggestion,
    SupportEpisodeRead,
    SupportReason,
    SupportRulesFields,
    SupportRulesRead,
    SupportRulesUpdate,
    SupportSignal,
)

DEFAULT_RULES = SupportRulesFields()
_RULE_FIELDS = tuple(SupportRulesFields.model_fields)


class NothingToAcknowledge(Conflict):
    slug = "no-support-signal"


def episode_read(episode: SupportEpisode) -> SupportEpisodeRead:
    if episode.closed_at is not None:
        status = EpisodeStatus.closed
    elif episode.acknowledged_at is not None:
        status = EpisodeStatus.acknowledged
    else:
        status = EpisodeStatus.open
    suggestion = Suggestion(episode.suggestion)
    return SupportEpisodeRead(
        id=episode.id,
        clinic_id=episode.clinic_id,
        client_id=episode.client_id,
        status=status,
        opened_at=episode.opened_at,
        reasons=[SupportReason.model_validate(r) for r in episode.reasons],
        suggestion=suggestion,
        suggestion_text=SUGGESTION_TEXT[suggestion],
        acknowledged_at=episode.acknowledged_at,
        acknowledged_by_id=episode.acknowledged_by_id,
        closed_at=episode.closed_at,
        cleared_by=episode.cleared_by,
        created_at=episode.created_at,
        updated_at=episode.updated_at,
        version=episode.version,
    )


def signal_of(
    episode_id: uuid.UUID, opened_at: object, reasons: list[dict[str, object]], suggestion: str
) -> SupportSignal:
    """The caseload's view of an open, unacknowledged episode (columns of a joined row)."""
    chosen = Suggestion(suggestion)
    return SupportSignal.model_validate(
        {
            "episode_id": episode_id,
            "since": opened_at,
            "reasons": reasons,
            "suggestion": chosen,
            "suggestion_text": SUGGESTION_TEXT[chosen],
        }
    )


def announce(session: AsyncSession, episode: SupportEpisode, type_: str) -> SupportEpisodeRead:
    """Queue `client.needs_support` or `client.support_cleared` with the episode as payload."""
    read = episode_read(episode)
    record_event(
        session,
        type_,
        resource_type="support_episode",
        resource_id=episode.id,
        clinic_id=episode.clinic_id,
        client_id=episode.client_id,
        payload=read.model_dump(mode="json"),
    )
    return read


async def list_episodes(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, params: ListParams
) -> Page[SupportEpisodeRead]:
    """A client's episodes, newest first (404 for a client the caller may not see)."""
    client = await get_visible_client(session, principal, client_id)
    rows, cursor = await paginate_rows(
        session,
        episodes_of(client.id, updated_since=params.updated_since),
        params,
        [SortKey(SupportEpisode.id, descending=True)],
    )
    return Page(items=[episode_read(e) for e in rows], next_cursor=cursor)


async def acknowledge(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> SupportEpisodeRead:
    """The care team has seen the signal: it leaves the caseload, and `client.support_cleared`
    says so. The episode stays open until the rules stop tripping, so the same struggle is not
    announced again. Acknowledging an acknowledged episode answers it unchanged."""
    client = await get_visible_client(session, principal, client_id)
    # Locked: the worker closing it on recovery at the same moment announces it only once.
    episode = await open_episode(session, client.id, for_update=True)
    if episode is None:
        raise NothingToAcknowledge("This client has no open support signal.")
    if episode.acknowledged_at is not None:
        return episode_read(episode)
    episode.acknowledged_at = utcnow()
    episode.acknowledged_by_id = principal.id
    episode.cleared_by = ClearedBy.acknowledged
    await session.flush()
    return announce(session, episode, "client.support_cleared")


def _rules_read(clinic_id: uuid.UUID, row: SupportRuleSet | None) -> SupportRulesRead:
    if row is None:
        return SupportRulesRead(
            clinic_id=clinic_id,
            customized=False,
            updated_at=None,
            version=0,
            **DEFAULT_RULES.model_dump(),
        )
    return SupportRulesRead(
        clinic_id=clinic_id,
        customized=True,
        updated_at=row.updated_at,
        version=row.version,
        **{name: getattr(row, name) for name in _RULE_FIELDS},
    )


def rules_of(row: SupportRuleSet | None) -> SupportRulesFields:
    if row is None:
        return DEFAULT_RULES
    return SupportRulesFields.model_validate({name: getattr(row, name) for name in _RULE_FIELDS})


async def get_rules(session: AsyncSession, principal: Principal) -> SupportRulesRead:
    found = await rule_sets(session, {principal.clinic_id})
    return _rules_read(principal.clinic_id, found.get(principal.clinic_id))


async def update_rules(
    session: AsyncSession, principal: Principal, body: SupportRulesUpdate, if_match: str | None
) -> SupportRulesRead:
    """Change the fields sent; the first change stores the clinic's own copy of the defaults."""
    clinic_id = principal.clinic_id
    row = (await rule_sets(session, {clinic_id}, for_update=True)).get(clinic_id)
    check_if_match(if_match, row.version if row is not None else 0)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if row is None:
        fresh = SupportRuleSet(
            clinic_id=clinic_id, **(DEFAULT_RULES.model_dump(mode="json") | changes)
        )
        try:
            async with session.begin_nested():
                session.add(fresh)
            return _rules_read(clinic_id, fresh)
        except IntegrityError:  # another admin stored the clinic's copy first: change theirs
            row = (await rule_sets(session, {clinic_id}, for_update=True))[clinic_id]
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    return _rules_read(clinic_id, row)
