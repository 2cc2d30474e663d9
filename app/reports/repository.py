"""What the report shows beyond the metrics: per-day and per-week details of the window, the
measures' bands and risk marks, the completions to discuss. The client was found visible first
(`get_visible_client`); every statement here is about that one client."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.models import User
from app.clinics.models import CareTeamMember, Clinic
from app.completions.models import Achievement, Completion, CompletionStatus
from app.goals.models import Goal, GoalStatus, GoalStep
from app.goals.service import steps_of
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


async def days_of(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> tuple[dict[date, DayPractice], dict[date, list[str]]]:
    """Per local day of the window: the done completions' minutes and mood sums and counts,
    and the reasons given for the day's skips; one statement, grouped by day and reason."""
    done = Completion.status == CompletionStatus.done
    reason = case(
        (Completion.status == CompletionStatus.skipped, Completion.skip_reason), else_=None
    )
    rows = await session.execute(
        select(
            Completion.occurrence_date,
            reason,
            func.coalesce(func.sum(case((done, Completion.duration_minutes))), 0),
            func.coalesce(func.sum(case((done, Completion.mood_before))), 0),
            func.count(case((done, Completion.mood_before))),
            func.coalesce(func.sum(case((done, Completion.mood_after))), 0),
            func.count(case((done, Completion.mood_after))),
            func.count(case((done, 1))),
        )
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.status.in_((CompletionStatus.done, CompletionStatus.skipped)),
        )
        .group_by(Completion.occurrence_date, reason)
        .order_by(Completion.occurrence_date, reason)
    )
    practice: dict[date, DayPractice] = {}
    reasons: defaultdict[date, list[str]] = defaultdict(list)
    for day, skip_reason, minutes, before, before_n, after, after_n, done_n in rows:
        if done_n:
            found = practice.setdefault(day, DayPractice())
            found.minutes += int(minutes or 0)
            found.mood_before_sum += int(before or 0)
            found.mood_before_n += int(before_n)
            found.mood_after_sum += int(after or 0)
            found.mood_after_n += int(after_n)
        if skip_reason is not None:
            reasons[day].append(str(skip_reason))
    return practice, dict(reasons)


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


@dataclass
class Discussed:
    id: uuid.UUID
    occurrence_date: date
    status: CompletionStatus
    reviewed: bool
    note: str | None
    title: str


async def to_discuss(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date, limit: int = 50
) -> list[Discussed]:
    rows = await session.execute(
        select(
            Completion.id,
            Completion.occurrence_date,
            Completion.status,
            Completion.reviewed_at.is_not(None),
            Completion.note,
            Assignment.title,
        )
        .join(Assignment, Assignment.id == Completion.assignment_id)
        .where(
            Completion.client_id == client_id,
            Completion.occurrence_date.between(start, end),
            Completion.wants_to_discuss.is_(True),
        )
        .order_by(Completion.occurrence_date, Completion.completed_at, Completion.id)
        .limit(limit)
    )
    return [Discussed(*row) for row in rows.all()]


async def goals_of(
    session: AsyncSession, client_id: uuid.UUID
) -> list[tuple[Goal, list[GoalStep]]]:
    """The client's goals (not the abandoned ones) with their steps: two statements. (Not the
    goals service's `goal_reads`, whose 30-day adherence of the linked assignments the report
    does not show and which cost three more.)"""
    goals = list(
        (
            await session.execute(
                select(Goal)
                .where(Goal.client_id == client_id, Goal.status != GoalStatus.abandoned)
                .order_by(Goal.created_at, Goal.id)
            )
        ).scalars()
    )
    steps = await steps_of(session, [g.id for g in goals])
    return [(goal, steps[goal.id]) for goal in goals]


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
