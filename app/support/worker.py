"""The support worker: which clients to look at, and raising or clearing their signals.

Incremental. A client is queued (`support_check`) when the change feed shows a completion or
an assignment of theirs changed, read past a cursor per clinic the way webhook fan-out reads
it; after an
evaluation a client with active homework (or an open episode) is queued again for their next
local midnight, when yesterday's unanswered occurrences become missed. Each round evaluates only
the clients due, never every client.

Exactly once. The queue is claimed with `FOR UPDATE SKIP LOCKED` (SQLite serializes writers),
and the open episode is unique per client (a partial unique index): a second worker, a retried
round or a crash between insert and commit can never open, and so announce, one episode twice.
The evaluation adds nothing to the completion request: it only reads what the request wrote.
"""

import uuid
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import case, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assignments.models import Assignment, AssignmentStatus
from app.assignments.occurrences import load_timelines
from app.assignments.recurrence import zone_named
from app.assignments.repository import overlapping
from app.auth.models import User, UserStatus
from app.completions.adherence import AssignmentRef, answered_occurrences, key_of, outcome
from app.completions.models import Completion
from app.core.clinic_cursors import add_missing_cursors, claim_behind, unread
from app.core.outbox import Event
from app.core.time import utcnow
from app.core.transactions import writing
from app.support.models import ClearedBy, SupportCheck, SupportCursor, SupportEpisode
from app.support.repository import rule_sets
from app.support.rules import WEEK_DAYS, WINDOW_DAYS, Answer, History, Slot, suggest, tripped
from app.support.schemas import SupportReason
from app.support.service import announce, rules_of

# Events that can change what the rules see of a client.
_WATCHED = ("completion.", "assignment.")
CLINICS_PER_BATCH = 50
BATCHES_PER_ROUND = 20
EVENTS_PER_CLINIC = 1000
CLIENTS_PER_ROUND = 100
# After local midnight, so that the day just ended is over in every zone of the client's.
_AFTER_MIDNIGHT = timedelta(minutes=1)


async def evaluate_support(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch: int = CLIENTS_PER_ROUND,
) -> int:
    """One round: queue the clients the feed shows changed, then evaluate up to `batch` due
    ones. Returns how many were evaluated."""
    now = now or utcnow()
    await queue_changed_clients(sessionmaker, now)
    return await evaluate_due(sessionmaker, now, batch=batch)


async def queue_changed_clients(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> int:
    """Queue (due now) the clients of the events after each clinic's cursor. The cursors are
    claimed `FOR UPDATE SKIP LOCKED`, so workers read different clinics side by side, and every
    number up to a clinic's counter (as committed) belongs to a committed event, so none is
    passed over. A transaction per batch of clinics, until none is behind (or the round's share
    is done), as the webhook fan-out does."""
    async with writing(sessionmaker) as session:
        await add_missing_cursors(session, SupportCursor)
    queued = 0
    for _ in range(BATCHES_PER_ROUND):
        async with writing(sessionmaker) as session:
            cursors = await claim_behind(session, SupportCursor, CLINICS_PER_BATCH)
            if not cursors:
                break
            changed: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
            for cursor, last in cursors:
                rows = (
                    await session.execute(
                        select(Event.sequence, Event.type, Event.client_id)
                        .where(*unread(cursor, last))
                        .order_by(Event.sequence)
                        .limit(EVENTS_PER_CLINIC)
                    )
                ).all()
                for _, type_, client_id in rows:
                    if client_id is not None and type_.startswith(_WATCHED):
                        changed[(client_id, cursor.clinic_id)] = now
                full = len(rows) == EVENTS_PER_CLINIC
                cursor.last_sequence = rows[-1].sequence if full else last
            await queue(session, changed)
            queued += len(changed)
    return queued


async def queue(session: AsyncSession, due: dict[tuple[uuid.UUID, uuid.UUID], datetime]) -> None:
    """Queue each (client, clinic) for its instant, keeping an earlier one already queued."""
    if not due:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = [
        {"client_id": client_id, "clinic_id": clinic_id, "due_at": at}
        for (client_id, clinic_id), at in sorted(due.items(), key=lambda kv: kv[0])
    ]
    stmt = dialect.insert(SupportCheck).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SupportCheck.client_id, SupportCheck.clinic_id],
        set_={
            "due_at": case(
                (stmt.excluded.due_at < SupportCheck.due_at, stmt.excluded.due_at),
                else_=SupportCheck.due_at,
            )
        },
    )
    await session.execute(stmt)


async def evaluate_due(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, batch: int
) -> int:
    """Claim up to `batch` due clients, evaluate them, queue each again for its next local
    midnight (or drop it: nothing of it can change with time), all in one transaction."""
    async with writing(sessionmaker) as session:
        stmt = (
            select(SupportCheck)
            .where(SupportCheck.due_at <= now)
            .order_by(SupportCheck.due_at)
            .limit(batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        checks = list((await session.execute(stmt)).scalars())
        if not checks:
            return 0
        next_due = await evaluate_clients(session, [c.client_id for c in checks], now)
        for check in checks:
            when = next_due.get(check.client_id)
            if when is None:
                await session.delete(check)
            else:
                check.due_at = when
        return len(checks)


def _next_midnight(zones: set[str], now: datetime) -> datetime:
    """The first local midnight after `now` among these zones (DST-safe: a local midnight that
    does not exist lands on the instant the zone's clocks say it is past midnight)."""
    found = []
    for name in zones:
        zone = zone_named(name)
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        found.append(datetime.combine(tomorrow, time(), zone).astimezone(UTC))
    return min(found) + _AFTER_MIDNIGHT


async def evaluate_clients(
    session: AsyncSession, client_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, datetime | None]:
    """Raise, update or clear each client's signal as of `now`, in a fixed number of
    statements whatever the number of clients. Answers when each client is next due (None:
    not until something of theirs changes)."""
    clients = (
        await session.execute(
            select(User.id, User.clinic_id, User.timezone).where(
                User.id.in_(client_ids), User.status != UserStatus.deactivated
            )
        )
    ).all()
    if not clients:
        return {}
    ids = [c.id for c in clients]
    rules = await rule_sets(session, {c.clinic_id for c in clients})
    utc_today = now.astimezone(UTC).date()
    earliest = utc_today - timedelta(days=WINDOW_DAYS + 1)
    assignments = (
        await session.execute(
            select(
                Assignment.id,
                Assignment.ended_at,
                Assignment.schedule["timezone"].as_string().label("timezone"),
                Assignment.client_id,
                Assignment.status,
            ).where(
                Assignment.client_id.in_(ids),
                or_(
                    Assignment.status == AssignmentStatus.active,
                    overlapping(earliest, utc_today + timedelta(days=1)),
                ),
                or_(
                    Assignment.ended_at.is_(None),
                    Assignment.ended_at >= datetime.combine(earliest, time(), UTC),
                ),
            )
        )
    ).all()
    refs = [AssignmentRef(a.id, a.ended_at, a.timezone) for a in assignments]
    timelines = await load_timelines(session, refs)
    todays = {a.id: now.astimezone(zone_named(a.timezone)).date() for a in assignments}
    starts = {a: today - timedelta(days=WINDOW_DAYS - 1) for a, today in todays.items()}
    answered = await answered_occurrences(
        session,
        [a.id for a in assignments],
        min(starts.values(), default=utc_today),
        max(todays.values(), default=utc_today),
    )
    histories = {
        c.id: History(today=now.astimezone(zone_named(c.timezone)).date()) for c in clients
    }
    for a in assignments:
        today = todays[a.id]
        for occ in timelines[a.id].occurrences(starts[a.id], today):
            result = outcome(occ, answered.get(key_of(a.id, occ)), today)
            histories[a.client_id].slots.append(Slot(occ.due_at, occ.local_date, result, today))
    week_start = utc_today - timedelta(days=WEEK_DAYS + 1)
    for row in await session.execute(
        select(
            Completion.client_id,
            Completion.occurrence_date,
            Completion.status,
            Completion.skip_reason,
            Completion.discomfort,
            Completion.wants_to_discuss,
            Completion.mood_before,
        ).where(Completion.client_id.in_(ids), Completion.occurrence_date >= week_start)
    ):
        histories[row.client_id].answers.append(Answer(*row[1:]))
    # Locked in one order, so that evaluations of overlapping clients cannot deadlock.
    stmt = (
        select(SupportEpisode)
        .where(SupportEpisode.client_id.in_(ids), SupportEpisode.closed_at.is_(None))
        .order_by(SupportEpisode.client_id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    episodes = {e.client_id: e for e in (await session.execute(stmt)).scalars()}
    zones: dict[uuid.UUID, set[str]] = defaultdict(set)
    for a in assignments:
        if a.status == AssignmentStatus.active:
            zones[a.client_id].add(a.timezone)
    next_due: dict[uuid.UUID, datetime | None] = {}
    for c in clients:
        history = histories[c.id]
        reasons = tripped(history, rules_of(rules.get(c.clinic_id)))
        episode = episodes.get(c.id)
        await _apply(session, c.clinic_id, c.id, episode, history, reasons, now)
        still_open = bool(reasons)
        if zones[c.id] or still_open:
            next_due[c.id] = _next_midnight(zones[c.id] | {c.timezone}, now)
        else:
            next_due[c.id] = None
    return next_due


async def _apply(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    client_id: uuid.UUID,
    episode: SupportEpisode | None,
    history: History,
    reasons: list[SupportReason],
    now: datetime,
) -> None:
    if not reasons:
        if episode is not None:
            episode.closed_at = now
            if episode.acknowledged_at is None:  # acknowledging already announced the clearing
                episode.cleared_by = ClearedBy.recovered
                await session.flush()
                announce(session, episode, "client.support_cleared")
        return
    stored = [r.model_dump(mode="json") for r in reasons]
    suggestion = suggest(history, reasons).value
    if episode is not None:
        if episode.reasons != stored or episode.suggestion != suggestion:
            episode.reasons, episode.suggestion = stored, suggestion
        return
    episode = SupportEpisode(
        clinic_id=clinic_id,
        client_id=client_id,
        opened_at=now,
        reasons=stored,
        suggestion=suggestion,
    )
    try:
        async with session.begin_nested():
            session.add(episode)
    except IntegrityError:
        return  # another evaluation opened (and announced) this episode first
    announce(session, episode, "client.needs_support")
