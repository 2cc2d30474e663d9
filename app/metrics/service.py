"""A client's metrics: schedule expansion of the window only, everything else SQL aggregates."""

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.repository import overlapping
from app.clinics.repository import ZonedClient
from app.completions.adherence import Counts, answered_occurrences, key_of, outcome
from app.completions.days import client_days, streaks
from app.completions.models import Completion, CompletionStatus
from app.core.time import local_day
from app.goals.models import Goal, GoalStatus, GoalStep
from app.metrics.schemas import (
    Adherence,
    AssignmentAdherence,
    ClientMetrics,
    Discomfort,
    GoalSummary,
    Granularity,
    KindAdherence,
    MeasurePoint,
    MeasureSeries,
    Mood,
    Period,
    Streaks,
    counts_fields,
)
from app.templates.definitions import TemplateKind
from app.templates.models import Template

STREAK_RULE = (
    "A local day counts when every timed occurrence that day was done, or, on a day with only "
    "untimed work, when at least one completion was done. A scheduled day that ended without "
    "counting breaks the streak; unscheduled days count only when something was done; today "
    "never breaks it. Skips are not done."
)
STREAK_LOOKBACK_DAYS = 120


def periods(start: date, end: date, granularity: Granularity) -> list[tuple[date, date]]:
    step = 1 if granularity == Granularity.day else 7
    found = []
    day = start
    while day <= end:
        found.append((day, min(end, day + timedelta(days=step - 1))))
        day += timedelta(days=step)
    return found


async def _adherence(
    session: AsyncSession,
    client: ZonedClient,
    start: date,
    end: date,
    today: date,
    buckets: list[tuple[date, date]],
) -> tuple[Adherence, list[Counts], dict[date, Counts]]:
    last = min(end, today)
    assignments = list(
        (
            await session.execute(
                select(Assignment)
                .where(Assignment.client_id == client.id, overlapping(start, last))
                .order_by(Assignment.id)
            )
        ).scalars()
    )
    timelines = await load_timelines(session, assignments)
    answered = await answered_occurrences(session, [a.id for a in assignments], start, last)
    total = Counts()
    by_kind: defaultdict[TemplateKind, Counts] = defaultdict(Counts)
    per_assignment = {a.id: Counts() for a in assignments}
    per_period = [Counts() for _ in buckets]
    per_day: defaultdict[date, Counts] = defaultdict(Counts)
    for a in assignments:
        for occ in timelines[a.id].occurrences(start, last) if start <= last else []:
            result = outcome(occ, answered.get(key_of(a.id, occ)), today)
            for counts in (total, by_kind[a.template_kind], per_assignment[a.id]):
                counts.add(result)
            index = next(i for i, (s, e) in enumerate(buckets) if s <= occ.local_date <= e)
            per_period[index].add(result)
            per_day[occ.local_date].add(result)
    adherence = Adherence(
        **counts_fields(total),
        by_assignment=[
            AssignmentAdherence(
                assignment_id=a.id,
                title=a.title,
                template_kind=a.template_kind,
                **counts_fields(per_assignment[a.id]),
            )
            for a in assignments
            if per_assignment[a.id].scheduled or per_assignment[a.id].pending
        ],
        by_kind=[
            KindAdherence(template_kind=k, **counts_fields(c)) for k, c in sorted(by_kind.items())
        ],
    )
    return adherence, per_period, dict(per_day)


async def _completion_aggregates(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> tuple[Mood, float | None, int, dict[str, int], dict[date, tuple[float | None, float | None]]]:
    in_window = (Completion.client_id == client_id, Completion.occurrence_date.between(start, end))
    done = Completion.status == CompletionStatus.done
    both = Completion.mood_before.is_not(None) & Completion.mood_after.is_not(None)
    change = case((both, Completion.mood_after - Completion.mood_before))
    row = (
        await session.execute(
            select(
                func.avg(case((done, Completion.mood_before))),
                func.avg(case((done, Completion.mood_after))),
                func.avg(case((done, change))),
                func.count(case((done & both, 1))),
                func.avg(case((done, Completion.discomfort))),
                func.coalesce(func.sum(case((done, Completion.duration_minutes))), 0),
            ).where(*in_window)
        )
    ).one()
    mood = Mood(
        average_before=_round(row[0]),
        average_after=_round(row[1]),
        average_change=_round(row[2]),
        completions_with_both=row[3],
    )
    skips = dict(
        (
            await session.execute(
                select(Completion.skip_reason, func.count())
                .where(*in_window, Completion.status == CompletionStatus.skipped)
                .group_by(Completion.skip_reason)
            )
        ).all()
    )
    per_day = {
        day: (_round(mc), _round(d))
        for day, mc, d in (
            await session.execute(
                select(
                    Completion.occurrence_date, func.avg(change), func.avg(Completion.discomfort)
                )
                .where(*in_window, done)
                .group_by(Completion.occurrence_date)
            )
        ).all()
    }
    reasons = {str(reason): count for reason, count in skips.items() if reason is not None}
    return mood, _round(row[4]), int(row[5]), reasons, per_day


def _round(value: float | Decimal | None) -> float | None:
    return None if value is None else round(float(value), 2)


async def _measures(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> list[MeasureSeries]:
    rows = (
        await session.execute(
            select(
                Completion.template_id,
                Template.title,
                Completion.occurrence_date,
                Completion.score_total,
                Completion.score_band,
            )
            .join(Template, Template.id == Completion.template_id)
            .where(
                Completion.client_id == client_id,
                Completion.occurrence_date.between(start, end),
                Completion.score_total.is_not(None),
            )
            .order_by(Completion.template_id, Completion.completed_at)
        )
    ).all()
    series: dict[uuid.UUID, MeasureSeries] = {}
    for template_id, title, day, total, band in rows:
        entry = series.setdefault(
            template_id, MeasureSeries(template_id=template_id, title=title, series=[], change=None)
        )
        entry.series.append(MeasurePoint(date=day, total=total, band=band))
    for entry in series.values():
        entry.change = (
            entry.series[-1].total - entry.series[0].total if len(entry.series) > 1 else None
        )
    return list(series.values())


async def _goals(session: AsyncSession, client_id: uuid.UUID) -> GoalSummary:
    statuses = dict(
        (
            await session.execute(
                select(Goal.status, func.count())
                .where(Goal.client_id == client_id)
                .group_by(Goal.status)
            )
        ).all()
    )
    per_goal = (
        await session.execute(
            select(func.sum(case((GoalStep.done, 1), else_=0)), func.count())
            .select_from(GoalStep)
            .join(Goal, Goal.id == GoalStep.goal_id)
            .where(Goal.client_id == client_id, Goal.status != GoalStatus.abandoned)
            .group_by(Goal.id)
        )
    ).all()
    progress = round(sum(d / n for d, n in per_goal) / len(per_goal), 4) if per_goal else None
    return GoalSummary(
        active=statuses.get(GoalStatus.active, 0),
        achieved=statuses.get(GoalStatus.achieved, 0),
        abandoned=statuses.get(GoalStatus.abandoned, 0),
        average_step_progress=progress,
    )


async def client_metrics(
    session: AsyncSession,
    client: ZonedClient,
    start: date,
    end: date,
    granularity: Granularity,
    now: datetime,
) -> ClientMetrics:
    metrics, _ = await client_metrics_by_day(session, client, start, end, granularity, now)
    return metrics


async def client_metrics_by_day(
    session: AsyncSession,
    client: ZonedClient,
    start: date,
    end: date,
    granularity: Granularity,
    now: datetime,
) -> tuple[ClientMetrics, dict[date, Counts]]:
    """The client's metrics, and the adherence counts of each local day of the window that
    had something scheduled (from the same expansion of the schedules; the progress report's
    calendar)."""
    today = local_day(now, client.timezone)
    buckets = periods(start, end, granularity)
    adherence, per_period, day_counts = await _adherence(
        session, client, start, end, today, buckets
    )
    mood, discomfort_avg, minutes, skips, per_day = await _completion_aggregates(
        session, client.id, start, end
    )
    lookback = min(start, today - timedelta(days=STREAK_LOOKBACK_DAYS))
    # Both streaks end by today, so no later day is read: expanding schedules up to a far
    # future `to` (say 6155-03-05) took half a minute of CPU.
    days = await client_days(session, client.id, lookback, today)
    current, _, _ = streaks(days, lookback, today, today)
    _, longest, _ = streaks(days, start, min(end, today), today)
    series = []
    for (s, e), counts in zip(buckets, per_period, strict=True):
        in_bucket = [v for d, v in per_day.items() if s <= d <= e]
        changes = [mc for mc, _ in in_bucket if mc is not None]
        discomforts = [d for _, d in in_bucket if d is not None]
        series.append(
            Period(
                period_start=s,
                period_end=e,
                scheduled=counts.scheduled,
                completed=counts.completed,
                rate=counts.rate,
                mood_change=_round(sum(changes) / len(changes)) if changes else None,
                discomfort=_round(sum(discomforts) / len(discomforts)) if discomforts else None,
            )
        )
    with_discomfort = [p.discomfort for p in series if p.discomfort is not None]
    change = _round(with_discomfort[-1] - with_discomfort[0]) if len(with_discomfort) > 1 else None
    trend = (
        None if change is None else "falling" if change < -1 else "rising" if change > 1 else "flat"
    )
    metrics = ClientMetrics(
        client_id=client.id,
        timezone=client.timezone,
        from_date=start,
        to_date=end,
        granularity=granularity,
        adherence=adherence,
        streaks=Streaks(current=current, longest=longest, rule=STREAK_RULE),
        mood=mood,
        discomfort=Discomfort(average=discomfort_avg, change=change, trend=trend),
        minutes_practised=minutes,
        skip_reasons=skips,
        measures=await _measures(session, client.id, start, end),
        goals=await _goals(session, client.id),
        series=series,
    )
    return metrics, day_counts
