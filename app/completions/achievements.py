"""Achievements: awarded exactly once, whatever runs concurrently; and the ones a new completion
earns, which this module plans and awards (`prepare_awards`, then `CompletionAwards.grant`)."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.occurrences import Timeline
from app.completions.days import DayState, Scheduled, client_days, streaks
from app.completions.models import Achievement, AchievementType, Completion, CompletionStatus
from app.completions.repository import CompletionContext
from app.core.db import insert_unless_taken
from app.core.ids import new_id
from app.core.outbox import record_event
from app.core.time import utcnow
from app.templates.repository import definition_by_id


async def award(
    session: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    client_id: uuid.UUID,
    type_: AchievementType,
    key: str,
    title: str,
    refers_to: tuple[str, uuid.UUID] | None = None,
) -> Achievement | None:
    """Record the achievement unless the client has it; returns it when newly earned.

    The unique (client_id, key, clinic_id) constraint is the arbiter, in one statement: the
    insert does nothing when the row exists, and when a concurrent transaction has just
    inserted it, it waits for that one to end and then does nothing (or inserts, if that one
    rolled back)."""
    now, achievement_id = utcnow(), new_id()
    values = {
        "id": achievement_id,
        "clinic_id": clinic_id,
        "client_id": client_id,
        "type": type_,
        "key": key,
        "title": title,
        "refers_to_type": refers_to[0] if refers_to else None,
        "refers_to_id": refers_to[1] if refers_to else None,
        "earned_at": now,
        "created_at": now,
        "updated_at": now,
    }
    stmt = insert_unless_taken(
        session,
        Achievement,
        values,
        conflict_on=[Achievement.client_id, Achievement.key, Achievement.clinic_id],
    ).returning(Achievement.id)
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        return None
    record_event(
        session,
        "achievement.earned",
        resource_type="achievement",
        resource_id=achievement_id,
        clinic_id=clinic_id,
        client_id=client_id,
        payload={
            "id": str(achievement_id),
            "type": type_.value,
            "title": title,
            "key": key,
            "refers_to_type": values["refers_to_type"],
            "refers_to_id": str(values["refers_to_id"]) if values["refers_to_id"] else None,
            "earned_at": now.isoformat(),
        },
    )
    return Achievement(**values)


STREAKS = (3, 7, 14, 30, 100)
KIND_TITLES = {
    "cbt_worksheet": "First CBT worksheet done",
    "journal": "First journal entry",
    "mindfulness": "First mindfulness practice",
    "behavioral": "First activity logged",
    "measure": "First check-in measure",
}
# The achievements a completion can earn a second time round are never looked up: a measure's
# improvement is keyed by the completion itself.
_ONCE_PER_CLIENT = (AchievementType.first_completion, AchievementType.first_of_kind)


@dataclass
class _Held:
    """What the client already holds of the achievements a completion can bring (one query),
    so that the award step inserts only what is missing."""

    keys: set[str]

    def missing_streaks(self) -> list[int]:
        return [n for n in STREAKS if f"streak:{n}" not in self.keys]

    def streak_lookback(self, today: date) -> date | None:
        """The earliest day the streak check may look at, None when every threshold is held."""
        missing = self.missing_streaks()
        return _streak_start(today, missing[-1]) if missing else None


def _lookback_days(threshold: int) -> int:
    """Far enough back for the threshold, with room for neutral days between."""
    return threshold * 2 + 7


def _streak_start(today: date, threshold: int) -> date:
    return today - timedelta(days=_lookback_days(threshold))


# The achievement types whose keys the completion's context reads (`HELD_TYPES`).
HELD_TYPES = [*_ONCE_PER_CLIENT, AchievementType.streak]
# How far back a completion's context reaches: the lookback of a 14-day streak, from the
# earliest local today anywhere (a day behind UTC's). Most streaks break within it; a longer
# one in progress is counted over a longer window read apart (`_streaks`).
CONTEXT_DAYS = _lookback_days(14) + 2


@dataclass
class CompletionAwards:
    """The achievements a completion about to be recorded may earn, prepared before it is
    stored, and the timeline of its assignment.

    Both are prepared here together because they share their rows: a done completion may reach
    a streak, which needs the client's scheduled days; those days are the client's assignments
    with their timelines, this one's included, so it is loaded once for the occurrence lookup
    and the streak. A skip, or a client who holds every streak, needs only this assignment's
    timeline. Recording a completion uses `timeline` to find its occurrence, then `grant`."""

    today: date
    timeline: Timeline
    held: _Held | None  # None: nothing to award (a skip)
    scheduled: Scheduled | None  # covers the streak lookback, when a streak is still open

    async def grant(self, session: AsyncSession, completion: Completion) -> list[Achievement]:
        """Award what the stored completion earned (none for a skip); returns what is new."""
        if self.held is None or completion.status != CompletionStatus.done:
            return []
        if self.scheduled is not None and self.scheduled.done is not None:
            # The context's done days were read before this one was stored.
            self.scheduled.done.append(
                (completion.occurrence_date, completion.assignment_id, completion.occurrence_time)
            )
        return await _award_for_completion(
            session, completion, self.today, self.held, self.scheduled
        )


def prepare_awards(context: CompletionContext, today: date, *, done: bool) -> CompletionAwards:
    """What a completion in `context` (recorded on the client's local `today`) needs for its
    awards, and its assignment's timeline: the timelines of the context's assignments, the
    held achievements and the done days all came with the context."""
    timelines = context.timelines
    timeline = timelines[context.assignment.id]
    held = _Held(context.held) if done else None
    if held is None or held.streak_lookback(today) is None:
        return CompletionAwards(today, timeline, held, None)
    scheduled = Scheduled(
        context.assignments,
        timelines,
        done=list(context.done),
        done_from=context.start,
        done_to=context.end,
        none_done_before=context.done_before is None,
    )
    return CompletionAwards(today, timeline, held, scheduled)


async def _award_for_completion(
    session: AsyncSession,
    completion: Completion,
    today: date,
    held: _Held,
    scheduled: Scheduled | None,
) -> list[Achievement]:
    """The small wins a done completion can bring: first completion, first of its kind, a
    streak threshold, a measure moving down a severity band."""
    base = {"clinic_id": completion.clinic_id, "client_id": completion.client_id}
    ref = ("completion", completion.id)
    earned: list[Achievement | None] = []
    if "first_completion" not in held.keys:
        earned.append(
            await award(
                session,
                **base,
                type_=AchievementType.first_completion,
                key="first_completion",
                title="First homework done",
                refers_to=ref,
            )
        )
    kind_key = f"first_of_kind:{completion.template_kind}"
    if kind_key not in held.keys:
        earned.append(
            await award(
                session,
                **base,
                type_=AchievementType.first_of_kind,
                key=kind_key,
                title=KIND_TITLES.get(str(completion.template_kind), "First of its kind"),
                refers_to=ref,
            )
        )
    earned += await _streaks(session, completion, today, held, scheduled)
    earned.append(await _measure_improved(session, completion))
    return [a for a in earned if a is not None]


async def _streaks(
    session: AsyncSession,
    completion: Completion,
    today: date,
    held: _Held,
    scheduled: Scheduled | None,
) -> list[Achievement | None]:
    missing = held.missing_streaks()
    if not missing:
        return []
    # The current streak, counted back from today over windows that grow with the thresholds
    # (up to the largest one missing): most streaks break within days, and a window that
    # holds the break holds the whole streak. Each window adds only the days before the last
    # one (a day's state depends on that day alone).
    current = 0
    days: dict[date, DayState] = {}
    earliest = today + timedelta(days=1)  # the first day in `days`
    for threshold in (n for n in STREAKS if n <= missing[-1]):
        start = _streak_start(today, threshold)
        loaded = scheduled if scheduled is not None and scheduled.covers(start, today) else None
        if loaded is None and scheduled is not None and scheduled.none_done_before:
            break  # nothing done before the days loaded: the streak ends within them
        if start < earliest:
            end = earliest - timedelta(days=1)
            days.update(await client_days(session, completion.client_id, start, end, loaded))
            if loaded is None and start <= completion.occurrence_date <= end:
                # Read apart: the completion itself is not stored before the commit.
                days.setdefault(completion.occurrence_date, DayState()).count_done(
                    completion.assignment_id, completion.occurrence_time
                )
            earliest = start
        current, _, reached_start = streaks(days, start, today, today)
        if not reached_start:
            break
    return [
        await award(
            session,
            clinic_id=completion.clinic_id,
            client_id=completion.client_id,
            type_=AchievementType.streak,
            key=f"streak:{n}",
            title=f"{n}-day streak",
            refers_to=("completion", completion.id),
        )
        for n in missing
        if current >= n
    ]


async def _measure_improved(session: AsyncSession, completion: Completion) -> Achievement | None:
    if completion.score_band is None:
        return None
    previous = (
        await session.execute(
            select(Completion.score_band, Completion.template_version_id)
            .where(
                Completion.client_id == completion.client_id,
                Completion.template_id == completion.template_id,
                Completion.score_band.is_not(None),
                Completion.id != completion.id,
                Completion.completed_at < completion.completed_at,
            )
            .order_by(Completion.completed_at.desc())
            .limit(1)
        )
    ).first()
    if previous is None:
        return None
    definition = await definition_by_id(session, completion.template_version_id)
    bands = definition.scoring.bands if definition.scoring else []
    order = [b.code for b in bands]
    if previous.score_band not in order or completion.score_band not in order:
        return None
    if order.index(completion.score_band) >= order.index(previous.score_band):
        return None
    labels = {b.code: b.label for b in bands}
    return await award(
        session,
        clinic_id=completion.clinic_id,
        client_id=completion.client_id,
        type_=AchievementType.measure_improved,
        key=f"measure_improved:{completion.id}",
        title=f"{definition.title}: from {labels[previous.score_band]} to "
        f"{labels[completion.score_band]}",
        refers_to=("completion", completion.id),
    )
