"""Awarding achievements exactly once, whatever runs concurrently."""

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.completions.days import client_days, streaks
from app.completions.models import Achievement, AchievementType, Completion, CompletionStatus
from app.core.outbox import record_event
from app.templates.models import TemplateVersion
from app.templates.repository import definition_of


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

    The unique (client_id, key) constraint is the arbiter: a concurrent request that earned
    it first makes this insert fail inside a savepoint, and nothing else is disturbed."""
    exists = await session.scalar(
        select(Achievement.id).where(Achievement.client_id == client_id, Achievement.key == key)
    )
    if exists is not None:
        return None
    achievement = Achievement(
        clinic_id=clinic_id,
        client_id=client_id,
        type=type_,
        key=key,
        title=title,
        refers_to_type=refers_to[0] if refers_to else None,
        refers_to_id=refers_to[1] if refers_to else None,
    )
    try:
        async with session.begin_nested():
            session.add(achievement)
    except IntegrityError:
        return None
    record_event(
        session,
        "achievement.earned",
        resource_type="achievement",
        resource_id=achievement.id,
        clinic_id=clinic_id,
        client_id=client_id,
        payload={
            "id": str(achievement.id),
            "type": type_.value,
            "title": title,
            "key": key,
            "refers_to_type": achievement.refers_to_type,
            "refers_to_id": str(achievement.refers_to_id) if achievement.refers_to_id else None,
            "earned_at": achievement.earned_at.isoformat(),
        },
    )
    return achievement


STREAKS = (3, 7, 14, 30, 100)
KIND_TITLES = {
    "cbt_worksheet": "First CBT worksheet done",
    "journal": "First journal entry",
    "mindfulness": "First mindfulness practice",
    "behavioral": "First activity logged",
    "measure": "First check-in measure",
}


async def award_for_completion(
    session: AsyncSession, completion: Completion, today: date
) -> list[Achievement]:
    """The small wins a done completion can bring: first completion, first of its kind, a
    streak threshold, a measure moving down a severity band."""
    if completion.status != CompletionStatus.done:
        return []
    base = {"clinic_id": completion.clinic_id, "client_id": completion.client_id}
    ref = ("completion", completion.id)
    earned = [
        await award(
            session,
            **base,
            type_=AchievementType.first_completion,
            key="first_completion",
            title="First homework done",
            refers_to=ref,
        ),
        await award(
            session,
            **base,
            type_=AchievementType.first_of_kind,
            key=f"first_of_kind:{completion.template_kind}",
            title=KIND_TITLES.get(str(completion.template_kind), "First of its kind"),
            refers_to=ref,
        ),
    ]
    earned += await _streaks(session, completion, today)
    earned.append(await _measure_improved(session, completion))
    return [a for a in earned if a is not None]


async def _streaks(
    session: AsyncSession, completion: Completion, today: date
) -> list[Achievement | None]:
    have = set(
        (
            await session.execute(
                select(Achievement.key).where(
                    Achievement.client_id == completion.client_id,
                    Achievement.type == AchievementType.streak,
                )
            )
        ).scalars()
    )
    missing = [n for n in STREAKS if f"streak:{n}" not in have]
    if not missing:
        return []
    # Look back far enough for the next threshold, with room for neutral days between.
    start = today - timedelta(days=missing[0] * 2 + 7)
    days = await client_days(session, completion.client_id, start, today)
    current, _, reached_start = streaks(days, start, today, today)
    if reached_start and current < missing[-1]:
        start = today - timedelta(days=missing[-1] * 2 + 7)
        days = await client_days(session, completion.client_id, start, today)
        current, _, _ = streaks(days, start, today, today)
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
    version = await session.get(TemplateVersion, completion.template_version_id)
    assert version is not None
    definition = definition_of(version)
    order = [b.code for b in definition.scoring.bands] if definition.scoring else []
    if previous.score_band not in order or completion.score_band not in order:
        return None
    if order.index(completion.score_band) >= order.index(previous.score_band):
        return None
    labels = {b.code: b.label for b in definition.scoring.bands}  # type: ignore[union-attr]
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
