"""What the report shows beyond the metrics: per-day and per-week details of the window, the
measures' bands and risk marks, the completions to discuss. The client was found visible first
(`get_visible_client`); every statement here is about that one client."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.models import User
from app.clinics.models import CareTeamMember, Clinic
from app.completions.models import Achievement, Completion, CompletionStatus
from app.goals.models import Goal, GoalStatus
from app.templates.definitions import ScoreBand, TemplateDefinition
from app.templates.models import Template, TemplateVersion


@dataclass
class DayPractice:
    """The done completions of one local day: minutes, and mood sums and counts."""

    minutes: int = 0
    mood_before_sum: int = 0
    mood_before_n: int = 0
    mood_after_sum: int = 0
    mood_after_n: int = 0


async def care_team(session: AsyncSession, client: User) -> tuple[Clinic, list[User]]:
    clinic = await session.get(Clinic, client.clinic_id)
    assert clinic is not None  # the client's clinic: a foreign key
    therapists = list(
        (
            await session.execute(
                select(User)
                .join(CareTeamMember, CareTeamMember.therapist_id == User.id)
                .where(CareTeamMember.client_id == client.id)
                .order_by(User.display_name, User.id)
            )
        ).scalars()
    )
    return clinic, therapists


async def practice_by_day(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> dict[date, DayPractice]:
    rows = await session.execute(
        select(
            Completion.occurrence_date,
            func.coalesce(func.sum(Completion.duration_minutes), 0),
            func.coalesce(func.sum(Completion.mood_before), 0),
            func.count(Completion.mood_before),
            func.coalesce(func.sum(Completion.mood_after), 0),
            func.count(Completion.mood_after),
        )
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.status == CompletionStatus.done,
        )
        .group_by(Completion.occurrence_date)
    )
    return {day: DayPractice(*(int(value or 0) for value in sums)) for day, *sums in rows}


async def skip_reasons_by_day(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> dict[date, list[str]]:
    rows = await session.execute(
        select(Completion.occurrence_date, Completion.skip_reason)
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.status == CompletionStatus.skipped,
            Completion.skip_reason.is_not(None),
        )
        .group_by(Completion.occurrence_date, Completion.skip_reason)
        .order_by(Completion.occurrence_date, Completion.skip_reason)
    )
    found: defaultdict[date, list[str]] = defaultdict(list)
    for day, reason in rows:
        found[day].append(str(reason))
    return dict(found)


_BANDS: dict[uuid.UUID, list[ScoreBand]] = {}


async def bands_of(
    session: AsyncSession, template_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ScoreBand]]:
    """The severity bands of each template's latest version (versions never change once
    published, so each is parsed once per process)."""
    if not template_ids:
        return {}
    rows = (
        await session.execute(
            select(TemplateVersion.id, TemplateVersion.template_id)
            .join(Template, Template.id == TemplateVersion.template_id)
            .where(Template.id.in_(template_ids), TemplateVersion.number == Template.version)
        )
    ).all()
    missing = [version_id for version_id, _ in rows if version_id not in _BANDS]
    if missing:
        for version_id, definition in await session.execute(
            select(TemplateVersion.id, TemplateVersion.definition).where(
                TemplateVersion.id.in_(missing)
            )
        ):
            scoring = TemplateDefinition.model_validate(definition).scoring
            _BANDS[version_id] = list(scoring.bands) if scoring else []
    return {template_id: _BANDS[version_id] for version_id, template_id in rows}


async def risk_flagged(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> list[tuple[uuid.UUID, date, int | None, list[str]]]:
    """(template, local date, total, flags) of the window's completions with a risk flag."""
    rows = await session.execute(
        select(
            Completion.template_id,
            Completion.occurrence_date,
            Completion.score_total,
            Completion.score,
        )
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.risk.is_(True),
        )
        .order_by(Completion.occurrence_date, Completion.completed_at, Completion.id)
    )
    return [
        (template_id, day, total, [str(f) for f in (score or {}).get("risk_flags", [])])
        for template_id, day, total, score in rows
    ]


async def to_discuss(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date, limit: int = 50
) -> list[tuple[Completion, str]]:
    rows = await session.execute(
        select(Completion, Assignment.title)
        .join(Assignment, Assignment.id == Completion.assignment_id)
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.wants_to_discuss.is_(True),
        )
        .order_by(Completion.occurrence_date, Completion.completed_at, Completion.id)
        .limit(limit)
    )
    return [(completion, title) for completion, title in rows.all()]


async def goals_of(session: AsyncSession, client_id: uuid.UUID) -> list[Goal]:
    return list(
        (
            await session.execute(
                select(Goal)
                .where(Goal.client_id == client_id, Goal.status != GoalStatus.abandoned)
                .order_by(Goal.created_at, Goal.id)
            )
        ).scalars()
    )


async def achievements_between(
    session: AsyncSession, client_id: uuid.UUID, start: datetime, end: datetime, limit: int = 30
) -> list[Achievement]:
    return list(
        (
            await session.execute(
                select(Achievement)
                .where(
                    Achievement.client_id == client_id,
                    Achievement.earned_at >= start,
                    Achievement.earned_at < end,
                )
                .order_by(Achievement.earned_at, Achievement.id)
                .limit(limit)
            )
        ).scalars()
    )
